package chart

import (
	"fmt"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// secretGrants lists every rule of the rendered chart that lets a subject
// read Secrets outside the release namespace: any ClusterRole rule naming
// secrets (or every resource) in the core group, and any Role placed in
// another namespace. BGP passwords and the memberlist key live in the
// release namespace; nothing needs more.
func secretGrants(t *testing.T, objs []object, releaseNS string) []string {
	t.Helper()
	var out []string
	for _, o := range objs {
		switch o.Kind {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			find(t, objs, o.Kind, o.Name, &r)
			if grantsSecrets(r.Rules) {
				out = append(out, fmt.Sprintf("ClusterRole %s grants Secrets in every namespace", o.Name))
			}
		case "Role":
			var r rbacv1.Role
			find(t, objs, o.Kind, o.Name, &r)
			if grantsSecrets(r.Rules) && r.Namespace != releaseNS {
				out = append(out, fmt.Sprintf("Role %s grants Secrets in namespace %q", o.Name, r.Namespace))
			}
		}
	}
	return out
}

func grantsSecrets(rules []rbacv1.PolicyRule) bool {
	return slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool {
		return (slices.Contains(r.APIGroups, "") || slices.Contains(r.APIGroups, "*")) &&
			(slices.Contains(r.Resources, "secrets") || slices.Contains(r.Resources, "*"))
	})
}

// TestSecretsOnlyInTheReleaseNamespace: the speaker and the controller read
// Secrets (BGP passwords, the webhook certificate) through Roles in the
// release namespace only; a ClusterRole granting Secrets is caught.
func TestSecretsOnlyInTheReleaseNamespace(t *testing.T) {
	objs := objects(t, helmTemplate(t, ""))
	if got := secretGrants(t, objs, "metallb-system"); len(got) > 0 {
		t.Errorf("Secrets readable outside the release namespace: %q", got)
	}
	var speakerRole rbacv1.Role
	if !find(t, objs, "Role", "ironlb-speaker", &speakerRole) || !grantsSecrets(speakerRole.Rules) || speakerRole.Namespace != "metallb-system" {
		t.Error("the speaker has no Role granting Secrets in the release namespace (BGPPeer passwordSecret cannot work)")
	}

	leak := object{Kind: "ClusterRole", Name: "leak", YAML: []byte("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: leak}\n" +
		"rules: [{apiGroups: [\"\"], resources: [secrets], verbs: [get]}]\n")}
	if got := secretGrants(t, []object{leak}, "metallb-system"); len(got) != 1 {
		t.Errorf("a ClusterRole granting Secrets is not caught: %q", got)
	}
}
