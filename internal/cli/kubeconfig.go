package cli

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// RESTConfig loads the client configuration: the kubeconfig file at path when
// given, otherwise the in-cluster service account, otherwise the usual
// kubeconfig search ($KUBECONFIG, ~/.kube/config).
func RESTConfig(path, userAgent string) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	switch {
	case path != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
		}
	default:
		cfg, err = rest.InClusterConfig()
		if err != nil {
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
			if err != nil {
				return nil, fmt.Errorf("no --kubeconfig, not in a cluster, and no usable default kubeconfig: %w", err)
			}
		}
	}
	cfg.UserAgent = userAgent
	return cfg, nil
}
