package migrate

import (
	"strings"
	"testing"
)

func metallbHelmInstall() Inventory {
	crd := func(name string) CRD {
		return CRD{Name: name, Release: "metallb", ReleaseNamespace: "metallb-system", ManagedBy: "Helm"}
	}
	bgp := crd("bgppeers.metallb.io")
	bgp.ConversionService = "metallb-system/metallb-webhook-service"
	return Inventory{
		Namespace: "metallb-system",
		CRDs:      []CRD{bgp, crd("ipaddresspools.metallb.io"), crd("l2advertisements.metallb.io")},
		Records: []HelmRecord{
			{Release: "metallb", Secret: "sh.helm.release.v1.metallb.v1", Revision: 1, Status: "superseded", CRDs: []string{"bgppeers.metallb.io"}},
			{Release: "metallb", Secret: "sh.helm.release.v1.metallb.v2", Revision: 2, Status: "deployed", CRDs: []string{"bgppeers.metallb.io", "ipaddresspools.metallb.io"}},
		},
		Config:   map[string]int{"IPAddressPool": 1, "L2Advertisement": 1},
		Services: []Service{{Key: "default/svc1", IPs: []string{"172.20.255.200"}, Pool: "my-ippool"}},
	}
}

func TestPlan(t *testing.T) {
	ironlb := Target{Release: "ironlb", Namespace: "metallb-system"}
	tests := []struct {
		name      string
		inv       Inventory
		target    Target
		wantSteps []string
		wantErr   string
	}{
		{name: "MetalLB's Helm release: every CRD adopted, every record rewritten", inv: metallbHelmInstall(), target: ironlb,
			wantSteps: []string{"CustomResourceDefinition bgppeers.metallb.io", "CustomResourceDefinition ipaddresspools.metallb.io",
				"CustomResourceDefinition l2advertisements.metallb.io", "Secret metallb-system/sh.helm.release.v1.metallb.v1",
				"Secret metallb-system/sh.helm.release.v1.metallb.v2"}},
		{name: "manifest install: CRDs adopted, no record to touch",
			inv: Inventory{Namespace: "metallb-system", CRDs: []CRD{{Name: "bgppeers.metallb.io"}}}, target: ironlb,
			wantSteps: []string{"CustomResourceDefinition bgppeers.metallb.io"}},
		{name: "done already: nothing to do", target: ironlb,
			inv: Inventory{Namespace: "metallb-system", CRDs: []CRD{{Name: "bgppeers.metallb.io", Release: "ironlb", ReleaseNamespace: "metallb-system", ManagedBy: "Helm", Keep: true}},
				Records: []HelmRecord{{Release: "ironlb", Secret: "sh.helm.release.v1.ironlb.v1", CRDs: []string{"bgppeers.metallb.io"}}}}},
		{name: "the way back: IronLB's records give the CRDs to MetalLB's release",
			inv: Inventory{Namespace: "metallb-system", CRDs: []CRD{{Name: "bgppeers.metallb.io", Release: "ironlb", ReleaseNamespace: "metallb-system", ManagedBy: "Helm", Keep: true}},
				Records: []HelmRecord{{Release: "ironlb", Secret: "sh.helm.release.v1.ironlb.v1", CRDs: []string{"bgppeers.metallb.io"}}}},
			target:    Target{Release: "metallb", Namespace: "metallb-system"},
			wantSteps: []string{"CustomResourceDefinition bgppeers.metallb.io", "Secret metallb-system/sh.helm.release.v1.ironlb.v1"}},
		{name: "the way back to manifests: Helm's marks removed, IronLB's records rewritten",
			inv: Inventory{Namespace: "metallb-system", CRDs: []CRD{{Name: "bgppeers.metallb.io", Release: "ironlb", ReleaseNamespace: "metallb-system", ManagedBy: "Helm", Keep: true}},
				Records: []HelmRecord{{Release: "ironlb", Secret: "sh.helm.release.v1.ironlb.v1", CRDs: []string{"bgppeers.metallb.io"}}}},
			target:    Target{Namespace: "metallb-system"},
			wantSteps: []string{"CustomResourceDefinition bgppeers.metallb.io", "Secret metallb-system/sh.helm.release.v1.ironlb.v1"}},
		{name: "the way back to manifests, done already", target: Target{Namespace: "metallb-system"},
			inv: Inventory{Namespace: "metallb-system", CRDs: []CRD{{Name: "bgppeers.metallb.io"}}}},
		{name: "no CRDs", inv: Inventory{Namespace: "metallb-system"}, target: ironlb, wantErr: "no metallb.io CRDs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps, err := Plan(tt.inv, tt.target)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range steps {
				got = append(got, s.Object)
			}
			if strings.Join(got, "\n") != strings.Join(tt.wantSteps, "\n") {
				t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.wantSteps, "\n"))
			}
		})
	}
}

func TestSummaryNamesWhatStays(t *testing.T) {
	got := strings.Join(metallbHelmInstall().Summary(), "\n")
	for _, want := range []string{"3 metallb.io CRDs, owned by Helm release metallb-system/metallb",
		"bgppeers.metallb.io converts through the webhook Service metallb-system/metallb-webhook-service",
		"1 IPAddressPool, 1 L2Advertisement", "default/svc1: 172.20.255.200 from pool my-ippool"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
}
