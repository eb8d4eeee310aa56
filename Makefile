# Hopper — run the stack, run the tests.
#   make run    RabbitMQ + Postgres (scripts/deps.sh), migrate, run gateway + 3 workers until Ctrl-C
#   make test   every test, unit and integration, against the real RabbitMQ and Postgres, then each fuzz target for 20,000 inputs;
#               its fault suite, last, restarts the local RabbitMQ and Postgres (root or sudo)
#   make fuzz   only the fuzz targets (FUZZTIME=20000x inputs each)
#   make docker build the four service images; make k8s-validate check deployments/k8s
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin
PKGS  := ./pkg/... ./services/gateway/... ./services/chat-worker/... ./services/document-worker/... ./services/maintenance-worker/... ./services/push-worker/... ./tools/... ./examples/leaderboard/...
SERVICES := gateway chat-worker document-worker maintenance-worker push-worker

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build deps bench run test test-fault test-unit fuzz lint fmt vet clean docker k8s-validate

all: build

build:
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do $(GO) build -o $(BIN)/$$s ./services/$$s || exit 1; done
	@$(GO) build -o $(BIN)/hopper-dev ./tools/cmd/hopper-dev
	@$(GO) build -o $(BIN)/hopperctl ./tools/cmd/hopperctl
	@$(GO) build -o $(BIN)/hopper-bench ./tools/cmd/hopper-bench
	@echo "built: $(addprefix bin/,$(SERVICES)) bin/hopper-dev bin/hopperctl bin/hopper-bench"

deps:
	@scripts/deps.sh

# Benchmarks against ceilings measured in the same run (docs/PERFORMANCE.md).
bench: deps build
	$(BIN)/hopper-bench -bin $(BIN) -out bench.json

run: deps build
	@$(BIN)/hopper-dev -bin $(BIN)

lint: vet
	@out="$$(gofmt -l pkg services tools examples)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# Container images, built from the repository root (needs a Docker engine).
docker:
	@for s in $(SERVICES); do \
	  docker build -f services/$$s/Dockerfile --build-arg VERSION=$(VERSION) \
	    --label org.opencontainers.image.version=$(VERSION) -t hopper/$$s:$(VERSION) . || exit 1; \
	done

# Render every kustomize overlay and example and check them strictly (tools/deploycheck).
k8s-validate:
	$(GO) run ./tools/cmd/k8s-validate -root deployments/k8s

test: deps lint k8s-validate
	@scripts/browser.sh
	@scripts/sdk.sh
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory test-fault

# Every fuzz target (package:function; docs/SECURITY.md), each for
# FUZZTIME: go test fuzzes one target per package per run. Seeds and past
# finds (testdata/fuzz) also run in every plain go test. Interesting inputs
# are not minimized (-fuzzminimizetime 0s): minimizing would spend a short
# run's whole time on them.
FUZZ_TARGETS := \
	./pkg/extract:FuzzDOCX ./pkg/extract:FuzzHTML ./pkg/extract:FuzzMarkdown \
	./pkg/schedule:FuzzParse ./pkg/jobs:FuzzParseWebhookURL ./pkg/jobs:FuzzForEach ./pkg/webhook:FuzzCheckURL \
	./services/gateway/internal/api:FuzzUpload
# A count, not a duration: with a duration, the fuzzer's own deadline can
# end a run that found nothing as "context deadline exceeded" (seen in a
# CI run of FuzzMarkdown), a failure of the tool, not of the code. 20,000
# inputs take 1-5 s per target here.
FUZZTIME ?= 20000x

fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz $$fn in $$pkg for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 0s $$pkg || exit 1; \
	done

# The fault suite restarts the shared RabbitMQ and Postgres, so it runs
# alone, after everything else; -v prints its figures. Not root, it uses
# sudo -n: `sudo -v` asks for the password here, if sudo wants one.
test-fault:
	@if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo -v || { echo "test-fault: restarts RabbitMQ and PostgreSQL, so it needs root or sudo" >&2; exit 1; }; fi
	$(GO) test -count=1 -tags fault -run '^TestFault' -timeout 20m -v ./tools/e2e

test-unit:
	$(GO) test -count=1 -short $(PKGS)

clean:
	rm -rf $(BIN)
