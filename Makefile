# IronLB build, generation and test entry points. Every tool is pinned:
# Go tools in tools/go.mod, Kubernetes in K8S_VERSION, Debian packages by the
# release the machine runs. Long builds are cached in $(IRONLB_CACHE), outside
# the clone, so a fresh clone on a machine that built them once pays nothing.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

IRONLB_CACHE ?= $(HOME)/.cache/ironlb
K8S_VERSION  ?= v1.36.3
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export IRONLB_CACHE K8S_VERSION

GO_TOOL        := go tool -modfile=$(CURDIR)/tools/go.mod
CONTROLLER_GEN := $(GO_TOOL) controller-gen
STATICCHECK    := $(GO_TOOL) staticcheck
LDFLAGS        := -s -w -X main.version=$(VERSION)
BINARIES := controller speaker ironlb
GO_TEST_FLAGS  ?= -race -count=1 -timeout 30m

# The Helm chart; its appVersion is the image tag it runs by default.
CHART             := charts/ironlb
CHART_APP_VERSION := $(shell sed -n 's/^appVersion: *//p' $(CHART)/Chart.yaml)

# Files `make generate manifests dashboards` owns; `make verify` fails when they are stale.
GENERATED := api/v1beta1/zz_generated.deepcopy.go api/v1beta2/zz_generated.deepcopy.go \
             config/crd/bases config/rbac/controller config/rbac/speaker config/webhook/manifests.yaml \
             $(CHART)/files $(CHART)/dashboards

.PHONY: help
help: ## Show the targets.
	@grep -E '^[a-z][a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

##@ Build

.PHONY: build
build: $(addprefix bin/,$(BINARIES)) ## Build the controller, the speaker and the ironlb tool (migrate from MetalLB) as static binaries in bin/.

bin/%: FORCE
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/$*

# The lab is a Go module of its own (test/lab: ironlab, the demo, the image
# builder, the lab's benchmark); its programs are built there and run from
# here, the clone's root.
LAB_GO := go -C test/lab

