#!/usr/bin/env bash
# Installs metrics-server on a kind cluster the way kind users do: the upstream release
# manifest, with --kubelet-insecure-tls added (kind's kubelets serve self-signed certificates),
# then waits until the resource metrics API answers.
#   KUBECONFIG=... hack/kind/metrics-server.sh [VERSION]
set -euo pipefail
version=${1:-${METRICS_SERVER_VERSION:-v0.8.1}}
kubectl=${KUBECTL:-kubectl}
url="https://github.com/kubernetes-sigs/metrics-server/releases/download/${version}/components.yaml"

say() { printf '[kind] %s\n' "$*" >&2; }

say "metrics-server ${version}"
"$kubectl" apply -f "$url"
args=$("$kubectl" -n kube-system get deployment metrics-server \
  -o jsonpath='{.spec.template.spec.containers[0].args}')
if [[ "$args" != *--kubelet-insecure-tls* ]]; then
  "$kubectl" -n kube-system patch deployment metrics-server --type=json \
    -p '[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--kubelet-insecure-tls"}]'
fi
"$kubectl" -n kube-system rollout status deployment/metrics-server --timeout=300s
"$kubectl" wait --for=condition=Available apiservice/v1beta1.metrics.k8s.io --timeout=300s
# The first scrape takes a resolution interval; the HPA needs a node metric to exist.
for _ in $(seq 1 60); do
  if "$kubectl" top nodes >/dev/null 2>&1; then
    say "metrics-server answers"
    exit 0
  fi
  sleep 5
done
say "metrics-server installed but no node metrics after 5 minutes"
exit 1
