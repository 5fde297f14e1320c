package webhook

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/conversion"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
)

// ConversionPath is where the bgppeers.metallb.io CRD sends conversion
// reviews, MetalLB's path.
const ConversionPath = "/convert"

// SetupConversion serves BGPPeer conversion between v1beta1 and the stored
// v1beta2 at ConversionPath.
func SetupConversion(mgr ctrl.Manager) error {
	newConverter := conversion.NewHubSpokeConverter(&v1beta2.BGPPeer{},
		conversion.NewSpokeConverter(&v1beta1.BGPPeer{},
			func(_ context.Context, hub *v1beta2.BGPPeer, spoke *v1beta1.BGPPeer) error {
				return v1beta1.ConvertFromV1beta2(hub, spoke)
			},
			func(_ context.Context, spoke *v1beta1.BGPPeer, hub *v1beta2.BGPPeer) error {
				return v1beta1.ConvertToV1beta2(spoke, hub)
			}))
	converter, err := newConverter(mgr.GetScheme())
	if err != nil {
		return fmt.Errorf("setting up BGPPeer conversion: %w", err)
	}
	registry := conversion.NewRegistry()
	if err := registry.RegisterConverter(v1beta2.GroupVersion.WithKind("BGPPeer").GroupKind(), converter); err != nil {
		return fmt.Errorf("setting up BGPPeer conversion: %w", err)
	}
	mgr.GetWebhookServer().Register(ConversionPath, conversion.NewWebhookHandler(mgr.GetScheme(), registry))
	return nil
}
