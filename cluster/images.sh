#!/usr/bin/env bash
# Images without Docker or a registry. Every image is built with buildah and kept as an OCI
# archive in $GAMEDAY_CACHE/images named after a hash of its inputs, so an unchanged image is
# never rebuilt; `import` loads the archives into the node's containerd (namespace k8s.io).
#
#   images.sh base            Debian bookworm (debootstrap, minbase) + python3: the BASE argument
#   images.sh system          pause (from the Kubernetes source), CoreDNS, metrics-server and
#                             Prometheus, each from its cached binary (images/prometheus/Dockerfile
#                             builds the same Prometheus for kind users)
#   images.sh build [NAME..]  the project's images from the repo's Dockerfiles on that base
#   images.sh import-system   load the system images into containerd (cluster.sh up calls it)
#   images.sh import [NAME..] load the project's images into containerd
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
CACHE=${GAMEDAY_CACHE:-/var/cache/gameday}
STATE=${GAMEDAY_STATE:-/var/lib/gameday/cluster}
CTR_SOCK="$STATE/containerd/containerd.sock"
archives="$CACHE/images"
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
BASE_IMAGE=localhost/gameday-base:bookworm
TAG=dev
K8S_MODULE_VERSION=v1.35.4
mkdir -p "$archives"

say() { printf '[images] %s\n' "$*" >&2; }

# The project's images: name, Dockerfile, and the repo paths whose content goes into it.
PROJECT_IMAGES=(echo shop chaos operator postgres redis)
dockerfile_of() {
  case "$1" in
    shop) echo apps/shop/Dockerfile ;;
    chaos) echo chaos/Dockerfile ;;
    operator) echo operator/Dockerfile ;;
    postgres) echo images/postgres/Dockerfile ;;
    redis) echo images/redis/Dockerfile ;;
    echo) echo tests/images/echo/Dockerfile ;;
    *) say "unknown image $1"; exit 2 ;;
  esac
}
# Python images copy the whole distribution in; the others depend on their Dockerfile alone.
inputs_of() {
  case "$1" in
    shop|chaos|operator) echo pyproject.toml README.md operator chaos apps "$(dockerfile_of "$1")" ;;
    *) dirname "$(dockerfile_of "$1")" ;;
  esac
}

