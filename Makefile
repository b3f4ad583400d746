# prepuller's two promises: `make demo` and `make test`. Both build the
# control-plane binaries (etcd, kube-apiserver, kube-scheduler,
# kube-controller-manager, kwok) from the Go module proxy on first use.

SHELL := /usr/bin/env bash
GO ?= go
ASSETS = $(shell test/controlplane/build.sh --print-dir)
export KUBEBUILDER_ASSETS = $(ASSETS)

.PHONY: all build image controlplane promtool test e2e unit vet fuzz faults demo demo-keep bench sim clean help

all: build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build bin/prepuller and bin/prepuller-noop (static)
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/...

# IMAGE=registry/name:tag pushes (credentials from ~/.docker/config.json);
# without it the image goes to bin/prepuller-image.tar (docker/podman load).
IMAGE ?=
image: ## build prepuller's image from source, no Docker (IMAGE=reg/name:tag pushes, else bin/prepuller-image.tar)
	@mkdir -p bin
	$(GO) run ./test/e2e/cmd/image $(if $(IMAGE),-push $(IMAGE),-tarball bin/prepuller-image.tar)

controlplane: ## build the control-plane binaries into the cache (skips what exists)
	test/controlplane/build.sh

vet: ## go vet every package
	$(GO) vet ./...

# promtool (Prometheus's rule tester, for the chart's alerts) goes into the
# same cache; only make test needs it.
promtool: ## build promtool into the control-plane cache (skips if there)
	test/controlplane/build.sh --promtool

test: controlplane promtool vet ## vet, then unit and integration tests with the race detector, then a short fuzz
	$(GO) test -race -count=1 -timeout 40m ./...
	$(MAKE) fuzz FUZZTIME=2000x

# Every decoder of outside input, as package:target. go test -fuzz takes
# one package and one target per run, so they run one after another.
# Minimizing is capped: with the 60s default the workers spent most of a
# run minimizing (FuzzAdmissionReview ran 16 inputs in 60s, and 12,000 in
# 20s with 1s).
# make test gives each target a count, not a time: with a short time, an
# input found just before the deadline can end the run as "context deadline
# exceeded" while it is minimized (a failure that is not the code's).
FUZZTIME ?= 10s
FUZZMINIMIZETIME ?= 1s
FUZZ_TARGETS = ./pkg/imageref:FuzzNormalize ./pkg/userpod:FuzzExtraImages \
	./pkg/imageset:FuzzDecode ./webhook:FuzzDecodePod ./webhook:FuzzAdmissionReview \
	./cmd/prepuller/config:FuzzParse ./puller/render:FuzzTallies \
	./cmd/prepuller/ops:FuzzHeldAtStart ./pkg/inventory:FuzzWindow

fuzz: ## run each fuzz target for FUZZTIME (default 10s); failures land in the package's testdata/fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $${t%%:*}; \
	done

# Real nodes: the control plane plus two (then three) kubelets with Debian's
# containerd and runc, a registry on loopback, prepuller installed from the
# self-signed overlay, then again from the Helm chart (docs/e2e.md). Root;
# installs containerd, runc and containernetworking-plugins with apt-get
# when missing.
# E2E_INSTALLS: the installs to run, one whole run each (a fresh cluster);
# results go to $(E2E_RESULTS)-<install>.json.
E2E_INSTALLS ?= kustomize helm
E2E_RESULTS ?= $(CURDIR)/bin/e2e-results
e2e: controlplane ## prepuller on real nodes, installed with kustomize then Helm (root; docs/e2e.md), about 8-11 minutes
	test/e2e/host-deps.sh
	@mkdir -p bin
	@for i in $(E2E_INSTALLS); do \
		echo "e2e: install $$i"; \
		E2E_INSTALL=$$i PREPULLER_E2E=1 PREPULLER_E2E_RESULTS=$(E2E_RESULTS)-$$i.json \
			$(GO) test -count=1 -v -timeout 30m ./test/e2e/ || exit 1; \
	done

# Two prepuller replicas as processes, a fixed-rate spawner, one fault at a
# time (docs/reliability.md). make test runs the faults marked short (the
# suite's default without PREPULLER_FAULTS=1), about two minutes.
faults: controlplane ## every fault of the reliability suite with figures (docs/reliability.md), about 7 minutes
	PREPULLER_FAULTS=1 $(GO) test -count=1 -v -timeout 30m -run '^TestFaults$$' ./test/faults/

unit: ## unit tests only (no control plane)
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /test/)

demo: controlplane ## run prepuller on a local control plane with three kwok nodes
	$(GO) run ./test/demo

demo-keep: controlplane ## like demo, but leave the cluster running until Ctrl-C
	$(GO) run ./test/demo --keep

bench: controlplane ## admission handler, HTTPS load, API server overhead and memory benchmarks (docs/benchmarks.md)
	$(GO) test -run '^$$' -bench . -benchmem ./webhook/...
	$(GO) test -run '^$$' -bench 'Handle' -benchmem ./test/bench/
	$(GO) test -run '^$$' -bench 'HTTPS|APIServer|Memory' -benchtime 1x ./test/bench/

sim: controlplane ## simulated JupyterHub cluster: no pre-puller vs the chart's puller vs prepuller (everywhere, and placed by demand); about 13 minutes (docs/benchmarks.md)
	$(GO) run ./test/sim -doc docs/benchmarks.md -chart docs/benchmarks-sim.png $(SIM_FLAGS)

clean: ## remove build output (not the control-plane cache)
	rm -rf bin
