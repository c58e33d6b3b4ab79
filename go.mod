module github.com/gosspi/gosspi

go 1.26.8

require (
	github.com/Azure/go-ntlmssp v0.1.1 // indirect
	github.com/jcmturner/gokrb5/v8 v8.4.4 // indirect
	golang.org/x/crypto v0.58.0 // indirect
)
