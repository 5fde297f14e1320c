package compat

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestLoadBalancerIPs(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		specIP      string
		want        []string
		wantErr     string
	}{
		{name: "nothing requested"},
		{name: "dual-stack annotation", annotations: map[string]string{AnnotationLoadBalancerIPs: "172.20.255.210, fd00::5"},
			want: []string{"172.20.255.210", "fd00::5"}},
		{name: "deprecated spelling", annotations: map[string]string{DeprecatedAnnotationLoadBalancerIPs: "10.0.0.1"}, want: []string{"10.0.0.1"}},
		{name: "current spelling wins", annotations: map[string]string{AnnotationLoadBalancerIPs: "10.0.0.1", DeprecatedAnnotationLoadBalancerIPs: "10.0.0.2"},
			want: []string{"10.0.0.1"}},
		{name: "spec.loadBalancerIP", specIP: "10.0.0.9", want: []string{"10.0.0.9"}},
		{name: "IPv4-mapped is read as IPv4", annotations: map[string]string{AnnotationLoadBalancerIPs: "::ffff:10.0.0.1"}, want: []string{"10.0.0.1"}},
		// MetalLB treats an empty annotation as absent; IronLB used to
		// refuse the Service ("" is not an IP address).
		{name: "empty annotation is no request", annotations: map[string]string{AnnotationLoadBalancerIPs: ""}},
		{name: "empty annotation with spec.loadBalancerIP", annotations: map[string]string{AnnotationLoadBalancerIPs: ""}, specIP: "10.0.0.9",
			want: []string{"10.0.0.9"}},
		{name: "both annotation and spec", annotations: map[string]string{AnnotationLoadBalancerIPs: "10.0.0.1"}, specIP: "10.0.0.2",
			wantErr: "both metallb.io/loadBalancerIPs and spec.loadBalancerIP"},
		{name: "unparsable entry", annotations: map[string]string{AnnotationLoadBalancerIPs: "10.0.0.1,ten"}, wantErr: `"ten" is not an IP address`},
		{name: "trailing comma", annotations: map[string]string{AnnotationLoadBalancerIPs: "10.0.0.1,"}, wantErr: `"" is not an IP address`},
		{name: "three addresses", annotations: map[string]string{AnnotationLoadBalancerIPs: "10.0.0.1,10.0.0.2,fd00::1"}, wantErr: "at most one IPv4 and one IPv6"},
		// Found by FuzzLoadBalancerIPs: a zone passed the pool check and
		// then failed every status write.
		{name: "zone in the annotation", annotations: map[string]string{AnnotationLoadBalancerIPs: "fd00::5%eth0"}, wantErr: "no zone"},
		{name: "zone in spec.loadBalancerIP", specIP: "fe80::1%1", wantErr: "no zone"},
		{name: "unparsable spec.loadBalancerIP", specIP: "x", wantErr: "spec.loadBalancerIP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ips, err := LoadBalancerIPs(tt.annotations, tt.specIP)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadBalancerIPs = %v, %v; want error containing %q", ips, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ip := range ips {
				got = append(got, ip.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("LoadBalancerIPs = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzLoadBalancerIPs feeds arbitrary annotation values and
// spec.loadBalancerIP: either an error naming where the bad value is, or
// at most two valid, zoneless, unmapped IPs that print and parse back.
func FuzzLoadBalancerIPs(f *testing.F) {
	for _, s := range [][3]string{
		{"172.20.255.210, fd00::5", "", ""}, {"", "10.0.0.1", ""}, {"", "", "10.0.0.9"}, {"10.0.0.1", "", "10.0.0.2"},
		{"10.0.0.1,ten", "", ""}, {"10.0.0.1,", "", ""}, {"fd00::5%eth0", "", ""}, {"", "", "fe80::1%1"},
		{"::ffff:10.0.0.1", "", ""}, {"1.1.1.1,2.2.2.2,3.3.3.3", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, current, deprecated, specIP string) {
		ann := map[string]string{AnnotationLoadBalancerIPs: current, DeprecatedAnnotationLoadBalancerIPs: deprecated}
		ips, err := LoadBalancerIPs(ann, specIP)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, "metallb.io/loadBalancerIPs") && !strings.Contains(msg, "metallb.universe.tf/loadBalancerIPs") &&
				!strings.Contains(msg, "spec.loadBalancerIP") {
				t.Fatalf("error %q names neither annotation nor field", msg)
			}
			return
		}
		if current == "" && deprecated == "" && specIP == "" && ips != nil {
			t.Fatalf("nothing requested, got %v", ips)
		}
		if len(ips) > 2 {
			t.Fatalf("%d IPs: %v", len(ips), ips)
		}
		for _, ip := range ips {
			if !ip.IsValid() || ip.Zone() != "" || ip.Is4In6() {
				t.Fatalf("requested IP %#v (from %q, %q, %q) is not a plain address", ip, current, deprecated, specIP)
			}
			if back, err := netip.ParseAddr(ip.String()); err != nil || back != ip {
				t.Fatalf("%s does not print and parse back: %v, %v", ip, back, err)
			}
		}
	})
}
