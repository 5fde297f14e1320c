// Package webhook admits or refuses metallb.io configuration objects with
// the same validation the controller and speakers apply (internal/config):
// the object is checked together with the rest of the configuration, and
// refused only for problems that involve it.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/kube"
)

// The webhook configuration (config/webhook/manifests.yaml) is generated
// from these markers by `make manifests`.
//
// +kubebuilder:webhook:path=/validate-metallb-io-v1beta1-ipaddresspool,mutating=false,failurePolicy=fail,sideEffects=None,groups=metallb.io,resources=ipaddresspools,verbs=create;update,versions=v1beta1,name=ipaddresspoolvalidationwebhook.metallb.io,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-metallb-io-v1beta1-l2advertisement,mutating=false,failurePolicy=fail,sideEffects=None,groups=metallb.io,resources=l2advertisements,verbs=create;update,versions=v1beta1,name=l2advertisementvalidationwebhook.metallb.io,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-metallb-io-v1beta1-bgpadvertisement,mutating=false,failurePolicy=fail,sideEffects=None,groups=metallb.io,resources=bgpadvertisements,verbs=create;update,versions=v1beta1,name=bgpadvertisementvalidationwebhook.metallb.io,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-metallb-io-v1beta2-bgppeer,mutating=false,failurePolicy=fail,sideEffects=None,groups=metallb.io,resources=bgppeers,verbs=create;update,versions=v1beta2,name=bgppeervalidationwebhook.metallb.io,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-metallb-io-v1beta1-community,mutating=false,failurePolicy=fail,sideEffects=None,groups=metallb.io,resources=communities,verbs=create;update,versions=v1beta1,name=communityvalidationwebhook.metallb.io,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-metallb-io-v1beta1-bfdprofile,mutating=false,failurePolicy=fail,sideEffects=None,groups=metallb.io,resources=bfdprofiles,verbs=create;update,versions=v1beta1,name=bfdprofilevalidationwebhook.metallb.io,admissionReviewVersions=v1

// Setup registers a validating webhook per configuration kind. reader
// should read from the apiserver, not a cache, so that two objects admitted
// back to back see each other.
func Setup(mgr ctrl.Manager, reader client.Reader, namespace string) error {
	regs := []error{
		register(mgr, &v1beta1.IPAddressPool{}, reader, namespace, config.KindIPAddressPool,
			func(r *config.Resources, o *v1beta1.IPAddressPool) { r.Pools = put(r.Pools, *o) }),
		register(mgr, &v1beta1.L2Advertisement{}, reader, namespace, config.KindL2Advertisement,
			func(r *config.Resources, o *v1beta1.L2Advertisement) {
				r.L2Advertisements = put(r.L2Advertisements, *o)
			}),
		register(mgr, &v1beta1.BGPAdvertisement{}, reader, namespace, config.KindBGPAdvertisement,
			func(r *config.Resources, o *v1beta1.BGPAdvertisement) {
				r.BGPAdvertisements = put(r.BGPAdvertisements, *o)
			}),
		register(mgr, &v1beta2.BGPPeer{}, reader, namespace, config.KindBGPPeer,
			func(r *config.Resources, o *v1beta2.BGPPeer) { r.Peers = put(r.Peers, *o) }),
		register(mgr, &v1beta1.Community{}, reader, namespace, config.KindCommunity,
			func(r *config.Resources, o *v1beta1.Community) { r.Communities = put(r.Communities, *o) }),
		register(mgr, &v1beta1.BFDProfile{}, reader, namespace, config.KindBFDProfile,
			func(r *config.Resources, o *v1beta1.BFDProfile) { r.BFDProfiles = put(r.BFDProfiles, *o) }),
	}
	return errors.Join(regs...)
}

func register[T client.Object](mgr ctrl.Manager, obj T, reader client.Reader, namespace, kind string, add func(*config.Resources, T)) error {
	v := &validator[T]{reader: reader, namespace: namespace, kind: kind, add: add}
	if err := ctrl.NewWebhookManagedBy(mgr, obj).WithValidator(v).Complete(); err != nil {
		return fmt.Errorf("registering the %s webhook: %w", kind, err)
	}
	return nil
}

// named are pointers to API objects with a name.
type named[T any] interface {
	*T
	GetName() string
}

// put replaces the object of the same name, or appends it.
func put[T any, PT named[T]](list []T, obj T) []T {
	name := PT(&obj).GetName()
	i := slices.IndexFunc(list, func(o T) bool { return PT(&o).GetName() == name })
	if i < 0 {
		return append(list, obj)
	}
	list = slices.Clone(list)
	list[i] = obj
	return list
}

type validator[T client.Object] struct {
	reader    client.Reader
	namespace string
	kind      string
	add       func(*config.Resources, T)
}

func (v *validator[T]) ValidateCreate(ctx context.Context, obj T) (admission.Warnings, error) {
	return v.validate(ctx, obj)
}

func (v *validator[T]) ValidateUpdate(ctx context.Context, _, obj T) (admission.Warnings, error) {
	return v.validate(ctx, obj)
}

// ValidateDelete admits every deletion: what a deletion breaks (an
// advertisement naming the pool) may be what the user does next, and the
// controller keeps Services' IPs whatever happens to their pool.
func (v *validator[T]) ValidateDelete(context.Context, T) (admission.Warnings, error) {
	return nil, nil
}

func (v *validator[T]) validate(ctx context.Context, obj T) (admission.Warnings, error) {
	if obj.GetNamespace() != v.namespace {
		return admission.Warnings{fmt.Sprintf("IronLB reads its configuration from namespace %q only: this %s in %q has no effect",
			v.namespace, v.kind, obj.GetNamespace())}, nil
	}
	res, err := kube.ListConfig(ctx, v.reader, v.namespace)
	if err != nil {
		return nil, err
	}
	v.add(&res, obj)
	_, warnings, parseErr := config.Parse(res)
	self := config.Ref{Kind: v.kind, Name: obj.GetName()}
	var out admission.Warnings
	for _, w := range warnings {
		if w.Involves(self) {
			out = append(out, w.Error())
		}
	}
	var invalid *config.InvalidError
	if parseErr != nil && !errors.As(parseErr, &invalid) {
		return out, parseErr
	}
	var refused []string
	if invalid != nil {
		for _, p := range invalid.Involving(self) {
			if p.Transient {
				out = append(out, p.Error()+"; it takes effect once that exists")
				continue
			}
			refused = append(refused, p.Error())
		}
	}
	if len(refused) > 0 {
		return out, errors.New(strings.Join(refused, "; "))
	}
	return out, nil
}
