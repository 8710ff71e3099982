#!/usr/bin/env bash
# The local single-node Kubernetes: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd + runc, kubelet, kube-proxy (iptables), bridge CNI, then CoreDNS and
# metrics-server as pods. Every process runs in the background with its log under
# $GAMEDAY_STATE/logs; `down` stops them all and removes every trace (mounts, netns, iptables
# chains, links, cgroups, state).
#
#   cluster.sh up | down | status | logs COMPONENT
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

STATE=${GAMEDAY_STATE:-/var/lib/gameday/cluster}
CACHE=${GAMEDAY_CACHE:-/var/cache/gameday}
BIN="$CACHE/bin"
NODE_NAME=${GAMEDAY_NODE_NAME:-gameday-node}
# The node's address lives on a port-less bridge the cluster makes (the kernel here has no
# dummy driver), so nothing depends on, or sends traffic to, the machine's real network.
NODE_LINK=gameday0
NODE_IP=10.213.0.1
BRIDGE=gdbr0
POD_CIDR=10.244.0.0/16
NODE_POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
pki="$STATE/pki"
logs="$STATE/logs"
pids="$STATE/pids"
CTR_SOCK="$STATE/containerd/containerd.sock"
export PATH="$BIN:$PATH"

# shellcheck source=lib/pki.sh
source "$here/lib/pki.sh"

say() { printf '[cluster] %s\n' "$*" >&2; }

fail_component() {
  local name=$1 why=$2
  say "ERROR: $name $why"
  if [ -f "$logs/$name.log" ]; then
    say "last 40 lines of $logs/$name.log:"
    tail -n 40 "$logs/$name.log" >&2
  fi
  exit 1
}

running() { [ -f "$pids/$1.pid" ] && kill -0 "$(cat "$pids/$1.pid")" 2>/dev/null; }

# start <name> <command...>: runs it in the background in its own session, logging to logs/.
start() {
  local name=$1; shift
  if running "$name"; then return 0; fi
  setsid "$@" >>"$logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$pids/$name.pid"
}

# wait_for <name> <seconds> <check command...>: fails with the component's log when the check
# does not pass in time or the process dies.
wait_for() {
  local name=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    running "$name" || fail_component "$name" "exited during start-up"
    [ $SECONDS -lt $deadline ] || fail_component "$name" "was not ready within ${timeout}s"
    sleep 0.5
  done
}

kc() { kubectl --kubeconfig "$STATE/kubeconfig" "$@"; }

api_ready() { kc get --raw /readyz; }

