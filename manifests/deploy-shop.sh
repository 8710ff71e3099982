#!/usr/bin/env bash
# Deploys one shape of the sample shop: its namespace, each database's Secret, then
# manifests/<shape>. Used by `make deploy-monolith`/`deploy-msa` and by `gameday demo`.
#
#   manifests/deploy-shop.sh monolith|msa
#
# Each Secret holds `password` — a random one made once and kept on every later deploy
# (SHOP_DB_ROTATE=1 makes a new one) — and the DSNs carrying it: `dsn` to the database's host,
# `direct-dsn` to its direct host. The passwords are never printed. When a password changed,
# every Deployment in the namespace restarts: each database sets its password at start, each
# client reads its DSN at start. docs/shop.md, "Database passwords".
#
# KUBECTL is the kubectl command line to use (default: kubectl), e.g. "kubectl --kubeconfig F".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
read -r -a kubectl <<<"${KUBECTL:-kubectl}"
shape=${1:?usage: deploy-shop.sh monolith|msa}
case $shape in
  # secret:database:host[:direct host]
  monolith) namespace=shop-monolith; databases=(shop-db:shop:postgres:postgres-direct) ;;
  msa)
    namespace=shop-msa
    databases=(order-db:orders:order-db:order-db-direct inventory-db:inventory:inventory-db
      payment-db:payments:payment-db)
    ;;
  *) echo "deploy-shop.sh: unknown shape $shape (monolith or msa)" >&2; exit 2 ;;
esac

"${kubectl[@]}" apply -f "$here/$shape/namespace.yaml"
changed=
for db in "${databases[@]}"; do
  IFS=: read -r secret database host direct <<<"$db:"
  pw=$("${kubectl[@]}" -n "$namespace" get secret "$secret" --ignore-not-found \
    -o jsonpath='{.data.password}')
  pw=$(base64 -d <<<"$pw")
  if [ -z "$pw" ] || [ "${SHOP_DB_ROTATE:-}" = 1 ]; then pw=$(openssl rand -hex 16); fi
  dsns=(--from-literal=dsn="postgresql://postgres:$pw@$host:5432/$database")
  if [ -n "$direct" ]; then
    dsns+=(--from-literal=direct-dsn="postgresql://postgres:$pw@$direct:5432/$database")
  fi
  out=$("${kubectl[@]}" -n "$namespace" create secret generic "$secret" \
    --from-literal=password="$pw" "${dsns[@]}" --dry-run=client -o yaml \
    | "${kubectl[@]}" label --local -f - app.kubernetes.io/part-of=gameday-shop -o yaml \
    | "${kubectl[@]}" apply -f -)
  echo "$out"
  if [[ $out == *configured* ]]; then changed=1; fi
done
"${kubectl[@]}" apply -k "$here/$shape"
if [ -n "$changed" ]; then
  echo "a database password changed: restarting every Deployment in $namespace"
  "${kubectl[@]}" -n "$namespace" rollout restart deployment
fi
