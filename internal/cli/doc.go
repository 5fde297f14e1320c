// Package cli holds what both IronLB binaries do the same way before any
// logic runs: flags that fall back to MetalLB's environment variables, the
// logger behind --log-level, and the Kubernetes client configuration behind
// --kubeconfig.
package cli
