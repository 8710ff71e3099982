# kind: the same game day on a kind cluster, for users and for CI (.github/workflows/e2e-kind.yml).
#
#   make kind-up                       the cluster (hack/kind/cluster.yaml) with metrics-server
#   make kind-images kind-load         build the images with Docker and load them into the node
#   export KUBECONFIG=$(make -s kind-kubeconfig)
#   make deploy-monolith deploy-msa    the shop in both shapes
#   make e2e-kind                      the end-to-end suite against the kind cluster
#   make kind-down                     delete the cluster
#
# Needs docker, kind and kubectl on PATH. Nothing here touches the project's own local cluster.

KIND ?= kind
KIND_CLUSTER ?= gameday
KIND_CONFIG ?= hack/kind/cluster.yaml
# kind v0.31.0's image for Kubernetes 1.35.0, pinned by digest as kind's release notes ask;
# another kind release needs the image listed in its own release notes.
KIND_NODE_IMAGE ?= kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f
KIND_KUBECONFIG ?= $(HOME)/.kube/kind-$(KIND_CLUSTER)
KIND_METRICS_SERVER_VERSION ?= v0.8.1
KIND_DOCKER ?= docker
KIND_BASE ?= python:3.11-slim-bookworm
KIND_TAG ?= dev
# name:Dockerfile, as in cluster/images.sh (build context: the repository root).
KIND_IMAGES ?= echo:tests/images/echo/Dockerfile shop:apps/shop/Dockerfile chaos:chaos/Dockerfile \
  operator:operator/Dockerfile postgres:images/postgres/Dockerfile redis:images/redis/Dockerfile \
  prometheus:images/prometheus/Dockerfile
kind_image = localhost/gameday-$(1):$(KIND_TAG)

.PHONY: kind-up kind-down kind-kubeconfig kind-images kind-load e2e-kind
kind-up: ## a kind cluster (hack/kind/cluster.yaml) with metrics-server; reused when it exists
	@mkdir -p $(dir $(KIND_KUBECONFIG))
	@if $(KIND) get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)'; then \
	  echo "[kind] cluster $(KIND_CLUSTER) exists"; \
	  $(KIND) export kubeconfig --name $(KIND_CLUSTER) --kubeconfig $(KIND_KUBECONFIG); \
	else \
	  $(KIND) create cluster --name $(KIND_CLUSTER) --config $(KIND_CONFIG) \
	    --image $(KIND_NODE_IMAGE) --kubeconfig $(KIND_KUBECONFIG) --wait 120s; \
	fi
	KUBECONFIG=$(KIND_KUBECONFIG) KUBECTL=$(KUBECTL) hack/kind/metrics-server.sh $(KIND_METRICS_SERVER_VERSION)
	@echo "[kind] ready: export KUBECONFIG=$(KIND_KUBECONFIG)"

kind-kubeconfig: ## print the kind cluster's kubeconfig path
	@echo $(KIND_KUBECONFIG)

kind-images: ## build every image with Docker, tagged localhost/gameday-<name>:dev
	@set -e; for entry in $(KIND_IMAGES); do \
	  name=$${entry%%:*}; file=$${entry#*:}; \
	  echo "[kind] $(call kind_image,$$name) from $$file"; \
	  $(KIND_DOCKER) build --build-arg BASE=$(KIND_BASE) -f $$file -t $(call kind_image,$$name) . ; \
	done

kind-load: ## load the images into the kind node (imagePullPolicy IfNotPresent finds them there)
	@set -e; for entry in $(KIND_IMAGES); do \
	  name=$${entry%%:*}; \
	  $(KIND) load docker-image --name $(KIND_CLUSTER) $(call kind_image,$$name); \
	done

kind-down: ## delete the kind cluster and its kubeconfig
	$(KIND) delete cluster --name $(KIND_CLUSTER) --kubeconfig $(KIND_KUBECONFIG)
	rm -f $(KIND_KUBECONFIG)

e2e-kind: venv ## the end-to-end suite against the kind cluster (after kind-load and the deploys)
	GAMEDAY_E2E_KUBECONFIG=$(KIND_KUBECONFIG) $(PYTEST) tests/e2e
