package probe_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/netguard"
	"github.com/clusterhealth/healthd/internal/probe"
)

var _ activities.URLProber = (*probe.Prober)(nil)

// node is a fake poll-URL endpoint that counts the requests each path receives.
type node struct {
	srv   *httptest.Server
	mu    sync.Mutex
	count map[string]int
}

func newNode(t *testing.T, maxBody int) *node {
	t.Helper()
	n := &node{count: make(map[string]int)}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("node web-1\nstatus: ALIVE\n"))
	})
	mux.HandleFunc("/dead", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("node web-1\nstatus: DEAD\n"))
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "status: ALIVE", http.StatusInternalServerError)
	})
	mux.HandleFunc("/404", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "status: ALIVE", http.StatusNotFound)
	})
	mux.HandleFunc("/204", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	body := func(size int) []byte { return []byte("status: ALIVE" + strings.Repeat("x", size-len("status: ALIVE"))) }
	mux.HandleFunc("/exact", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(body(maxBody))
	})
	mux.HandleFunc("/big-chunked", func(w http.ResponseWriter, r *http.Request) {
		b := body(maxBody + 1)
		_, _ = w.Write(b[:10])
		w.(http.Flusher).Flush() // forces chunked encoding: no Content-Length
		_, _ = w.Write(b[10:])
	})
	mux.HandleFunc("/big-length", func(w http.ResponseWriter, r *http.Request) {
		b := body(maxBody + 1)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/redirect-ok", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/redirect-ftp", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://example.com/ok", http.StatusFound)
	})
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		n.count[r.URL.Path]++
		n.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(n.srv.Close)
	return n
}

func (n *node) requests(path string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.count[path]
}

func mode(connErrUnhealthy bool, pattern string) health.DetectionMode {
	return health.DetectionMode{
		Type:                        health.NodeStatusPollURL,
		PollURLSSLVerify:            true,
		PollURLConnErrorAsUnhealthy: connErrUnhealthy,
		PollURLHealthyResponse:      pattern,
		PollURLRetryLimit:           3,
		PollURLRetryInterval:        3,
	}
}