hash_paths() {
  (cd "$repo" && find "$@" -type f -not -path '*/__pycache__/*' -not -name '*.pyc' -print0 \
    | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-12
}

# The machine's locally added CAs (a TLS-inspecting egress proxy, a company CA) are trusted in
# the base too, or pip and apt inside builds could not reach their registries.
LOCAL_CAS=/usr/local/share/ca-certificates
base_hash() {
  { echo "bookworm-minbase-python3-v2"; cat "$LOCAL_CAS"/*.crt 2>/dev/null; } | sha256sum | cut -c1-12
}

build_base() {
  local archive="$archives/base-$(base_hash).tar"
  if [ "$(buildah inspect --type image --format '{{index .ImageAnnotations "io.gameday.inputs"}}' "$BASE_IMAGE" 2>/dev/null)" != "$(base_hash)" ]; then
    buildah rmi -f "$BASE_IMAGE" >/dev/null 2>&1 || true
  fi
  if buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
    [ -s "$archive" ] || buildah push -q "$BASE_IMAGE" "oci-archive:$archive:$BASE_IMAGE"
    return 0
  fi
  if [ -s "$archive" ]; then
    buildah pull -q "oci-archive:$archive" >/dev/null
    buildah tag "$(buildah images -q --filter reference="$BASE_IMAGE" | head -n1)" "$BASE_IMAGE" 2>/dev/null || true
    buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1 && return 0
  fi
  say "base image: debootstrap bookworm with python3"
  local work mirror c
  work=$(mktemp -d)
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
  mirror=${mirror:-http://deb.debian.org/debian}
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
  if compgen -G "$LOCAL_CAS/*.crt" >/dev/null; then
    cp "$LOCAL_CAS"/*.crt "$work/rootfs/usr/local/share/ca-certificates/"
    chroot "$work/rootfs" update-ca-certificates >/dev/null 2>&1
  fi
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  c=$(buildah from scratch)
  cp -a "$work/rootfs/." "$(buildah mount "$c")/"
  buildah umount "$c" >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd /bin/bash --annotation "io.gameday.inputs=$(base_hash)" "$c"
  buildah commit -q "$c" "$BASE_IMAGE" >/dev/null
  buildah rm "$c" >/dev/null
  rm -rf "$work"
  buildah push -q "$BASE_IMAGE" "oci-archive:$archive:$BASE_IMAGE"
}

# from_binary <image> <archive> <binary> <entrypoint-json>: a scratch image holding one static binary.
from_binary() {
  local image=$1 archive=$2 binary=$3 entry=$4 c
  [ -s "$archive" ] && return 0
  say "$image"
  c=$(buildah from scratch)
  buildah copy -q "$c" "$binary" "$(echo "$entry" | tr -d '[]"')" >/dev/null
  buildah config --entrypoint "$entry" --user 65532:65532 "$c"
  buildah commit -q "$c" "$image" >/dev/null
  buildah rm "$c" >/dev/null
  buildah push -q "$image" "oci-archive:$archive.tmp:$image" && mv "$archive.tmp" "$archive"
}

# Named after the binary and the image layout (this script), so a layout change rebuilds too.
system_archive() {
  echo "$archives/system-$1-$(cat "$(readlink -f "$2")" "$0" | sha256sum | cut -c1-12).tar"
}

build_system() {
  local src pause_bin
  src="$(GOTOOLCHAIN=local GOFLAGS=-mod=mod go env GOMODCACHE)/k8s.io/kubernetes@$K8S_MODULE_VERSION/build/pause/linux/pause.c"
  if [ ! -f "$src" ]; then
    (cd "$here/build/k8s" && GOTOOLCHAIN=local go mod download k8s.io/kubernetes)
  fi
  pause_bin="$CACHE/bin/pause-3.10.1"
  if [ ! -x "$pause_bin" ]; then
    say "pause 3.10.1 from $K8S_MODULE_VERSION's source"
    gcc -Os -static -DVERSION=3.10.1 -o "$pause_bin" "$src"
    strip "$pause_bin"
  fi
  from_binary localhost/pause:3.10.1 "$(system_archive pause "$pause_bin")" "$pause_bin" '["/pause"]'
  from_binary localhost/gameday-coredns:dev "$(system_archive coredns "$CACHE/bin/coredns")" \
    "$(readlink -f "$CACHE/bin/coredns")" '["/coredns"]'
  from_binary localhost/gameday-metrics-server:dev "$(system_archive metrics-server "$CACHE/bin/metrics-server")" \
    "$(readlink -f "$CACHE/bin/metrics-server")" '["/metrics-server"]'
  from_binary localhost/gameday-prometheus:dev "$(system_archive prometheus "$CACHE/bin/prometheus")" \
    "$(readlink -f "$CACHE/bin/prometheus")" '["/bin/prometheus"]'
}

# import_archive <archive>: loads it into containerd unless the same archive already was.
import_archive() {
  local archive=$1 marker
  marker="$STATE/containerd/imported/$(basename "$archive")"
  [ -f "$marker" ] && return 0
  [ -S "$CTR_SOCK" ] || { say "containerd is not running ($CTR_SOCK): start the cluster first"; exit 1; }
  ctr -a "$CTR_SOCK" -n k8s.io images import --no-unpack "$archive" >/dev/null
  mkdir -p "$(dirname "$marker")"
  touch "$marker"
}

import_system() {
  build_system
  local name
  for name in pause coredns metrics-server prometheus; do
    local bin="$CACHE/bin/$name"
    [ "$name" = pause ] && bin="$CACHE/bin/pause-3.10.1"
    import_archive "$(system_archive "$name" "$bin")"
  done
}

project_archive() { echo "$archives/$1-$(hash_paths $(inputs_of "$1")).tar"; }

build_project() {
  local names=("$@")
  if [ ${#names[@]} -eq 0 ]; then
    for name in "${PROJECT_IMAGES[@]}"; do
      if [ -f "$repo/$(dockerfile_of "$name")" ]; then names+=("$name");
      else say "no $(dockerfile_of "$name") in this tree: $name not built"; fi
    done
  fi
  build_base
  for name in "${names[@]}"; do
    local archive image="localhost/gameday-$name:$TAG"
    archive=$(project_archive "$name")
    if [ -s "$archive" ]; then ln -sfn "$(basename "$archive")" "$archives/$name-current.tar"; continue; fi
    say "$image from $(dockerfile_of "$name")"
    local t0=$SECONDS
    buildah bud -q --layers=false --build-arg BASE="$BASE_IMAGE" -f "$repo/$(dockerfile_of "$name")" \
      -t "$image" "$repo" >"$archives/$name.build.log" 2>&1 \
      || { tail -n 40 "$archives/$name.build.log" >&2; say "ERROR: building $image failed"; exit 1; }
    buildah push -q "$image" "oci-archive:$archive.tmp:$image" && mv "$archive.tmp" "$archive"
    # Sources may change while a build runs: import takes what was built, not what is there now.
    ln -sfn "$(basename "$archive")" "$archives/$name-current.tar"
    # Older archives of this image are superseded.
    find "$archives" -maxdepth 1 -name "$name-*.tar" ! -name "$(basename "$archive")" ! -name "$name-current.tar" -delete
    say "$image built in $((SECONDS - t0))s"
  done
}

import_project() {
  local names=("$@")
  if [ ${#names[@]} -eq 0 ]; then
    for name in "${PROJECT_IMAGES[@]}"; do
      [ -f "$repo/$(dockerfile_of "$name")" ] && names+=("$name")
    done
  fi
  for name in "${names[@]}"; do
    local current="$archives/$name-current.tar"
    [ -e "$current" ] || { say "no built archive for $name: run 'images.sh build $name' first"; exit 1; }
    import_archive "$archives/$(readlink "$current")"
  done
}

case "${1:-}" in
  base) build_base ;;
  system) build_system ;;
  build) shift; build_project "$@" ;;
  import-system) import_system ;;
  import) shift; import_project "$@" ;;
  *) echo "usage: $0 base|system|build [NAME..]|import-system|import [NAME..]" >&2; exit 2 ;;
esac
