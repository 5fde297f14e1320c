#!/usr/bin/env bash
# Builds helm from tools/go.mod the way helm's own release build does: the
# version stamped, and the Kubernetes version its templates default to (the
# .Capabilities.KubeVersion of `helm template`, the one `helm lint` checks
# deprecations against) taken from its client-go, not the v1.20 a plain
# `go build` leaves. Cached by version outside the clone; prints the path.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${IRONLB_CACHE:-$HOME/.cache/ironlb}"
read -r helm_version client_go < <(go list -modfile=tools/go.mod -m -f '{{.Version}}' helm.sh/helm/v3 k8s.io/client-go | paste -sd' ')
# client-go v0.N.x ships with Kubernetes v1.N.
k8s_minor="$(cut -d. -f2 <<<"$client_go")"
out="$CACHE/tools/helm-$helm_version-k8s1.$k8s_minor/helm"
if [[ ! -x "$out" ]]; then
  echo "helm: building $helm_version (Kubernetes default v1.$k8s_minor) into $out" >&2
  mkdir -p "$(dirname "$out")"
  CGO_ENABLED=0 go build -modfile=tools/go.mod -trimpath -o "$out.tmp" -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=$helm_version \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor" \
    helm.sh/helm/v3/cmd/helm
  mv "$out.tmp" "$out"
fi
echo "$out"
