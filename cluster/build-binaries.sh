#!/usr/bin/env bash
# Builds the local node's binaries from upstream Go modules, once: each lands in
# $GAMEDAY_CACHE/bin under a name that carries its version and a hash of its wrapper module,
# so a second run (or a new clone on the same machine) finds it and builds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${GAMEDAY_CACHE:-/var/cache/gameday}
bin="$cache/bin"
mkdir -p "$bin"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -trimpath"

K8S_VERSION=v1.35.4
ETCD_VERSION=v3.6.16
COREDNS_VERSION=v1.13.1
METRICS_SERVER_VERSION=v0.8.0
KWOK_VERSION=v0.7.0
# Prometheus 3.16 (its Go module numbers v3.X.Y as v0.3XX.Y); Debian's 2.42 has no kubernetes_sd.
PROMETHEUS_MODULE_VERSION=v0.316.0
PROMETHEUS_VERSION=3.16.0
HELM_VERSION=v3.22.1

log() { printf '[build] %s\n' "$*" >&2; }

wrapper_hash() { cat "$1"/go.mod "$1"/go.sum "$1"/*.go 2>/dev/null | sha256sum | cut -c1-12; }

# link <name> <stamp>: the cached binary for <name>, symlinked as $bin/<name>.
link() { ln -sfn "$(basename "$2")" "$bin/$1"; }

build_k8s() {
  local dir="$here/build/k8s" out
  out="$bin/k8s-$K8S_VERSION-$(wrapper_hash "$dir")"
  if [ ! -x "$out" ]; then
    log "kubernetes $K8S_VERSION (apiserver, controller-manager, scheduler, kubelet, proxy, kubectl)"
    local pkg=k8s.io/component-base/version cg=k8s.io/client-go/pkg/version minor
    minor=$(echo "$K8S_VERSION" | cut -d. -f2)
    local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    local ld="-s -w"
    for p in $pkg $cg; do
      ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
      ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$date -X $p.gitCommit=gameday-$K8S_VERSION"
    done
    (cd "$dir" && go build -ldflags "$ld" -o "$out.tmp" .) && mv "$out.tmp" "$out"
  fi
  link k8s "$out"
  for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    ln -sfn k8s "$bin/$c"
  done
}

build_etcd() {
  local dir="$here/build/etcd" out
  out="$bin/etcd-$ETCD_VERSION-$(wrapper_hash "$dir")"
  if [ ! -x "$out" ]; then
    log "etcd $ETCD_VERSION"
    (cd "$dir" && go build -ldflags "-s -w" -o "$out.tmp" .) && mv "$out.tmp" "$out"
  fi
  link etcd "$out"
}

# go_install <name> <module/cmd> <version> [ldflags]
go_install() {
  local name=$1 pkg=$2 version=$3 ld=${4:-} out="$bin/$1-$3"
  if [ ! -x "$out" ]; then
    log "$name $version"
    local tmp; tmp=$(mktemp -d)
    GOBIN="$tmp" go install -ldflags "-s -w $ld" "$pkg@$version"
    mv "$tmp/$(basename "$pkg")" "$out"
    rm -rf "$tmp"
  fi
  link "$name" "$out"
}

# build_here <name>: a program of this repository's cluster/build/<name>, standard library only.
build_here() {
  local dir="$here/build/$1" out
  out="$bin/$1-$(wrapper_hash "$dir")"
  if [ ! -x "$out" ]; then
    log "$1"
    (cd "$dir" && go build -ldflags "-s -w" -o "$out.tmp" .) && mv "$out.tmp" "$out"
  fi
  link "$1" "$out"
}

case "${1:-all}" in
  k8s) build_k8s ;;
  etcd) build_etcd ;;
  coredns) go_install coredns github.com/coredns/coredns "$COREDNS_VERSION" \
             "-X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" ;;
  metrics-server) go_install metrics-server sigs.k8s.io/metrics-server/cmd/metrics-server "$METRICS_SERVER_VERSION" \
             "-X sigs.k8s.io/metrics-server/pkg/version.gitVersion=$METRICS_SERVER_VERSION" ;;
  kwok) go_install kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION" \
             "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" ;;
  prometheus) go_install prometheus github.com/prometheus/prometheus/cmd/prometheus "$PROMETHEUS_MODULE_VERSION" \
             "-X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION -X github.com/prometheus/common/version.Branch=release" ;;
  # The load benchmark's ground-truth server (bench/bench_chaos_load.py), built by `make bench`.
  delayserver) build_here delayserver ;;
  # helm renders and installs charts/gameday in the tests: built by `make helm`, which `make test` runs.
  helm) go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" \
             "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" ;;
  # kwok is only for scale benchmarks: built by `make kwok`, not with the node's binaries.
  # All at once: much of a cold build is fetching modules, which overlaps with compiling.
  all)
    logs="$cache/logs"; mkdir -p "$logs"
    declare -A pids
    for c in etcd k8s coredns metrics-server prometheus; do
      "$0" "$c" >"$logs/build-$c.log" 2>&1 &
      pids[$c]=$!
    done
    failed=()
    for c in "${!pids[@]}"; do
      wait "${pids[$c]}" || failed+=("$c")
      cat "$logs/build-$c.log" >&2
    done
    if [ ${#failed[@]} -gt 0 ]; then
      for c in "${failed[@]}"; do log "$c FAILED; the end of $logs/build-$c.log:"; tail -n 30 "$logs/build-$c.log" >&2; done
      exit 1
    fi ;;
  *) echo "usage: $0 [all|k8s|etcd|coredns|metrics-server|prometheus|kwok|delayserver|helm]" >&2; exit 2 ;;
esac