func TestProbeResponses(t *testing.T) {
	const maxBody = 4096
	n := newNode(t, maxBody)
	p := probe.New(probe.Options{MaxBody: maxBody, Policy: netguard.Loopback})

	tests := []struct {
		name       string
		path       string
		mode       health.DetectionMode
		want       health.ProbeResult
		wantDetail string
	}{
		{"pattern matches", "/ok", mode(true, "ALIVE"), health.ProbeResult{Healthy: true, StatusCode: 200}, "200 OK, pattern matched"},
		{"unanchored regexp", "/ok", mode(true, `status:\s+A[L]+IVE`), health.ProbeResult{Healthy: true, StatusCode: 200}, "pattern matched"},
		{"pattern not matched", "/dead", mode(true, "ALIVE"), health.ProbeResult{StatusCode: 200}, "200 OK, pattern not matched"},
		{"not matched ignores conn error switch", "/dead", mode(false, "ALIVE"), health.ProbeResult{StatusCode: 200}, "pattern not matched"},
		{"empty pattern matches any body", "/dead", mode(true, ""), health.ProbeResult{Healthy: true, StatusCode: 200}, "pattern matched"},
		{"empty pattern matches empty body", "/empty", mode(true, ""), health.ProbeResult{Healthy: true, StatusCode: 200}, "pattern matched"},
		{"204 is 2xx", "/204", mode(true, ""), health.ProbeResult{Healthy: true, StatusCode: 204}, "204 No Content"},
		{"500 with matching body is conn error", "/500", mode(true, "ALIVE"), health.ProbeResult{ConnError: true, StatusCode: 500}, "500 Internal Server Error"},
		{"404 with matching body is conn error", "/404", mode(true, "ALIVE"), health.ProbeResult{ConnError: true, StatusCode: 404}, "404 Not Found"},
		{"500 ignored when conn errors are healthy", "/500", mode(false, "ALIVE"), health.ProbeResult{Healthy: true, ConnError: true, StatusCode: 500}, "500 Internal Server Error"},
		{"body at the cap", "/exact", mode(true, "ALIVE"), health.ProbeResult{Healthy: true, StatusCode: 200}, "pattern matched"},
		{"chunked body over the cap", "/big-chunked", mode(true, "ALIVE"), health.ProbeResult{ConnError: true, StatusCode: 200}, "body exceeds 4096 bytes"},
		{"declared body over the cap", "/big-length", mode(true, "ALIVE"), health.ProbeResult{ConnError: true, StatusCode: 200}, "body exceeds 4096 bytes"},
		{"oversized body ignored when conn errors are healthy", "/big-chunked", mode(false, "ALIVE"), health.ProbeResult{Healthy: true, ConnError: true, StatusCode: 200}, "body exceeds 4096 bytes"},
		{"redirect followed", "/redirect-ok", mode(true, "ALIVE"), health.ProbeResult{Healthy: true, StatusCode: 200}, "pattern matched"},
		{"redirect to other scheme refused", "/redirect-ftp", mode(true, "ALIVE"), health.ProbeResult{ConnError: true}, `redirect to unsupported scheme "ftp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := n.requests(tt.path)
			got := p.Probe(t.Context(), "", n.srv.URL+tt.path, tt.mode)
			if reqs := n.requests(tt.path) - before; reqs != 1 {
				t.Errorf("got %d requests to %s, want 1", reqs, tt.path)
			}
			checkResult(t, got, tt.want, tt.wantDetail)
		})
	}
}

func checkResult(t *testing.T, got, want health.ProbeResult, wantDetail string) {
	t.Helper()
	if got.Healthy != want.Healthy || got.ConnError != want.ConnError || got.StatusCode != want.StatusCode {
		t.Errorf("got healthy=%v conn_error=%v status=%d, want healthy=%v conn_error=%v status=%d (detail %q)",
			got.Healthy, got.ConnError, got.StatusCode, want.Healthy, want.ConnError, want.StatusCode, got.Detail)
	}
	if !strings.Contains(got.Detail, wantDetail) {
		t.Errorf("got detail %q, want it to contain %q", got.Detail, wantDetail)
	}
}

func TestProbeDefaultMaxBody(t *testing.T) {
	n := newNode(t, int(probe.DefaultMaxBody))
	p := probe.New(probe.Options{Policy: netguard.Loopback})
	checkResult(t, p.Probe(t.Context(), "", n.srv.URL+"/exact", mode(true, "ALIVE")),
		health.ProbeResult{Healthy: true, StatusCode: 200}, "pattern matched")
	checkResult(t, p.Probe(t.Context(), "", n.srv.URL+"/big-chunked", mode(true, "ALIVE")),
		health.ProbeResult{ConnError: true, StatusCode: 200}, "body exceeds 524288 bytes")
}

func TestProbeConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	p := probe.New(probe.Options{Policy: netguard.Loopback})
	for _, unhealthy := range []bool{true, false} {
		got := p.Probe(t.Context(), "", "http://"+addr+"/health", mode(unhealthy, "ALIVE"))
		checkResult(t, got, health.ProbeResult{Healthy: !unhealthy, ConnError: true}, "connect: connection refused")
	}
}

func TestProbeTLSVerification(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("status: ALIVE"))
	}))
	t.Cleanup(srv.Close)
	p := probe.New(probe.Options{Policy: netguard.Loopback})

	tests := []struct {
		name       string
		verify     bool
		want       health.ProbeResult
		wantDetail string
	}{
		{"self-signed accepted without verification", false, health.ProbeResult{Healthy: true, StatusCode: 200}, "pattern matched"},
		{"self-signed rejected with verification", true, health.ProbeResult{ConnError: true}, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mode(true, "ALIVE")
			m.PollURLSSLVerify = tt.verify
			checkResult(t, p.Probe(t.Context(), "", srv.URL, m), tt.want, tt.wantDetail)
		})
	}
}

func TestProbeRejectsURL(t *testing.T) {
	p := probe.New(probe.Options{Policy: netguard.Loopback})
	tests := []struct {
		url, wantDetail string
	}{
		{"", "empty URL"},
		{"ftp://mon.example/web-1", `unsupported URL scheme "ftp"`},
		{"file:///etc/hostname", `unsupported URL scheme "file"`},
		{"mon.example/web-1/health", `unsupported URL scheme ""`},
		{"http://", "URL has no host"},
		{"http://mon example/", "invalid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			for _, unhealthy := range []bool{true, false} {
				got := p.Probe(t.Context(), "", tt.url, mode(unhealthy, ""))
				checkResult(t, got, health.ProbeResult{Healthy: !unhealthy, ConnError: true}, tt.wantDetail)
			}
		})
	}
}

func TestProbeBadPattern(t *testing.T) {
	n := newNode(t, 1024)
	p := probe.New(probe.Options{Policy: netguard.Loopback})
	got := p.Probe(t.Context(), "", n.srv.URL+"/ok", mode(false, "ALIVE("))
	checkResult(t, got, health.ProbeResult{}, "invalid poll_url_healthy_response: ")
	if !got.ConfigError {
		t.Errorf("got ConfigError false for %+v, want true", got)
	}
	if reqs := n.requests("/ok"); reqs != 0 {
		t.Errorf("got %d requests with a broken pattern, want 0", reqs)
	}
	if ok := p.Probe(t.Context(), "", n.srv.URL+"/ok", mode(false, "ALIVE")); ok.ConfigError {
		t.Errorf("got ConfigError true for %+v, want false", ok)
	}
}

// blockingServer answers /headers by blocking before any response, and /body by
// sending headers and then blocking, until the client gives up.
func blockingServer(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("status: "))
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	return srv
}

func TestProbeRequestTimeout(t *testing.T) {
	srv := blockingServer(t)
	p := probe.New(probe.Options{Policy: netguard.Loopback})
	tests := []struct {
		name          string
		path          string
		retryInterval int
		wantDetail    string
	}{
		{"interval 3 blocks before headers", "/headers", 3, "timeout after 1s"},
		{"interval 0 blocks before headers", "/headers", 0, "timeout after 1s"},
		{"interval 3 blocks in body", "/body", 3, "reading body: timeout after 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := mode(true, "ALIVE")
			m.PollURLRetryInterval = tt.retryInterval
			start := time.Now()
			got := p.Probe(t.Context(), "", srv.URL+tt.path, m)
			elapsed := time.Since(start)
			if elapsed < 900*time.Millisecond || elapsed > 5*time.Second {
				t.Errorf("got attempt of %v, want about %v", elapsed, m.RequestTimeout())
			}
			checkResult(t, got, health.ProbeResult{ConnError: true, StatusCode: got.StatusCode}, tt.wantDetail)
		})
	}
}

func TestProbeHonoursContextDeadline(t *testing.T) {
	srv := blockingServer(t)
	p := probe.New(probe.Options{Policy: netguard.Loopback})
	m := mode(true, "ALIVE")
	m.PollURLRetryInterval = 100 // request timeout 10 s
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()

	start := time.Now()
	got := p.Probe(ctx, "", srv.URL+"/headers", m)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("got attempt of %v, want it to end at the context deadline (200ms)", elapsed)
	}
	checkResult(t, got, health.ProbeResult{ConnError: true}, "timeout after")
	if strings.Contains(got.Detail, "10s") {
		t.Errorf("got detail %q, want the context deadline, not the 10s request timeout", got.Detail)
	}
}

func TestProbeCanceledContext(t *testing.T) {
	n := newNode(t, 1024)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	got := probe.New(probe.Options{Policy: netguard.Loopback}).Probe(ctx, "", n.srv.URL+"/ok", mode(true, "ALIVE"))
	checkResult(t, got, health.ProbeResult{ConnError: true}, "canceled")
}

func TestProbeTemplateExpansion(t *testing.T) {
	var (
		mu    sync.Mutex
		paths []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.EscapedPath())
		mu.Unlock()
		_, _ = w.Write([]byte("status: ALIVE"))
	}))
	t.Cleanup(srv.Close)
	p := probe.New(probe.Options{Policy: netguard.Loopback})

	tests := []struct {
		name, template, node, wantPath string
	}{
		{"one placeholder", "/{nodename}/health", "web-1", "/web-1/health"},
		{"every occurrence", "/{nodename}/health/{nodename}", "web-1", "/web-1/health/web-1"},
		{"escaped name", "/{nodename}/health", "web 1/ä", "/web%201%2F%C3%A4/health"},
		{"reserved characters escaped", "/n/{nodename}/health", "a@b:c#d?e", "/n/a%40b%3Ac%23d%3Fe/health"},
		{"dot segment neutralised", "/n/{nodename}/health", ".", "/n/%2E/health"},
		{"no placeholder", "/static/health", "web-1", "/static/health"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mode(true, "ALIVE")
			m.PollURL = srv.URL + tt.template
			mu.Lock()
			paths = nil
			mu.Unlock()
			u, err := m.URLFor(tt.node)
			if err != nil {
				t.Fatalf("URLFor(%q): %v", tt.node, err)
			}
			got := p.Probe(t.Context(), "", u, m)
			checkResult(t, got, health.ProbeResult{Healthy: true, StatusCode: 200}, "pattern matched")
			mu.Lock()
			defer mu.Unlock()
			if len(paths) != 1 || paths[0] != tt.wantPath {
				t.Errorf("got requests %q, want [%q]", paths, tt.wantPath)
			}
		})
	}
}

func TestProbeConcurrentPatterns(t *testing.T) {
	n := newNode(t, 1024)
	p := probe.New(probe.Options{Policy: netguard.Loopback})
	var healthy atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			pattern := "ALIVE"
			if i%2 == 1 {
				pattern = "status: A"
			}
			if p.Probe(t.Context(), "", n.srv.URL+"/ok", mode(true, pattern)).Healthy {
				healthy.Add(1)
			}
		})
	}
	wg.Wait()
	if got := healthy.Load(); got != 20 {
		t.Errorf("got %d healthy results, want 20", got)
	}
}

func BenchmarkProbe(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status": "ALIVE", "uptime": 12345}`))
	}))
	b.Cleanup(srv.Close)
	p := probe.New(probe.Options{Policy: netguard.Loopback})
	m := mode(true, `"status":\s*"ALIVE"`)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if r := p.Probe(ctx, "", srv.URL+"/health", m); !r.Healthy {
			b.Fatalf("got %+v, want healthy", r)
		}
	}
}

