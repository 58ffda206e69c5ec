// Package demo runs a small demo cluster for dev mode: a few local HTTP
// "nodes" with a health endpoint, a recovery webhook that brings a node back,
// a status URL that reports every node's server and hypervisor (so that the
// reference engine keeps the nodes' status columns fresh), and endpoints to
// break and fix nodes by hand. With a webhook secret, the recovery webhook
// verifies the signature of each call as an engine should, and refuses the
// calls that are not the reference engine's.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/clusterhealth/healthd/internal/engine"
	"github.com/clusterhealth/healthd/internal/health"
)

// ClusterID is the demo cluster's ID.
const ClusterID = "demo"

// Store is what the demo writes to the engine contract.
type Store interface {
	UpsertCluster(ctx context.Context, c health.Cluster) error
	UpsertNode(ctx context.Context, n health.Node) error
}

// Demo is a running demo cluster.
type Demo struct {
	// URL is the base URL of the demo's HTTP server.
	URL    string
	logger *zap.Logger
	// RecoverDelay is how long a simulated recovery takes.
	RecoverDelay time.Duration
	// webhookSecret verifies the signature of the recovery webhook's calls;
	// empty accepts unsigned calls.
	webhookSecret string

	mu     sync.Mutex
	broken map[string]bool
	srv    *http.Server
}

// Start serves the demo nodes on addr (host:port; port 0 picks one) and
// writes the demo cluster and its nodes into the store. webhookSecret is the
// engine's ENGINE_WEBHOOK_SECRET: when it is set, the recovery webhook
// refuses (401) a call whose signature it does not verify.
func Start(ctx context.Context, addr string, nodes int, webhookSecret string, st Store, logger *zap.Logger) (*Demo, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo: listen on %s: %w", addr, err)
	}
	d := &Demo{URL: "http://" + ln.Addr().String(), logger: logger, broken: map[string]bool{}, RecoverDelay: 2 * time.Second,
		webhookSecret: webhookSecret}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /nodes/{name}/health", d.health)
	mux.HandleFunc("POST /nodes/{name}/break", d.toggle(true))
	mux.HandleFunc("POST /nodes/{name}/fix", d.toggle(false))
	mux.HandleFunc("POST /recover", d.recover)
	mux.HandleFunc("GET /status", d.status)
	mux.HandleFunc("GET /{$}", d.index)
	d.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = d.srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = d.srv.Shutdown(sctx)
	}()

	if err := st.UpsertCluster(ctx, health.Cluster{ID: ClusterID, Name: "demo", Project: "demo-project", User: "demo",
		ProfileType: "os.nova.server-1.0", RecoverWebhook: d.URL + "/recover", StatusURL: d.URL + "/status"}); err != nil {
		return nil, fmt.Errorf("demo: create cluster: %w", err)
	}
	for i := 1; i <= nodes; i++ {
		name := fmt.Sprintf("web-%d", i)
		// The status URL may already be read: the engine learns it above.
		d.mu.Lock()
		d.broken[name] = false
		d.mu.Unlock()
		err := st.UpsertNode(ctx, health.Node{ID: "demo-" + name, ClusterID: ClusterID, Name: name,
			PhysicalID: fmt.Sprintf("server-%d-1", i), Status: health.NodeActive, PhysicalStatus: "ACTIVE",
			InitAt: time.Now().Add(-time.Hour)})
		if err != nil {
			return nil, fmt.Errorf("demo: create node %s: %w", name, err)
		}
	}
	return d, nil
}

// Registration is the demo cluster's health policy: URL polling every 10 s
// with short retries and grace so that a break is seen and mended quickly.
func (d *Demo) Registration() health.Registration {
	return health.Registration{
		ClusterID: ClusterID, PolicyVersion: "1.2", Interval: 10, NodeUpdateTimeout: 15,
		RecoveryConditional: health.AnyFailed,
		DetectionModes: []health.DetectionMode{{
			Type: health.NodeStatusPollURL, PollURL: d.URL + "/nodes/{nodename}/health",
			PollURLSSLVerify: true, PollURLConnErrorAsUnhealthy: true, PollURLHealthyResponse: "ok",
			PollURLRetryLimit: 2, PollURLRetryInterval: 2,
		}},
		Recovery:          health.RecoveryAction{Name: health.OpRecreate},
		NodeDeleteTimeout: 20,
	}
}

func (d *Demo) health(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	d.mu.Lock()
	broken, ok := d.broken[name]
	d.mu.Unlock()
	switch {
	case !ok:
		http.Error(w, "no such node", http.StatusNotFound)
	case broken:
		http.Error(w, "broken", http.StatusServiceUnavailable)
	default:
		fmt.Fprintln(w, "ok")
	}
}

func (d *Demo) toggle(broken bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		d.mu.Lock()
		_, ok := d.broken[name]
		if ok {
			d.broken[name] = broken
		}
		d.mu.Unlock()
		if !ok {
			http.Error(w, "no such node", http.StatusNotFound)
			return
		}
		d.logger.Info("demo node changed by hand", zap.String("node", name), zap.Bool("broken", broken))
		fmt.Fprintf(w, "%s broken=%v\n", name, broken)
	}
}

// recover is the cluster's recovery webhook: it "recreates" the node, which
// comes back healthy after RecoverDelay. With a webhook secret it first
// verifies the call's signature, on the body as received.
func (d *Demo) recover(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if d.webhookSecret != "" {
		key := engine.ClusterWebhookKey(d.webhookSecret, ClusterID) // as a receiver is given it
		if err := engine.VerifyWebhookSignature(key, r.Header.Get(engine.SignatureHeader), body, time.Now(), 0); err != nil {
			d.logger.Warn("demo webhook: refused a call", zap.Error(err))
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
	}
	var req engine.WebhookRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	d.logger.Info("demo webhook: recovering node", zap.String("node", req.NodeName), zap.String("operation", req.Operation))
	select {
	case <-time.After(d.RecoverDelay):
	case <-r.Context().Done():
		return
	}
	d.mu.Lock()
	d.broken[req.NodeName] = false
	d.mu.Unlock()
	fmt.Fprintln(w, "recovered")
}

// status is the cluster's status URL: every demo server is ACTIVE on an
// enabled hypervisor that is up. A broken node is broken in its application
// (its health endpoint fails), not in its server.
func (d *Demo) status(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	names := make([]string, 0, len(d.broken))
	for n := range d.broken {
		names = append(names, n)
	}
	d.mu.Unlock()
	sort.Strings(names)
	rep := engine.StatusReport{Nodes: make([]health.ObservedStatus, 0, len(names))}
	for _, n := range names {
		rep.Nodes = append(rep.Nodes, health.ObservedStatus{Name: n, PhysicalStatus: "ACTIVE",
			HypervisorState: "up", HypervisorStatus: "enabled"})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rep)
}

func (d *Demo) index(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.broken))
	for n := range d.broken {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		state := "healthy"
		if d.broken[n] {
			state = "broken"
		}
		fmt.Fprintf(&b, "%s %s  (break: curl -X POST %s/nodes/%s/break)\n", n, state, d.URL, n)
	}
	fmt.Fprint(w, b.String())
}