require_binaries() {
  local missing=()
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl coredns metrics-server; do
    [ -x "$BIN/$b" ] || missing+=("$b")
  done
  for b in containerd containerd-shim-runc-v2 runc ctr iptables openssl; do
    command -v "$b" >/dev/null || missing+=("$b")
  done
  [ -x /usr/lib/cni/bridge ] || missing+=("CNI plugins (containernetworking-plugins)")
  if [ ${#missing[@]} -gt 0 ]; then
    say "ERROR: missing: ${missing[*]}"
    say "build the binaries with 'make binaries' and install the packages with 'make deps'"
    exit 1
  fi
}

prepare_host() {
  modprobe br_netfilter 2>/dev/null || true
  modprobe overlay 2>/dev/null || true
  # The kubelet writes these itself and aborts node setup if a write fails; set them first.
  sysctl -qw net.ipv4.ip_forward=1 vm.overcommit_memory=1 vm.panic_on_oom=0 kernel.panic=10 \
    kernel.panic_on_oops=1 kernel.keys.root_maxkeys=1000000 kernel.keys.root_maxbytes=25000000
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  sysctl -qw net.ipv4.conf.all.route_localnet=1 2>/dev/null || true
  # Pods' network namespaces are bind mounts under /run/netns. The first `ip netns add` on the
  # machine (a test's own hosts, anyone's) bind-mounts that directory onto itself, hiding the
  # pods' mounts beneath: their sandboxes can then never be removed (unlinkat: device or
  # resource busy), the kubelet's PLEG errors every second and those pods stay Terminating.
  # Make it the shared mount point ip netns wants before any pod exists.
  mkdir -p /run/netns
  mountpoint -q /run/netns || mount --bind /run/netns /run/netns
  mount --make-shared /run/netns
  if ! ip link show "$NODE_LINK" >/dev/null 2>&1; then
    ip link add "$NODE_LINK" type bridge
    ip addr add "$NODE_IP/32" dev "$NODE_LINK"
  fi
  ip link set "$NODE_LINK" up
  # CoreDNS answers cluster names itself; nothing is forwarded off the machine.
  echo "nameserver $NODE_IP" >"$STATE/resolv.conf"
}

can_lower_oom_score() {
  if (echo -1 >/proc/self/oom_score_adj) 2>/dev/null; then echo yes; else echo no; fi
}

write_configs() {
  mkdir -p "$STATE/containerd" "$STATE/cni/net.d" "$STATE/cni/ipam" "$STATE/kubelet"
  cat >"$STATE/containerd/config.toml" <<TOML
version = 2
root = "$STATE/containerd/root"
state = "/run/gameday-containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CTR_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:3.10.1"
  # Without CAP_SYS_RESOURCE (as in this sandbox) runc cannot lower oom_score_adj to the
  # kubelet's -998/-997; CRI then keeps scores at or above containerd's own.
  restrict_oom_score_adj = $( [ "$(can_lower_oom_score)" = yes ] && echo false || echo true )
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
TOML
  cat >"$STATE/cni/net.d/10-gameday.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "gameday",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$NODE_POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  cat >"$STATE/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$CTR_SOCK
clusterDNS: [$DNS_SERVICE_IP]
clusterDomain: cluster.local
resolvConf: $STATE/resolv.conf
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
healthzBindAddress: 127.0.0.1
healthzPort: 10248
imageGCHighThresholdPercent: 100
evictionHard: {nodefs.available: "0%", nodefs.inodesFree: "0%", imagefs.available: "0%"}
serializeImagePulls: false
maxPods: 200
podPidsLimit: 4096
YAML
  cat >"$STATE/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: 0.0.0.0
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {minSyncPeriod: 1s, syncPeriod: 30s}
YAML
}

start_control_plane() {
  start etcd etcd --name gameday --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster gameday=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \
    --unsafe-no-fsync --quota-backend-bytes 4294967296
  wait_for etcd 60 curl -fsS http://127.0.0.1:2381/health

  start kube-apiserver kube-apiserver \
    --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="$NODE_IP" \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --client-ca-file="$pki/ca.crt" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$pki/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --requestheader-client-ca-file="$pki/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$pki/front-proxy-client.crt" \
    --proxy-client-key-file="$pki/front-proxy-client.key" \
    --enable-aggregator-routing=true --profiling=false --event-ttl=2h
  wait_for kube-apiserver 120 api_ready

  start kube-controller-manager kube-controller-manager \
    --kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false \
    --cluster-cidr="$POD_CIDR" --allocate-node-cidrs=true --node-cidr-mask-size=24 \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key" \
    --use-service-account-credentials=true --controllers='*,bootstrapsigner,tokencleaner' \
    --profiling=false
  start kube-scheduler kube-scheduler \
    --kubeconfig="$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --profiling=false
  wait_for kube-controller-manager 60 curl -fsSk https://127.0.0.1:10257/healthz
  wait_for kube-scheduler 60 curl -fsSk https://127.0.0.1:10259/healthz
}

start_node() {
  start containerd containerd --config "$STATE/containerd/config.toml"
  wait_for containerd 60 ctr -a "$CTR_SOCK" version
  "$here/images.sh" import-system
  start kubelet kubelet --config="$STATE/kubelet/config.yaml" \
    --kubeconfig="$STATE/kubelet.kubeconfig" --hostname-override="$NODE_NAME" \
    --node-ip="$NODE_IP" --root-dir="$STATE/kubelet/root" --cert-dir="$STATE/kubelet/pki"
  wait_for kubelet 120 curl -fsS http://127.0.0.1:10248/healthz
  start kube-proxy kube-proxy --config="$STATE/kube-proxy.yaml"
  wait_for kube-proxy 60 curl -fsS http://127.0.0.1:10256/healthz
  wait_for kubelet 120 kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
}

start_addons() {
  kc apply --server-side --force-conflicts -f "$here/addons/" >/dev/null
  wait_for kubelet 180 kc -n kube-system rollout status deployment/coredns --timeout=2s
  wait_for kubelet 180 kc -n kube-system rollout status deployment/metrics-server --timeout=2s
  wait_for kubelet 120 kc get --raw /apis/metrics.k8s.io/v1beta1/nodes
}

# Chains of a Kubernetes node in the host's iptables: kube-proxy's and the kubelet's (KUBE-*),
# the CNI plugins' (CNI-*).
node_chains() {
  local tool table
  for tool in iptables ip6tables; do
    command -v "$tool" >/dev/null || continue
    for table in filter nat mangle raw; do
      "$tool" -t "$table" -S 2>/dev/null | awk -v t="$tool/$table" '/^-N (KUBE|CNI)-/ {print t, $2}'
    done
  done
}

up() {
  require_binaries
  # `down` removes every KUBE-* and CNI-* chain, so a first `up` on a host that has some
  # already (another Kubernetes node) would end by removing that node's rules: refuse.
  if [ ! -d "$STATE" ] && [ -n "$(node_chains | head -1)" ]; then
    say "ERROR: the host's iptables already holds Kubernetes chains ($(node_chains | head -3 | tr '\n' ' ')...):"
    say "another Kubernetes node runs here, or a cluster of ours lost its state."
    say "If it was ours, 'cluster/cluster.sh down' removes them; else use another machine."
    return 1
  fi
  mkdir -p "$STATE" "$logs" "$pids"
  local t0=$SECONDS
  prepare_host
  make_pki
  write_configs
  start_control_plane
  say "control plane ready ($((SECONDS - t0))s)"
  start_node
  say "node $NODE_NAME Ready ($((SECONDS - t0))s)"
  start_addons
  say "CoreDNS and metrics-server ready ($((SECONDS - t0))s)"
  say "KUBECONFIG=$STATE/kubeconfig"
}

stop_pid() {
  local name=$1 pid
  [ -f "$pids/$name.pid" ] || return 0
  pid=$(cat "$pids/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pids/$name.pid"
}

down() {
  # Teardown keeps going past anything already gone: nothing here may stop it half way.
  set +e +o pipefail
  [ -d "$STATE" ] || say "no cluster state at $STATE"
  stop_pid kubelet
  # Pods' containers run under containerd-shim processes that outlive containerd itself.
  if [ -S "$CTR_SOCK" ]; then
    for t in $(ctr -a "$CTR_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr -a "$CTR_SOCK" -n k8s.io tasks kill -s KILL "$t" >/dev/null 2>&1
    done
  fi
  stop_pid kube-proxy
  for c in kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do stop_pid "$c"; done
  # Anything of ours still running (a component whose pid file was lost, the shims).
  pkill -KILL -f -- "--config[= ]$STATE/" 2>/dev/null
  pkill -KILL -f -- "$STATE/" 2>/dev/null
  pkill -KILL -f "containerd-shim-runc-v2 .*-address $CTR_SOCK" 2>/dev/null
  [ -x "$BIN/kube-proxy" ] && "$BIN/kube-proxy" --cleanup >/dev/null 2>&1
  # What kube-proxy --cleanup leaves: CNI's masquerade chains and the kubelet's own
  # (KUBE-FIREWALL, jumped to from INPUT and OUTPUT, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT), in
  # every table of both families. The jumps to them go first, then the chains. The host's
  # firewall is left as `up` found it (cluster/iptables-state.sh; .ci/run compares).
  for tool in iptables ip6tables; do
    command -v "$tool" >/dev/null || continue
    for table in filter nat mangle raw; do
      "$tool" -t "$table" -S 2>/dev/null |
        grep -E -- '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j (KUBE|CNI)-' |
        sed 's/^-A/-D/' |
        while read -r rule; do eval "$tool -t $table $rule" 2>/dev/null; done
      chains=$("$tool" -t "$table" -S 2>/dev/null | awk '/^-N (KUBE|CNI)-/ {print $2}')
      for chain in $chains; do "$tool" -t "$table" -F "$chain" 2>/dev/null; done
      for chain in $chains; do "$tool" -t "$table" -X "$chain" 2>/dev/null; done
    done
  done
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do ip netns delete "$ns" 2>/dev/null; done
  ip link delete "$BRIDGE" 2>/dev/null
  ip link delete "$NODE_LINK" 2>/dev/null
  # Mounts below the state (pod volumes, overlay snapshots, shm) and the runtime state.
  for base in "$STATE" /run/gameday-containerd; do
    grep -o " $base[^ ]*" /proc/self/mounts 2>/dev/null | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null; done
  done
  # cgroups the kubelet made (deepest first)
  for ctl in /sys/fs/cgroup/*/; do
    [ -d "$ctl/kubepods" ] && find "$ctl/kubepods" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf /run/gameday-containerd "$STATE"
  if pgrep -f -- "$STATE/" >/dev/null; then
    say "ERROR: processes using $STATE survived: $(pgrep -af -- "$STATE/" | head -3)"
    return 1
  fi
  say "cluster stopped and its state removed"
}

status() {
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy; do
    if running "$c"; then echo "$c: running (pid $(cat "$pids/$c.pid"))"; else echo "$c: stopped"; fi
  done
  if running kube-apiserver; then kc get nodes -o wide; kc get pods -A; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  logs) tail -n "${3:-100}" "$logs/${2:?component}.log" ;;
  *) echo "usage: $0 up|down|status|logs COMPONENT" >&2; exit 2 ;;
esac
