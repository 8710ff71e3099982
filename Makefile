# gameday — every real component starts from one target here. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export GAMEDAY_CACHE ?= /var/cache/gameday
export GAMEDAY_STATE ?= /var/lib/gameday/cluster
export KUBECONFIG ?= $(GAMEDAY_STATE)/kubeconfig
export PATH := $(GAMEDAY_CACHE)/bin:$(PATH)

VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
KUBECTL := kubectl
SERVICES_DIR ?= /var/lib/gameday/services

APT_PACKAGES := containerd runc containernetworking-plugins buildah debootstrap umoci iptables \
  conntrack ipset ethtool socat iproute2 nftables openssl curl gcc libc6-dev postgresql redis-server \
  stress-ng chromium wrk

.PHONY: help
help: ## this list
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# --- setup ------------------------------------------------------------------------------------
.PHONY: deps venv binaries kwok delayserver helm
deps: ## install the Debian packages everything here needs (root)
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(APT_PACKAGES)

venv: $(VENV)/.installed ## the Python virtual environment with the project and its dev tools
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

binaries: ## build Kubernetes 1.35, etcd, CoreDNS, metrics-server, Prometheus from Go modules (cached)
	cluster/build-binaries.sh all

kwok: ## build kwok (fake nodes for scale benchmarks; cached)
	cluster/build-binaries.sh kwok

delayserver: ## build the load benchmark's ground-truth server (cached)
	cluster/build-binaries.sh delayserver

helm: ## build helm 3 (the chart's tests: lint, render, install; cached)
	cluster/build-binaries.sh helm

# --- the local cluster ----------------------------------------------------------------------
.PHONY: cluster cluster-down cluster-status images services services-down
cluster: binaries ## start the local single-node Kubernetes (reused when already up)
	cluster/images.sh system
	cluster/cluster.sh up

cluster-down: ## stop every process the cluster started and remove its state
	cluster/cluster.sh down

cluster-status: ## what runs, the node and its pods
	cluster/cluster.sh status

images: ## build the project's images from its Dockerfiles and load them into the node
	cluster/images.sh build
	@if [ -S $(GAMEDAY_STATE)/containerd/containerd.sock ]; then cluster/images.sh import; \
	  else echo "cluster not running: images built, not imported"; fi

services: venv ## PostgreSQL and Redis on the host (loopback) for component tests
	$(PY) -m tests.fixtures.services up $(SERVICES_DIR)

services-down: venv
	$(PY) -m tests.fixtures.services down $(SERVICES_DIR)

# --- deploy ---------------------------------------------------------------------------------
.PHONY: deploy opt-in opt-out run-operator deploy-observability deploy-monolith deploy-msa
# The Secret gameday-status-key holds the key that seals status.actions: random, made on the
# first deploy and kept on every later one (a new key makes the seals of running scenarios
# fail: docs/install.md, "The status key"). The key is never printed.
deploy: ## the CRD, RBAC, the status-seal key (made once, kept) and the operator Deployment
	$(KUBECTL) apply -f manifests/operator/namespace.yaml
	@$(KUBECTL) -n gameday-system get secret gameday-status-key >/dev/null 2>&1 \
	  || $(KUBECTL) -n gameday-system create secret generic gameday-status-key \
	    --from-literal=key="$$(openssl rand -hex 32)"
	$(KUBECTL) apply -k manifests/operator

opt-in: ## let game days run in namespace NS: its label and the operator's RoleBinding there
	@test -n "$(NS)" || { echo "usage: make opt-in NS=<namespace>" >&2; exit 2; }
	$(KUBECTL) label namespace "$(NS)" gameday.io/enabled=true --overwrite
	$(KUBECTL) -n "$(NS)" apply -f manifests/opt-in/rolebinding.yaml

opt-out: ## no more game days in namespace NS (finish or delete its scenarios first)
	@test -n "$(NS)" || { echo "usage: make opt-out NS=<namespace>" >&2; exit 2; }
	$(KUBECTL) -n "$(NS)" delete -f manifests/opt-in/rolebinding.yaml --ignore-not-found
	$(KUBECTL) label namespace "$(NS)" gameday.io/enabled-

run-operator: venv ## the operator on this machine against $$KUBECONFIG
	$(KUBECTL) apply -f crds/failurescenario.yaml
	$(VENV)/bin/kopf run --all-namespaces -m gameday_operator.main

deploy-observability: ## Prometheus in namespace gameday-system
	$(KUBECTL) apply -k manifests/observability

deploy-monolith: ## the sample shop as a monolith (namespace shop-monolith)
	KUBECTL="$(KUBECTL)" manifests/deploy-shop.sh monolith

deploy-msa: ## the sample shop as microservices (namespace shop-msa)
	KUBECTL="$(KUBECTL)" manifests/deploy-shop.sh msa

# --- checks ---------------------------------------------------------------------------------
.PHONY: lint test test-unit e2e bench
lint: venv ## ruff, ruff format, mypy strict on the packages, tests and benchmarks
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict $(wildcard operator/gameday_operator chaos/gameday_chaos apps/shop demo/gameday_demo tests bench)
	@if [ -f .importlinter ]; then $(VENV)/bin/lint-imports; fi

# In this order: the end-to-end suite leaves the shops deployed (and scaled out) until the end
# of the run, and the host-side accuracy tests must not share the node's CPU with them.
# The cluster binaries and helm are cached: built once, then a no-op. The chart's tests fail,
# not skip, without helm or kubectl.
test: venv binaries helm ## every test: unit, component (host PostgreSQL/Redis/Prometheus) and cluster
	$(PYTEST) tests/unit tests/integration tests/e2e

test-unit: venv ## the tests that need no server
	$(PYTEST) tests/unit

e2e: venv ## the end-to-end suite on the local cluster
	$(PYTEST) tests/e2e

bench: venv kwok delayserver ## every benchmark; each prints its figures
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# --- the main job ---------------------------------------------------------------------------
-include mk/*.mk

.PHONY: demo demo-down
demo: venv cluster images ## the local cluster, the operator, the sample apps, both scenarios, the report
	$(VENV)/bin/gameday demo

demo-down: cluster-down
