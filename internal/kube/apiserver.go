package kube

import (
	"context"
	"fmt"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// APIServerAnswers returns a check that the apiserver answers at all: any
// HTTP response to /readyz, ready or not, means this process reaches it.
// A speaker that stops hearing its peers asks it to tell whether it is the
// one cut off.
func APIServerAnswers(cfg *rest.Config) (func(context.Context) error, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("apiserver client: %w", err)
	}
	return func(ctx context.Context) error {
		res := dc.RESTClient().Get().AbsPath("/readyz").Do(ctx)
		var code int
		if res.StatusCode(&code); code != 0 {
			return nil
		}
		if err := res.Error(); err != nil {
			return fmt.Errorf("apiserver /readyz: %w", err)
		}
		return nil
	}, nil
}
