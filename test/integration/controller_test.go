//go:build e2e

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/test/poll"
)

const webhookConfigName = "ironlb-webhook-configuration"

// installWebhookConfiguration installs config/webhook/manifests.yaml under
// the controller's default name, pointed at a webhook on this host (the
// test apiserver cannot reach a Service), with an empty caBundle for the
// controller to fill. It is removed when the test ends, before the
// controller stops, so later tests are not refused by a missing webhook.
func installWebhookConfiguration(t *testing.T, port int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.Unmarshal(data, &vwc); err != nil {
		t.Fatal(err)
	}
	vwc.Name = webhookConfigName
	if len(vwc.Webhooks) != 6 {
		t.Fatalf("manifests.yaml has %d webhooks, want one per configuration kind (6)", len(vwc.Webhooks))
	}
	for i := range vwc.Webhooks {
		url := fmt.Sprintf("https://127.0.0.1:%d%s", port, *vwc.Webhooks[i].ClientConfig.Service.Path)
		vwc.Webhooks[i].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url}
	}
	ctx := context.Background()
	if err := env.Client.Create(ctx, &vwc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, &vwc) })
}

// startControllerWithWebhook runs the controller binary with configuration
// namespace cfgNS (created here), its webhook behind the default webhook
// configuration and a self-managed certificate, and returns once the
// controller is ready and has published its CA: from then on every
// metallb.io write goes through it.
func startControllerWithWebhook(t *testing.T, cfgNS string) *process {
	t.Helper()
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfgNS}}); err != nil {
		t.Fatalf("creating the configuration namespace %s: %v", cfgNS, err)
	}
	webhookPort, probePort := freePort(t), freePort(t)
	bgpPeerCRD(t) // the controller takes the CRD's conversion over
	p := start(t, binary(t, "controller"), nil,
		"--kubeconfig", env.Kubeconfig, "--namespace", cfgNS, "--port", "0",
		"--health-probe-port", strconv.Itoa(probePort),
		"--webhook-port", strconv.Itoa(webhookPort), "--cert-dir", t.TempDir(), "--webhook-extra-hosts", "127.0.0.1")
	installWebhookConfiguration(t, webhookPort)
	waitFor(t, p, fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort), 30*time.Second)

	deadline := time.Now().Add(30 * time.Second)
	for {
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		if err := env.Client.Get(ctx, types.NamespacedName{Name: webhookConfigName}, &vwc); err != nil {
			t.Fatal(err)
		}
		if len(vwc.Webhooks[0].ClientConfig.CABundle) > 0 {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatal("the controller did not publish the webhook CA")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestControllerBinary runs the controller binary with its webhook and
// self-managed certificate: the caBundle is published, each invalid
// configuration is refused with a message naming the object and field,
// arrival-order problems are admitted with a warning, and Services get IPs.
func TestControllerBinary(t *testing.T) {
	const cfgNS = "ironlb-binary"
	ctx := context.Background()
	startControllerWithWebhook(t, cfgNS)

	doc := func(kind, name, spec string) string {
		return fmt.Sprintf("apiVersion: metallb.io/%s\nkind: %s\nmetadata: {name: %s, namespace: %s}\nspec: %s\n",
			map[string]string{"BGPPeer": "v1beta2"}[kind]+map[bool]string{true: "v1beta1"}[kind != "BGPPeer"], kind, name, cfgNS, spec)
	}
	mustApply := func(t *testing.T, manifest string) string {
		t.Helper()
		_, stderr, err := env.KubectlOutput(manifest, "apply", "-f", "-")
		if err != nil {
			t.Fatalf("refused: %v\n%s", err, stderr)
		}
		return stderr
	}
	mustApply(t, doc("IPAddressPool", "main", "{addresses: [10.40.0.0/29]}"))
	mustApply(t, doc("BGPPeer", "tor", "{myASN: 64512, peerASN: 64500, peerAddress: 10.40.1.1}"))
	configState := func(want v1beta1.ConfigurationResult, summary string) {
		t.Helper()
		var cs v1beta1.ConfigurationState
		poll.True(t, "ConfigurationState controller is "+string(want), 30*time.Second, 100*time.Millisecond, func() bool {
			return env.Client.Get(ctx, types.NamespacedName{Namespace: cfgNS, Name: "controller"}, &cs) == nil &&
				cs.Status.Result == want && strings.Contains(cs.Status.ErrorSummary, summary)
		})
		if cs.Labels["metallb.io/component-type"] != "controller" || len(cs.Status.Conditions) != 1 || cs.Status.Conditions[0].Type != "poolReconcilerValid" {
			t.Errorf("ConfigurationState controller: labels %v, conditions %+v; want MetalLB's", cs.Labels, cs.Status.Conditions)
		}
	}
	configState(v1beta1.ConfigurationResultValid, "")

	refusals := []struct {
		name, manifest, want string
	}{
		{"overlapping pools", doc("IPAddressPool", "overlap", "{addresses: [10.40.0.4-10.40.0.9]}"),
			`IPAddressPool "overlap": spec.addresses: 10.40.0.4-10.40.0.9 overlaps 10.40.0.0-10.40.0.7 of IPAddressPool "main"`},
		{"unparsable address", doc("IPAddressPool", "typo", "{addresses: [10.40.9.300/24]}"),
			`IPAddressPool "typo": spec.addresses[0]: invalid CIDR`},
		{"range start after end", doc("IPAddressPool", "backwards", "{addresses: [10.40.9.9-10.40.9.1]}"),
			`IPAddressPool "backwards": spec.addresses[0]: invalid address range "10.40.9.9-10.40.9.1": start is after end`},
		{"mixed families", doc("IPAddressPool", "mixed", "{addresses: [10.40.9.1-fd00::1]}"),
			`IPAddressPool "mixed": spec.addresses[0]: invalid address range "10.40.9.1-fd00::1": mixes IPv4 and IPv6`},
		{"invalid community", doc("BGPAdvertisement", "bad-community", "{communities: ['65536:1']}"),
			`BGPAdvertisement "bad-community": spec.communities[0]: invalid community "65536:1"`},
		{"aggregation length out of range", doc("BGPAdvertisement", "too-long", "{aggregationLength: 33}"),
			`BGPAdvertisement "too-long": spec.aggregationLength: must be between 0 and 32`},
		{"duplicate peer", doc("BGPPeer", "tor-again", "{myASN: 64512, peerASN: 64500, peerAddress: 10.40.1.1}"),
			`BGPPeer "tor-again": spec.peerAddress: BGPPeer "tor" already peers with 10.40.1.1`},
		{"interface name", doc("L2Advertisement", "bad-if", "{interfaces: [this-name-is-too-long]}"),
			`L2Advertisement "bad-if": spec.interfaces[0]`},
	}
	for _, tt := range refusals {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			_, stderr, err := env.KubectlOutput(tt.manifest, "apply", "-f", "-")
			if err == nil {
				t.Fatalf("admitted:\n%s", tt.manifest)
			}
			if !strings.Contains(stderr, "denied the request") || !strings.Contains(stderr, tt.want) {
				t.Errorf("refusal %q does not contain %q", strings.TrimSpace(stderr), tt.want)
			}
		})
	}
	warnings := []struct {
		name, manifest, want string
	}{
		{"advertisement naming a pool not created yet", doc("L2Advertisement", "early", "{ipAddressPools: [later]}"),
			`Warning: L2Advertisement "early": spec.ipAddressPools[0]: IPAddressPool "later" does not exist (yet)`},
		{"advertisement naming a community alias not created yet (Helm applies BGPAdvertisement before Community)",
			doc("BGPAdvertisement", "early-community", "{communities: [no-export-later]}"),
			`"no-export-later" is neither a community value nor the name of an alias in a Community object (yet); it takes effect once that exists`},
		{"peer naming a BFD profile not created yet", doc("BGPPeer", "bfd-peer", "{myASN: 64512, peerASN: 64501, peerAddress: 10.40.1.2, bfdProfile: fast}"),
			`BFDProfile "fast" does not exist (yet)`},
		{"pool in another namespace", strings.Replace(doc("IPAddressPool", "elsewhere", "{addresses: [10.41.0.0/29]}"), cfgNS, "default", 1),
			`IronLB reads its configuration from namespace "ironlb-binary" only`},
	}
	for _, tt := range warnings {
		t.Run("admits with a warning: "+tt.name, func(t *testing.T) {
			if stderr := mustApply(t, tt.manifest); !strings.Contains(stderr, tt.want) {
				t.Errorf("kubectl printed %q, want a warning containing %q", stderr, tt.want)
			}
		})
	}

	// The arrival-order problems admitted above leave the newest
	// configuration invalid until their objects exist: the controller says so.
	configState(v1beta1.ConfigurationResultInvalid, `BFDProfile "fast" does not exist (yet)`)

	t.Run("allocates", func(t *testing.T) {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "binary-svc"},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}},
		}
		if err := env.Client.Create(ctx, svc); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(ctx, svc) })
		deadline := time.Now().Add(30 * time.Second)
		for {
			if err := env.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "binary-svc"}, svc); err != nil {
				t.Fatal(err)
			}
			if in := svc.Status.LoadBalancer.Ingress; len(in) == 1 && in[0].IP == "10.40.0.0" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("ingress %v, want 10.40.0.0", svc.Status.LoadBalancer.Ingress)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
