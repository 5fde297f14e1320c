package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sort"
)

// handler answers like traefik/whoami: who served the request, and the
// request as it arrived, so a client can tell pods apart and see whether its
// address survived kube-proxy (RemoteAddr).
type handler struct {
	// hostname is os.Hostname in production: the pod name inside a pod.
	hostname func() (string, error)
	// addrs is net.InterfaceAddrs in production.
	addrs func() ([]net.Addr, error)
}

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/health" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "OK")
		return
	}
	host, err := h.hostname()
	if err != nil {
		http.Error(w, "hostname: "+err.Error(), http.StatusInternalServerError)
		return
	}
	ips, err := h.ips()
	if err != nil {
		http.Error(w, "addresses: "+err.Error(), http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Hostname: %s\n", host)
	for _, ip := range ips {
		fmt.Fprintf(&b, "IP: %s\n", ip)
	}
	fmt.Fprintf(&b, "RemoteAddr: %s\n", r.RemoteAddr)
	writeRequest(&b, r)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// ips lists the non-loopback addresses of every interface, in the order the
// kernel reports them.
func (h handler) ips() ([]netip.Addr, error) {
	addrs, err := h.addrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		}
		addr, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		if addr = addr.Unmap(); !addr.IsLoopback() {
			out = append(out, addr)
		}
	}
	return out, nil
}

// writeRequest prints the request line, Host and the headers, sorted and one
// value per line, as the request arrived (the body is not echoed).
func writeRequest(b *bytes.Buffer, r *http.Request) {
	fmt.Fprintf(b, "%s %s %s\n", r.Method, r.RequestURI, r.Proto)
	fmt.Fprintf(b, "Host: %s\n", r.Host)
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range r.Header[k] {
			fmt.Fprintf(b, "%s: %s\n", k, v)
		}
	}
	b.WriteString("\n")
}
