// Package cluster is the lab `ironlab`: a real multi-node Kubernetes on one
// Linux host, each node a network namespace with its own containerd,
// kubelet and kube-proxy, the control plane inside the control-plane node,
// as kind does with containers. Config parsing and naming (config.go,
// plan.go) are pure; the rest does the I/O and keeps its state on disk so
// another process can stop, restart or delete what one process created.
package cluster