// TestProbeInFlightLimit: the attempts of every caller share the limit, and
// an attempt's timeout starts only once it has a slot.
func TestProbeInFlightLimit(t *testing.T) {
	var now, peak atomic.Int32
	holding := make(chan struct{}, 1) // a request to /hold arrived
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			holding <- struct{}{}
		}
		n := now.Add(1)
		defer now.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(600 * time.Millisecond)
		fmt.Fprint(w, "ALIVE")
	}))
	t.Cleanup(srv.Close)
	// The request timeout is 1 s; with 2 slots, the last of 6 attempts waits
	// 1.2 s for its slot and then takes 0.6 s.
	p := probe.New(probe.Options{InFlight: 2, Policy: netguard.Loopback})
	m := mode(true, "ALIVE")
	var wg sync.WaitGroup
	results := make([]health.ProbeResult, 6)
	for i := range results {
		wg.Go(func() { results[i] = p.Probe(t.Context(), "", srv.URL+"/n", m) })
	}
	wg.Wait()
	for i, r := range results {
		if !r.Healthy {
			t.Errorf("attempt %d: %+v, want healthy (a wait for a slot must not count in the timeout)", i, r)
		}
	}
	if got := peak.Load(); got != 2 {
		t.Errorf("at most %d requests were in flight, want 2", got)
	}

	// A caller whose context ends while it waits gets a connection error
	// that says so, without a request.
	p = probe.New(probe.Options{InFlight: 1, Policy: netguard.Loopback})
	go p.Probe(t.Context(), "", srv.URL+"/hold", m)
	<-holding // the one slot is taken
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	got := p.Probe(ctx, "", srv.URL+"/waits", m)
	if !got.ConnError || !strings.Contains(got.Detail, "no probe slot") {
		t.Errorf("got %+v, want a connection error for the slot never given", got)
	}
}