bin/ironlab: FORCE
	CGO_ENABLED=0 $(LAB_GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(CURDIR)/$@ ./cmd/ironlab

bin/lab/%: FORCE
	$(LAB_GO) build -o $(CURDIR)/$@ ./$*

.PHONY: FORCE
FORCE:

# Tags `make images` gives ghcr.io/ironlb/{controller,speaker}; comma-separated.
# The chart's appVersion is always one of them, so `helm install` of this
# tree runs these images without overrides.
comma := ,
empty :=
space := $(empty) $(empty)
IMAGE_TAGS ?= $(subst $(space),$(comma),$(sort $(VERSION) $(CHART_APP_VERSION)))

.PHONY: images
images: ## Build the controller and speaker images without Docker: bin/images/ironlb-{controller,speaker}.tar, tagged ghcr.io/ironlb/NAME:$(IMAGE_TAGS).
	$(LAB_GO) run ./cmd/images --version $(VERSION) --tags '$(IMAGE_TAGS)' --out $(CURDIR)/bin/images

##@ Generation

.PHONY: generate
generate: ## Generate deepcopy methods for the API types.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: manifests
manifests: ## Generate CRDs (config/crd/bases), RBAC roles (config/rbac/{controller,speaker}) and the webhook configuration.
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=ironlb-controller paths=./controllers/... output:rbac:dir=config/rbac/controller
	$(CONTROLLER_GEN) rbac:roleName=ironlb-speaker paths=./speaker/... output:rbac:dir=config/rbac/speaker
	$(CONTROLLER_GEN) webhook paths=./controllers/... output:webhook:dir=config/webhook
	@# The chart renders these copies (templates/crds.yaml, rbac.yaml, webhooks.yaml).
	rm -rf $(CHART)/files && mkdir -p $(CHART)/files/crds $(CHART)/files/rbac
	cp config/crd/bases/*.yaml $(CHART)/files/crds/
	cp config/rbac/controller/role.yaml $(CHART)/files/rbac/controller.yaml
	cp config/rbac/speaker/role.yaml $(CHART)/files/rbac/speaker.yaml
	cp config/webhook/manifests.yaml $(CHART)/files/webhooks.yaml

.PHONY: dashboards
dashboards: ## Write the Grafana dashboards (typed Go in hack/dashboards) to charts/ironlb/dashboards.
	go run ./hack/dashboards --out $(CHART)/dashboards

.PHONY: verify
verify: ## Fail if generated files differ from what generate, manifests and dashboards produce.
	@snap=$$(mktemp -d); trap 'rm -rf "$$snap"' EXIT; \
	for p in $(GENERATED); do mkdir -p "$$snap/$$(dirname $$p)"; cp -r "$$p" "$$snap/$$p"; done; \
	$(MAKE) --no-print-directory generate manifests dashboards >/dev/null; \
	stale=0; for p in $(GENERATED); do diff -ru "$$snap/$$p" "$$p" || stale=1; done; \
	if [[ $$stale == 1 ]]; then echo "generated files are stale: run 'make generate manifests dashboards' and commit the result" >&2; exit 1; fi; \
	echo "generated files are current"

##@ Test

# Debian packages the tests use, as command → package.
# The lab (test/lab/cluster) runs every node's containerd, runc and CNI plugins;
# the plugins are not on PATH, so their entry is a path. promtool checks the
# chart's alert rules (test/dashboards); curl is make demo's client.
DEB_DEPS := etcd:etcd-server ip:iproute2 arping:iputils-arping ping:iputils-ping iptables:iptables \
            ndisc6:ndisc6 containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins conntrack:conntrack \
            promtool:prometheus curl:curl vtysh:frr

.PHONY: deps
deps: ## Install the Debian packages the tests, benchmarks, lab and demo need (etcd, iproute2, arping, ping, iptables, containerd, runc, CNI plugins, conntrack, promtool, curl, FRR), if missing.
	@missing=""; for d in $(DEB_DEPS); do command -v "$${d%%:*}" >/dev/null || missing="$$missing $${d#*:}"; done; \
	if [[ -n "$$missing" ]]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; fi

.PHONY: k8s-binaries
k8s-binaries: deps ## Build (once, then cached) every Kubernetes binary the tests and the lab use.
	hack/k8s-binaries.sh

.PHONY: helm
helm: ## Build helm from tools/go.mod, stamped like a helm release (its default Kubernetes is its client-go's), and print its path.
	@hack/helm.sh

.PHONY: lint
lint: ## gofmt, go vet and staticcheck.
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [[ -n "$$unformatted" ]]; then echo "not gofmt'ed: $$unformatted" >&2; exit 1; fi
	go vet ./...
	go vet -tags e2e ./...
	go vet -tags e2e,wallclock ./test/e2e
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags e2e ./...
	$(STATICCHECK) -tags e2e,wallclock ./test/e2e
	cd test/lab && go vet -tags e2e ./... && $(STATICCHECK) -tags e2e ./...
	cd test/dashboards && go vet ./... && $(STATICCHECK) ./...

# Two tiers (docs/testing.md). The unit tier is plain go test: no root, no
# network namespace, no Kubernetes binaries. The e2e tier is the test files
# tagged e2e: a real apiserver and etcd, namespaces and real packets, FRR,
# the lab; it runs as root and its packages are those that hold such files.
# The lab module (test/lab) is e2e as a whole: all of it is about the lab.
E2E_PKGS = $(sort $(patsubst %/,./%,$(dir $(shell git grep -l '^//go:build e2e' -- '*_test.go' ':!test/lab' ':!test/dashboards'))))

# The unit tier is what a contributor runs after every change, so it runs
# without the race detector (~40 s warm instead of ~70 s); make test runs it
# with GO_TEST_FLAGS, race detector included.
UNIT_TEST_FLAGS ?= -count=1

.PHONY: test-unit
test-unit: ## The fast tier, after every change: go test ./... (no root, no namespaces, no Kubernetes build; under a minute warm).
	go test $(UNIT_TEST_FLAGS) ./...

.PHONY: test-e2e
test-e2e: deps k8s-binaries ## The e2e tier (root): integration on a real kube-apiserver and etcd, real packets in network namespaces, FRR, the lab on real kubelets, dashboards on Prometheus.
	KUBEBUILDER_ASSETS=$$(hack/k8s-binaries.sh) go test -tags e2e $(GO_TEST_FLAGS) $(E2E_PKGS)
	$(MAKE) --no-print-directory test-wallclock
	KUBEBUILDER_ASSETS=$$(hack/k8s-binaries.sh) $(LAB_GO) test -tags e2e $(GO_TEST_FLAGS) ./...
	$(MAKE) --no-print-directory dashboards-test

.PHONY: test-wallclock
test-wallclock: deps k8s-binaries ## The wall clock jumps 5 minutes forward and back under three speakers (root; part of test-e2e). It sets this machine's clock, so it runs alone.
	KUBEBUILDER_ASSETS=$$(hack/k8s-binaries.sh) go test -tags e2e,wallclock $(GO_TEST_FLAGS) -run '^TestWallClockJump$$' ./test/e2e

.PHONY: dashboards-test
dashboards-test: deps ## Dashboards and alerts, offline: every query parses and reads only metrics the code exports; promtool check/test rules (a module of its own: test/dashboards; also part of test-e2e).
	cd test/dashboards && go test $(GO_TEST_FLAGS) ./...

.PHONY: chart-test
chart-test: k8s-binaries ## The chart and config/default: helm lint --strict, helm-unittest, kubeconform (K8s 1.36 + our CRDs, offline), Pod Security levels, RBAC = config/rbac, kustomize builds (also part of the test tiers).
	KUBEBUILDER_ASSETS=$$(hack/k8s-binaries.sh) go test -tags e2e -count=1 ./test/chart

# Every go test -fuzz target, package:Function; test/compat fails when a
# FuzzXxx is missing here. Their seed corpora (and testdata/fuzz crashers)
# run as ordinary tests in test-unit.
FUZZ_TARGETS := ./internal/ipam:FuzzParseRange ./internal/config:FuzzParse ./internal/compat:FuzzLoadBalancerIPs \
                ./speaker/layer2:FuzzARPQuestion ./speaker/layer2:FuzzNDPQuestion ./speaker/bfd:FuzzParseControlPacket
FUZZTIME     ?= 10m
FUZZ_FLAGS   ?= -parallel 1

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (10m), one after another, at the lowest CPU priority (docs/hardening.md); FUZZ_FLAGS adds go test flags.
	FUZZ_FLAGS='$(FUZZ_FLAGS)' hack/fuzz.sh $(FUZZTIME) $(FUZZ_TARGETS)

# How long make test fuzzes each target: a short run that goes past the seed
# corpora on every change; make fuzz is the long one.
FUZZ_SHORT ?= 10s

.PHONY: fuzz-short
fuzz-short: ## Each fuzz target for FUZZ_SHORT (10s), the short run make test does; a finding fails it and is written to testdata/fuzz.
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZ_SHORT)

.PHONY: chaos
chaos: deps ## Chaos at full scale (root; prints figure tables): 5,000 Services while the controller is SIGKILLed 10 times; on the layer-2 lab speaker churn, an invalid config, an apiserver restart, a 30 s partition. CHAOS_ARGS adds test/chaos flags; make test runs it reduced.
	KUBEBUILDER_ASSETS=$$(hack/k8s-binaries.sh kube-apiserver kubectl) go test -tags e2e -count=1 -v -timeout 60m ./test/chaos -args -services 5000 -kills 10 -vips 10 -hold 30s $(CHAOS_ARGS)

.PHONY: test
test: verify lint test-unit-race test-e2e fuzz-short ## Everything CI checks: generated files current, lint, both test tiers (race detector on), a short fuzz run.

.PHONY: test-unit-race
test-unit-race: ## The unit tier with GO_TEST_FLAGS (race detector on), as make test runs it.
	$(MAKE) --no-print-directory test-unit UNIT_TEST_FLAGS='$(GO_TEST_FLAGS)'


##@ Demo

.PHONY: demo
demo: deps k8s-binaries images bin/ironlab bin/lab/cmd/demo ## The seed walkthrough, verbatim, on the lab (root): helm install, svc1..3, arping, curl, failover. DEMO_ARGS=--keep leaves the lab up.
	bin/lab/cmd/demo --images bin/images $(DEMO_ARGS)

##@ Lab

LAB_NAME   ?= myk8s
LAB_CONFIG ?= test/seed/kind-svc-2w.yaml

.PHONY: lab
lab: deps k8s-binaries bin/ironlab ## The seed's 4-node kind cluster (myk8s) as network namespaces on this machine (root); kubectl context ironlab-myk8s.
	bin/ironlab create cluster --name $(LAB_NAME) --config $(LAB_CONFIG)

.PHONY: lab-delete
lab-delete: bin/ironlab ## Delete the lab cluster and everything it made.
	bin/ironlab delete cluster --name $(LAB_NAME)

##@ Benchmarks (print numbers; never part of make test)

.PHONY: bench-ipam
bench-ipam: ## Allocation cost in a /24, /16 and /8 (internal/ipam).
	go test ./internal/ipam -run '^$$' -bench . -benchmem -count 3

.PHONY: bench-failover
bench-failover: deps ## Layer-2 failover outage seen by an ARP client, 3 speaker nodes in namespaces (root).
	KUBEBUILDER_ASSETS=$$(hack/k8s-binaries.sh kube-apiserver kubectl) go run ./test/bench/failover $(BENCH_ARGS)

.PHONY: bench-sim
bench-sim: ## Simulated L2 failure detection at 3–1,000 nodes (memberlist + the successor's watch): failover, false alarms, packets at rest, and the lab's figures as validation; no root, no lab.
	go run ./test/bench/sim $(BENCH_ARGS)

.PHONY: bench-bgp
bench-bgp: deps ## BGP against FRR: Service → route, graceful-stop and hard-kill outage through the router, 10 runs (root).
	KUBEBUILDER_ASSETS=$$(hack/k8s-binaries.sh kube-apiserver kubectl) go run ./test/bench/bgp $(BENCH_ARGS)

.PHONY: bench-lab
bench-lab: deps k8s-binaries bin/lab/bench ## The lab: create until all Nodes Ready (≤ 60 s), memory at rest, delete (≤ 10 s); 3 runs (root).
	bin/lab/bench $(BENCH_ARGS)

.PHONY: bench-controller
bench-controller: deps ## 10,000 Services on a real apiserver: backlog, latency, RSS, SIGKILL + restart; beside the apiserver's floor (and -controller PATH), as ratios.
	KUBEBUILDER_ASSETS=$$(hack/k8s-binaries.sh kube-apiserver kubectl) go run ./test/bench/controller $(BENCH_ARGS)
