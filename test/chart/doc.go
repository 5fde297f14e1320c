// Package chart checks what users install: every rendering of the Helm
// chart (charts/ironlb) and the kustomization (config/default) against the
// Kubernetes 1.36 schemas and our CRDs (kubeconform, offline), the pods
// against the Pod Security Standards (the apiserver's own checks), and the
// chart's RBAC against the roles controller-gen generates from the code.
// Everything runs offline; the converted schemas are cached under
// ${IRONLB_CACHE:-$HOME/.cache/ironlb}/kubeconform.
package chart
