package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ipNet(s string) *net.IPNet {
	ip, n, _ := net.ParseCIDR(s)
	n.IP = ip
	return n
}

func TestHandler(t *testing.T) {
	pod := handler{
		hostname: func() (string, error) { return "webpod1", nil },
		addrs: func() ([]net.Addr, error) {
			return []net.Addr{ipNet("127.0.0.1/8"), ipNet("10.10.1.5/24"), ipNet("::1/128"),
				ipNet("fe80::1/64"), &net.IPAddr{IP: net.ParseIP("::ffff:172.20.0.2")}}, nil
		},
	}
	for _, tc := range []struct {
		name     string
		h        handler
		method   string
		target   string
		header   map[string][]string
		wantCode int
		want     string
	}{{
		name: "root prints host, addresses, client and request", h: pod,
		method: "GET", target: "/",
		header:   map[string][]string{"User-Agent": {"curl/7.88.1"}, "Accept": {"*/*"}},
		wantCode: 200,
		want: "Hostname: webpod1\nIP: 10.10.1.5\nIP: fe80::1\nIP: 172.20.0.2\n" +
			"RemoteAddr: 172.20.0.3:40816\nGET / HTTP/1.1\nHost: 172.20.255.200\n" +
			"Accept: */*\nUser-Agent: curl/7.88.1\n\n",
	}, {
		name: "any path and repeated headers", h: pod,
		method: "POST", target: "/a/b?x=1",
		header:   map[string][]string{"X-Forwarded-For": {"1.2.3.4", "5.6.7.8"}},
		wantCode: 200,
		want: "Hostname: webpod1\nIP: 10.10.1.5\nIP: fe80::1\nIP: 172.20.0.2\n" +
			"RemoteAddr: 172.20.0.3:40816\nPOST /a/b?x=1 HTTP/1.1\nHost: 172.20.255.200\n" +
			"X-Forwarded-For: 1.2.3.4\nX-Forwarded-For: 5.6.7.8\n\n",
	}, {
		name: "health", h: pod, method: "GET", target: "/health",
		wantCode: 200, want: "OK\n",
	}, {
		name:   "hostname failure is a 500",
		h:      handler{hostname: func() (string, error) { return "", errors.New("uts gone") }, addrs: pod.addrs},
		method: "GET", target: "/", wantCode: 500, want: "hostname: uts gone\n",
	}, {
		name:   "address failure is a 500",
		h:      handler{hostname: pod.hostname, addrs: func() ([]net.Addr, error) { return nil, errors.New("netlink") }},
		method: "GET", target: "/", wantCode: 500, want: "addresses: netlink\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, nil)
			req.Host = "172.20.255.200"
			req.RemoteAddr = "172.20.0.3:40816"
			for k, v := range tc.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			if rec.Code != tc.wantCode {
				t.Errorf("status %d, want %d", rec.Code, tc.wantCode)
			}
			if diff := cmp.Diff(tc.want, rec.Body.String()); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPortFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    int
		wantErr bool
	}{
		{"default", nil, 80, false},
		{"ours", map[string]string{"WHOAMI_PORT": "8080"}, 8080, false},
		{"traefik's", map[string]string{"WHOAMI_PORT_NUMBER": "9090"}, 9090, false},
		{"ours wins", map[string]string{"WHOAMI_PORT": "8080", "WHOAMI_PORT_NUMBER": "9090"}, 8080, false},
		{"empty is unset", map[string]string{"WHOAMI_PORT": ""}, 80, false},
		{"not a number", map[string]string{"WHOAMI_PORT": "http"}, 0, true},
		{"out of range", map[string]string{"WHOAMI_PORT": "70000"}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := portFromEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("portFromEnv = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestServeFinishesInFlightRequests checks the SIGTERM path: once the
// context ends, a request already being handled still gets its answer.
func TestServeFinishesInFlightRequests(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, slow) }()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-entered
	cancel()
	close(release)
	if body := <-got; body != "done" {
		t.Errorf("in-flight request got %q, want done", body)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(shutdownGrace + 5*time.Second):
		t.Fatal("serve did not return after shutdown")
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("dial after shutdown: %v, want connection refused", err)
	}
}
