package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
)

// The floor is the least a MetalLB-compatible controller must ask of the
// apiserver per Service: it watches Services and gives each LoadBalancer
// Service without an IP the next address of the pool, in the requests
// IronLB's controller makes (one merge patch of /status carrying the
// ingress and the pool annotation, one IPAllocated Event through an
// events/v1 recorder), with as many writers and the same client QPS, and
// nothing else: no configuration, no allocator, no webhook. The benchmark
// runs it as a child process (this binary with -floor-kubeconfig), so it is
// started, killed and measured as the controllers are.

// floorWriters and floorQPS are IronLB's controller's defaults (16 writers,
// --kube-api-qps 500, --kube-api-burst 1000).
const (
	floorWriters = 16
	floorQPS     = 500
)

// runFloor serves until SIGTERM or SIGINT, or until it is killed.
func runFloor(kubeconfig, namespace, pool, prefix string, probePort int) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = floorQPS, 2*floorQPS
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	first, err := netip.ParsePrefix(prefix)
	if err != nil {
		return err
	}
	broadcaster := events.NewEventBroadcasterAdapter(cs)
	broadcaster.StartRecordingToSink(ctx.Done())
	recorder := broadcaster.NewRecorder("metallb-controller")

	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(namespace))
	services := factory.Core().V1().Services()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	if _, err := services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	factory.WaitForCacheSync(ctx.Done())
	ready := serveReady(probePort)
	defer ready.Close()
	go func() { <-ctx.Done(); queue.ShutDown() }()

	// The next address, and the one each Service was given, so a retry
	// writes the same. A restarted floor goes on after the highest address
	// already written, so it never writes one twice.
	var mu sync.Mutex
	next := first.Addr()
	given := map[string]netip.Addr{}
	all, err := services.Lister().List(labels.Everything())
	if err != nil {
		return err
	}
	for _, svc := range all {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if ip, err := netip.ParseAddr(in.IP); err == nil && first.Contains(ip) && !ip.Less(next) {
				next = ip.Next()
			}
		}
	}
	addressFor := func(key string) netip.Addr {
		mu.Lock()
		defer mu.Unlock()
		if ip, ok := given[key]; ok {
			return ip
		}
		ip := next
		next = next.Next()
		given[key] = ip
		return ip
	}
	write := func(key string) error {
		svc, err := services.Lister().Services(namespace).Get(key[len(namespace)+1:])
		if err != nil || svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) > 0 {
			return nil
		}
		ip := addressFor(key)
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"annotations": map[string]string{"metallb.io/ip-allocated-from-pool": pool}},
			"status":   map[string]any{"loadBalancer": map[string]any{"ingress": []map[string]string{{"ip": ip.String()}}}},
		})
		if err != nil {
			return err
		}
		if _, err := cs.CoreV1().Services(namespace).Patch(ctx, svc.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
			return fmt.Errorf("writing the status of %s: %w", key, err)
		}
		recorder.Eventf(svc, nil, corev1.EventTypeNormal, "IPAllocated", "Allocate", "Assigned IP [%q]", ip.String())
		return nil
	}
	var wg sync.WaitGroup
	for range floorWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				key, shutdown := queue.Get()
				if shutdown {
					return
				}
				if err := write(key); err != nil {
					queue.AddRateLimited(key)
				} else {
					queue.Forget(key)
				}
				queue.Done(key)
			}
		}()
	}
	wg.Wait()
	return nil
}

// serveReady answers /readyz (called once the Service cache has synced)
// until the server is closed.
func serveReady(port int) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	srv := &http.Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Handler: mux, ReadHeaderTimeout: time.Second}
	go func() { _ = srv.ListenAndServe() }()
	return srv
}
