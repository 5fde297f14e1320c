//go:build e2e

package watch

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/internal/compat"
	"github.com/ironlb/ironlb/internal/metrics"
	"github.com/ironlb/ironlb/speaker/loop"
	"github.com/ironlb/ironlb/test/testenv"
)

// env is the package's control plane, started once.
var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env, nil)) }

// TestPeerPasswordsFromSecrets reads the configuration from a real
// apiserver: a peer's passwordSecret (basic-auth, key "password", in the
// release namespace) becomes its session's password; a peer whose Secret
// is missing, of another type, without a password, or only in another
// namespace, and a peer naming a VRF, each get a Warning Event on the
// BGPPeer naming it (and the Secret), and the others are unaffected.
func TestPeerPasswordsFromSecrets(t *testing.T) {
	ctx := context.Background()
	const ns, elsewhere = "metallb-system", "other"
	for _, n := range []string{ns, elsewhere} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	create := func(obj client.Object) {
		t.Helper()
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	basicAuth := func(namespace, name string, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Type: corev1.SecretTypeBasicAuth, Data: data}
	}
	create(basicAuth(ns, "good", map[string][]byte{"password": []byte("s3cret")}))
	create(basicAuth(ns, "no-password", map[string][]byte{"username": []byte("x")}))
	create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "opaque"}, Data: map[string][]byte{"password": []byte("x")}})
	create(basicAuth(elsewhere, "elsewhere", map[string][]byte{"password": []byte("x")}))
	create(&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pool"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.0.0/24"}}})
	peer := func(name, addr string, mutate func(*v1beta2.BGPPeerSpec)) {
		p := &v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64500, ASN: 64501, Address: addr}}
		if mutate != nil {
			mutate(&p.Spec)
		}
		create(p)
	}
	secret := func(name string) func(*v1beta2.BGPPeerSpec) {
		return func(s *v1beta2.BGPPeerSpec) { s.PasswordSecret.Name = name }
	}
	peer("plain", "192.0.2.1", nil)
	peer("inline", "192.0.2.2", func(s *v1beta2.BGPPeerSpec) { s.Password = "inline" })
	peer("with-secret", "192.0.2.3", secret("good"))
	peer("missing", "192.0.2.4", secret("absent"))
	peer("wrong-type", "192.0.2.5", secret("opaque"))
	peer("no-password", "192.0.2.6", secret("no-password"))
	peer("other-namespace", "192.0.2.7", secret("elsewhere"))
	peer("in-vrf", "192.0.2.8", func(s *v1beta2.BGPPeerSpec) { s.VRFName = "red" })

	m, err := metrics.NewClient(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan loop.Update, 1)
	rec := events.NewFakeRecorder(20)
	r := &Config{Client: env.Client, Namespace: ns, Out: out, Metrics: m, Log: logr.Discard(), Recorder: rec}
	if _, err := r.Reconcile(ctx, ctrl.Request{}); err != nil {
		t.Fatal(err)
	}
	cfg := (<-out).Config
	passwords := map[string]string{}
	for name, p := range cfg.Peers {
		passwords[name] = p.Password
	}
	want := map[string]string{"plain": "", "inline": "inline", "with-secret": "s3cret", "in-vrf": ""}
	if fmt.Sprint(passwords) != fmt.Sprint(want) {
		t.Errorf("peers and passwords %v, want %v", passwords, want)
	}

	var got []string
	for len(rec.Events) > 0 {
		got = append(got, <-rec.Events)
	}
	slices.Sort(got)
	wantEvents := []string{
		`BGPPeer "missing" gets no session: its passwordSecret "absent" does not exist in namespace metallb-system`,
		`BGPPeer "no-password" gets no session: its passwordSecret "no-password" has no key "password"`,
		`BGPPeer "other-namespace" gets no session: its passwordSecret "elsewhere" does not exist in namespace metallb-system`,
		`BGPPeer "wrong-type" gets no session: its passwordSecret "opaque" is of type "Opaque", want "kubernetes.io/basic-auth"`,
		`vrf is not supported: BGPPeer "in-vrf" (vrf "red") gets no session`,
	}
	if len(got) != len(wantEvents) {
		t.Fatalf("events %q, want one per refused peer: %q", got, wantEvents)
	}
	for i, w := range wantEvents {
		if !strings.HasPrefix(got[i], "Warning "+compat.ReasonBGPPeerRefused+" ") || !strings.Contains(got[i], w) {
			t.Errorf("event %q, want a Warning %s containing %q", got[i], compat.ReasonBGPPeerRefused, w)
		}
	}
}