// The address policy holds on the resolved address of every connection:
// by default a poll URL on loopback, behind a name that resolves there, on
// an IPv4-mapped IPv6 address or at the instance metadata address is
// refused before a byte is sent, and the result is unknown (ConfigError),
// never an answer of the refused address. A redirect to another host is
// refused too, even where the policy allows its address.
func TestProbeAddressPolicy(t *testing.T) {
	n := newNode(t, 1024)
	port := n.srv.URL[strings.LastIndex(n.srv.URL, ":")+1:]
	strict := probe.New(probe.Options{})
	for _, u := range []string{
		n.srv.URL + "/ok",
		"http://localhost:" + port + "/ok",
		"http://[::ffff:127.0.0.1]:" + port + "/ok",
		"http://169.254.169.254/latest/meta-data/",
	} {
		got := strict.Probe(t.Context(), "", u, mode(true, "ALIVE"))
		if !got.ConfigError || got.Healthy || got.StatusCode != 0 || !strings.Contains(got.Detail, "refused by the address policy") {
			t.Errorf("%s: got %+v, want unknown (config error), refused by the address policy", u, got)
		}
	}
	if c := n.requests("/ok"); c != 0 {
		t.Errorf("the loopback node got %d requests through the default policy, want none", c)
	}

	other := newNode(t, 1024)
	mux := http.NewServeMux()
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.srv.URL+"/ok", http.StatusFound)
	})
	mux.HandleFunc("/by-name", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://localhost:"+port+"/ok", http.StatusFound)
	})
	redirecting := httptest.NewServer(mux)
	t.Cleanup(redirecting.Close)
	allowed := probe.New(probe.Options{Policy: netguard.Loopback})
	for _, path := range []string{"/elsewhere", "/by-name"} {
		got := allowed.Probe(t.Context(), "", redirecting.URL+path, mode(true, "ALIVE"))
		if !got.ConfigError || got.Healthy || !strings.Contains(got.Detail, "redirect to another host") {
			t.Errorf("%s: got %+v, want unknown, the redirect to another host refused", path, got)
		}
	}
	if c := other.requests("/ok") + n.requests("/ok"); c != 0 {
		t.Errorf("the redirect targets got %d requests, want none", c)
	}
	// A redirect on the same host is still followed.
	checkResult(t, allowed.Probe(t.Context(), "", n.srv.URL+"/redirect-ok", mode(true, "ALIVE")),
		health.ProbeResult{Healthy: true, StatusCode: 200}, "pattern matched")
}

// One cluster whose nodes never answer holds at most its share of the
// slots: with 4 slots and a share of 2, ten hanging attempts of one cluster
// leave room for another cluster's attempt, which gets its answer while
// they all still hang. Without shares, it would wait for a slot until its
// round ended.
func TestProbeClusterShare(t *testing.T) {
	hang := blockingServer(t)
	n := newNode(t, 1024)
	m := mode(true, "ALIVE")
	m.PollURLRetryInterval = 100 // a request timeout of 10 s: the hanging attempts outlast the test
	p := probe.New(probe.Options{InFlight: 4, PerCluster: 2, Policy: netguard.Loopback})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var hanging sync.WaitGroup
	for range 10 {
		hanging.Go(func() { p.Probe(ctx, "black-hole", hang.URL+"/never", m) })
	}
	time.Sleep(200 * time.Millisecond) // the black hole takes what it may
	octx, ocancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer ocancel()
	if got := p.Probe(octx, "other", n.srv.URL+"/ok", m); !got.Healthy {
		t.Errorf("the other cluster's attempt beside a black hole: got %+v, want its answer", got)
	}
	cancel()
	hanging.Wait()
}
