# Certificates for the local cluster, made with openssl: one cluster CA, one front-proxy CA for
# the aggregation layer (metrics-server), and a key pair per component. Sourced by cluster.sh.

# sign <name> <subject> <ca> [server SANs]: writes $pki/<name>.{key,crt} signed by $pki/<ca>.
sign() {
  local name=$1 subject=$2 ca=$3 sans=${4:-}
  [ -s "$pki/$name.crt" ] && return 0
  openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr" 2>/dev/null
  local ext="$pki/$name.ext"
  if [ -n "$sans" ]; then
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' "$sans" >"$ext"
  else
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$ext"
  fi
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.crt" -CAkey "$pki/$ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$ext"
}

make_ca() {
  local name=$1 cn=$2
  [ -s "$pki/$name.crt" ] && return 0
  openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
  openssl req -x509 -new -key "$pki/$name.key" -subj "/CN=$cn" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$pki/$name.crt" 2>/dev/null
}

# kubeconfig <file> <cert-name> <server>
kubeconfig() {
  local file=$1 cert=$2 server=$3
  cat >"$file" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: gameday
  cluster:
    certificate-authority: $pki/ca.crt
    server: $server
users:
- name: $cert
  user:
    client-certificate: $pki/$cert.crt
    client-key: $pki/$cert.key
contexts:
- name: gameday
  context: {cluster: gameday, user: $cert}
current-context: gameday
KCFG
}

make_pki() {
  mkdir -p "$pki"
  make_ca ca gameday-ca
  make_ca front-proxy-ca gameday-front-proxy-ca
  local api_sans="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP,IP:$API_SERVICE_IP"
  sign apiserver "/CN=kube-apiserver" ca "$api_sans"
  sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" ca
  sign admin "/O=system:masters/CN=gameday-admin" ca
  sign controller-manager "/CN=system:kube-controller-manager" ca
  sign scheduler "/CN=system:kube-scheduler" ca
  sign kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" ca
  sign kubelet-serving "/O=system:nodes/CN=system:node:$NODE_NAME" ca "DNS:$NODE_NAME,DNS:localhost,IP:$NODE_IP,IP:127.0.0.1"
  sign kube-proxy "/CN=system:kube-proxy" ca
  sign front-proxy-client "/CN=front-proxy-client" front-proxy-ca
  [ -s "$pki/sa.key" ] || {
    openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  }
  local server="https://127.0.0.1:6443"
  kubeconfig "$STATE/kubeconfig" admin "$server"
  kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager "$server"
  kubeconfig "$STATE/scheduler.kubeconfig" scheduler "$server"
  kubeconfig "$STATE/kubelet.kubeconfig" kubelet "$server"
  kubeconfig "$STATE/kube-proxy.kubeconfig" kube-proxy "$server"
}
