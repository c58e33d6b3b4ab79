# The README's test command is `make test`.
GO ?= go
# Build and test with the current toolchain (go.mod keeps the oldest supported).
export GOTOOLCHAIN ?= go1.27.3

.PHONY: test deps vet unit bench fuzz demo

test: deps vet unit

deps:
	./scripts/deps.sh

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

demo:
	$(GO) run ./cmd/gosspi demo
