# meshguard — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# Separate Go modules whose heavy dependencies stay out of the webhook's go.mod.
TEST_MODULES := $(wildcard test/istio test/e2e test/chart test/alerts hack/dashboard)
# Every separate module lint vets (the test modules are added to below).
ALL_MODULES = $(TEST_MODULES) bench internal/harness
FUZZTIME ?= 20s

.PHONY: all build test prepare deps tools unit lint test-modules fuzz-short fuzz demo dashboard clean

all: build test

## build: the static webhook binary in bin/, and bin/kubectl-meshguard linked to it (the kubectl plugin)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/webhook ./cmd/webhook
	ln -sf webhook bin/kubectl-meshguard

## test: everything CI runs — lint, unit tests, real nginx, Istio validation, e2e on a real API server, short fuzzing, benchmarks once
test: prepare
	$(MAKE) --no-print-directory unit test-modules fuzz-short bench-smoke

# prepare runs the three independent preparations side by side: on a cold
# machine the downloads (Debian's nginx, every module's dependencies) wait on
# the network while the tool builds and lint's compiles keep both cores busy.
# Each keeps its own output together (--output-sync) and each still works alone.
prepare:
	$(MAKE) --no-print-directory -j3 --output-sync=target deps tools lint

## deps: Debian's nginx and every module's dependencies, downloaded in parallel (no compiles)
deps:
	bash hack/install-test-deps.sh
	@pids=; for m in . $(ALL_MODULES); do (cd $$m && $(GO) mod download) & pids="$$pids $$!"; done; \
	for p in $$pids; do wait $$p || exit 1; done

## lint: gofmt and go vet over every module
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@for m in $(ALL_MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done
	CGO_ENABLED=0 $(GO) build -trimpath -o /dev/null ./cmd/webhook

## tools: kube-apiserver, etcd and helm built from the Go module proxy into the cache (cold ≈ 10-15 min)
tools:
	bash hack/tools/build.sh >/dev/null

## unit: the webhook module's tests (Debian's nginx for the nginx checks, envtest for certs/)
unit: tools
	bash hack/install-test-deps.sh
	eval "$$(bash hack/tools/build.sh)"; export KUBEBUILDER_ASSETS HELM; $(GO) test -count=1 ./...

## test-modules: the separate test modules (Istio's own validation, the e2e suite)
test-modules: tools
	@eval "$$(bash hack/tools/build.sh)"; export KUBEBUILDER_ASSETS HELM; \
	for m in $(TEST_MODULES); do echo "== $$m"; (cd $$m && $(GO) test -count=1 -timeout 60m ./...) || exit 1; done

# fuzz_each runs every fuzz target of the webhook module for $(1) each.
define fuzz_each
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== fuzz $$pkg $$f ($(1))"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(1) $$pkg || exit 1; \
	  done; done
endef

## fuzz-short: every fuzz target for a bounded time, so they cannot rot
fuzz-short:
	$(call fuzz_each,$(FUZZTIME))

## fuzz: every fuzz target for 10 minutes each, or FUZZTIME (not part of make test: hours in all)
fuzz:
	$(call fuzz_each,$(if $(filter command line environment,$(origin FUZZTIME)),$(FUZZTIME),10m))

## demo: a local control plane and meshguard; the story's manifests applied in enforce and audit mode, each outcome printed (ONCE=1: exit after, status 0 only if all are as expected)
demo: build
	cd hack/demo && $(GO) build -o $(CURDIR)/bin/demo . && exec $(CURDIR)/bin/demo -repo '$(CURDIR)' -webhook '$(CURDIR)/bin/webhook' $(if $(filter 1 true yes,$(ONCE)),-once)

## dashboard: regenerate deploy/grafana/meshguard.json, the chart's copy and its alert expressions from hack/dashboard
dashboard:
	cd hack/dashboard && $(GO) run . > $(CURDIR)/deploy/grafana/meshguard.json
	cp deploy/grafana/meshguard.json deploy/charts/meshguard/files/grafana/meshguard.json
	cd hack/dashboard && $(GO) run . -alerts > $(CURDIR)/deploy/charts/meshguard/files/alerts/expressions.yaml

clean:
	rm -rf bin dist

# Container image, built without a container engine (hack/image, docs/image.md).
# SOURCE_DATE_EPOCH fixes every time inside it, so equal sources give equal digests.
IMAGE_REPOSITORY ?= ghcr.io/meshguard/meshguard
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# hack/image's own tests (reproducibility, contents, running as uid 65532) run with the other modules.
TEST_MODULES += hack/image
# hack/demo's test runs `make demo ONCE=1`'s code against a real control plane.
TEST_MODULES += hack/demo
.PHONY: image

## image: OCI layout (dist/oci) and docker tarballs of the static webhook for $(IMAGE_PLATFORMS); prints digests and sizes
image:
	cd hack/image && $(GO) run . -go '$(GO)' -src '$(CURDIR)' -out '$(CURDIR)/dist' -version '$(VERSION)' \
	  -repository '$(IMAGE_REPOSITORY)' -platforms '$(IMAGE_PLATFORMS)' -source-date-epoch '$(SOURCE_DATE_EPOCH)'

# Performance comparison (docs/performance.md): the separate bench/ module holds
# the OPA, CEL (ValidatingAdmissionPolicy) and stock controller-runtime variants
# and the loopback load generator, so their dependencies stay out of go.mod.
BENCHSTAT ?= $(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
BENCH_COUNT ?= 5
BENCH_OUT ?= bench/out
.PHONY: bench
.PHONY: bench-smoke

## bench: -count $(BENCH_COUNT) benchmarks (bench/ and in-module) through benchstat, then the load generator
bench:
	@mkdir -p $(BENCH_OUT)
	set -o pipefail; cd bench && $(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) . | tee $(CURDIR)/$(BENCH_OUT)/bench.txt
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) ./pkg/validate ./pkg/mutate ./pkg/nginx | tee $(BENCH_OUT)/inmodule.txt
	$(BENCHSTAT) $(BENCH_OUT)/bench.txt
	$(BENCHSTAT) $(BENCH_OUT)/inmodule.txt
	set -o pipefail; cd bench && $(GO) run ./cmd/load -root .. -clients 8 -duration 10s -rate 1000 -rate-duration 10s | tee $(CURDIR)/$(BENCH_OUT)/load.txt
	set -o pipefail; cd bench && $(GO) run ./cmd/apiload -root .. -creates 2000 -clients 6 -blocks 2 -namespaces 1000,5000 | tee $(CURDIR)/$(BENCH_OUT)/apiload.txt

## bench-smoke: every benchmark 100 times and the load generator for ~3 s, so none can rot; asserts no timings
bench-smoke:
	cd bench && $(GO) test -count=1 -run '^$$' -bench . -benchtime=100x . && $(GO) test -count=1 ./...
	$(GO) test -count=1 -run '^$$' -bench . -benchtime=100x ./pkg/validate ./pkg/mutate ./pkg/nginx
