# Tern — make help lists the targets.
SHELL   := /bin/bash
GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/ternmail/tern/core/internal/app.Version=$(VERSION)
PLUGINS := $(notdir $(wildcard plugins/imap plugins/postfix plugins/cyrus plugins/gmail plugins/office365 plugins/exchange))

.PHONY: help build run test test-short bench gen check-gen check fmt vet deps servers servers-stop clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build tern and the connector plugins into bin/
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/tern ./core/cmd/tern
	@for p in $(PLUGINS); do echo "$(GO) build -o $(BIN)/tern-connector-$$p ./plugins/$$p"; $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/tern-connector-$$p ./plugins/$$p || exit 1; done

run: build ## run the daemon on embedded defaults (http://127.0.0.1:8080, state in var/state)
	$(BIN)/tern serve --plugins $(BIN)

deps: ## install what the tests need (Dovecot, Cyrus, Postfix, Chromium, isync, protoc)
	scripts/install-deps.sh

servers: deps ## start the test mail servers on loopback ports
	scripts/test-servers.sh start

servers-stop: ## stop the test mail servers
	scripts/test-servers.sh stop

test: deps servers check build ## run every test, real servers included
	$(GO) test -count=1 -shuffle=on -timeout 30m ./...
	cd sdk && $(GO) test -shuffle=on -timeout 10m ./...
	$(GO) test -race -timeout 20m ./core/internal/engine/ ./core/internal/store/ ./core/internal/pluginhost/
	cd sdk && $(GO) test -race -timeout 10m ./...

test-short: ## run the tests that need no server
	$(GO) test -short ./...
	cd sdk && $(GO) test -short ./...

bench: deps servers build ## Tern against mbsync on a generated corpus between two local Dovecots
	scripts/bench.sh

gen: ## regenerate the protocol's Go code
	scripts/gen-proto.sh

check-gen: gen ## fail if generated code is not current
	@git diff --exit-code -- sdk/internal/proto || { echo "generated code is stale: run make gen and commit"; exit 1; }

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

vet: ## go vet both modules
	$(GO) vet ./...
	cd sdk && $(GO) vet ./...

check: vet check-gen ## gofmt, vet, dependency rules, generated code
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	scripts/check-deps.sh

clean: ## remove build output and local state
	rm -rf $(BIN) var
