#!/usr/bin/env bash
# Builds the Kubernetes binaries IronLB tests and its lab run on, from the
# k8s.io/kubernetes module on the Go module proxy (no release downloads are
# reachable here), and caches them by version outside the clone.
#
#   hack/k8s-binaries.sh [NAME...]     default: every binary below
#   prints the bin directory on stdout; progress goes to stderr.
#
# A second run finds the version-stamped binaries and does nothing.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.36.3}"
CACHE="${IRONLB_CACHE:-$HOME/.cache/ironlb}"
ROOT="$CACHE/k8s/$K8S_VERSION"
BIN="$ROOT/bin"
SRC="$ROOT/build"

ALL=(kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet kube-proxy)
if [[ $# -gt 0 ]]; then WANT=("$@"); else WANT=("${ALL[@]}"); fi

# envtest wants etcd beside kube-apiserver: link Debian's (apt-get install
# etcd-server) into the same folder.
link_etcd() {
  local etcd
  etcd="$(command -v etcd || true)"
  if [[ -z "$etcd" ]]; then
    echo "k8s-binaries: etcd not found; install it with: apt-get install etcd-server" >&2
    exit 1
  fi
  mkdir -p "$BIN"
  ln -sfn "$etcd" "$BIN/etcd"
}

missing=()
for name in "${WANT[@]}"; do
  [[ -x "$BIN/$name" ]] || missing+=("$name")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  link_etcd
  echo "$BIN"
  exit 0
fi

mkdir -p "$BIN" "$SRC"
log() { echo "k8s-binaries: $*" >&2; }

if [[ ! -f "$SRC/go.sum" ]]; then
  log "preparing build module for k8s.io/kubernetes@$K8S_VERSION"
  gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  minor="${K8S_VERSION#v1.}"; staging_version="v0.${minor}"
  goline="$(grep -m1 '^go ' "$gomod")"
  {
    echo "module ironlb.local/k8s-binaries"
    echo
    echo "$goline"
    echo
    echo "godebug default=go1.26"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } > "$SRC/go.mod"
  cat > "$SRC/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  (cd "$SRC" && GOFLAGS=-mod=mod go mod tidy >&2)
fi

major_minor="${K8S_VERSION#v}"; major="${major_minor%%.*}"; rest="${major_minor#*.}"; minor="${rest%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
for name in "${missing[@]}"; do
  start=$(date +%s)
  log "building $name $K8S_VERSION (first time only; minutes on 2 cores)"
  (cd "$SRC" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$BIN/$name.tmp" "k8s.io/kubernetes/cmd/$name")
  mv "$BIN/$name.tmp" "$BIN/$name"
  log "built $name in $(( $(date +%s) - start ))s"
done
link_etcd
echo "$BIN"
