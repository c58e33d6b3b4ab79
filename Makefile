# The README's test command is `make test`.
GO ?= go
# Build and test with the current toolchain (go.mod keeps the oldest supported).
export GOTOOLCHAIN ?= go1.27.3

.PHONY: test deps vet lint unit test386 bench fuzz demo

test: deps vet lint unit test386

deps:
	./scripts/deps.sh

vet:
	$(GO) vet ./...

# staticcheck with staticcheck.conf; installed into the Go bin directory
# from the module proxy when missing.
STATICCHECK_VERSION = v0.8.2
STATICCHECK = $(shell $(GO) env GOPATH)/bin/staticcheck

lint:
	@[ -x "$(STATICCHECK)" ] && "$(STATICCHECK)" -version | grep -q '($(STATICCHECK_VERSION:v%=%))' || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	"$(STATICCHECK)" ./...

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

# The wire parsers' tests and fuzz seed corpora on a 32-bit platform, where
# int is 32 bits and an offset+length sum can wrap (386 binaries run on
# amd64 Linux; -race needs 64 bits). The peer tests run there too.
WIRE_PKGS = ./ntlm ./internal/ntlmssp ./negotiate ./internal/spnego ./ntlmauth ./internal/gss ./internal/ctxdata ./sspi ./sspi/secpkg ./kerberos ./httpauth ./netlogon ./internal/dcerpc ./internal/ndr ./sshauth ./sasl ./sasl/ldapsasl ./internal/lsarpc

test386:
	GOARCH=386 $(GO) test -count=1 -timeout 30m $(WIRE_PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

demo:
	$(GO) run ./cmd/gosspi demo
