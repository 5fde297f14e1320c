package watch

import (
	"slices"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestReadyNodes(t *testing.T) {
	yes, no := new(bool), new(bool)
	*yes = true
	ep := func(node string, ready, serving *bool) discoveryv1.Endpoint {
		e := discoveryv1.Endpoint{Conditions: discoveryv1.EndpointConditions{Ready: ready, Serving: serving, Terminating: serving}}
		if node != "" {
			e.NodeName = &node
		}
		return e
	}
	slices_ := []discoveryv1.EndpointSlice{
		{Endpoints: []discoveryv1.Endpoint{ep("ready", yes, nil), ep("unknown", nil, nil), ep("draining", no, yes)}},
		{Endpoints: []discoveryv1.Endpoint{ep("gone", no, no), ep("", yes, nil), ep("ready", yes, yes)}},
	}
	// ready: Ready; unknown: no condition counts as ready; draining:
	// terminating but serving (kube-proxy still sends to it); gone: neither.
	if got, want := readyNodes(slices_), []string{"draining", "ready", "unknown"}; !slices.Equal(got, want) {
		t.Errorf("readyNodes = %v, want %v", got, want)
	}
}
