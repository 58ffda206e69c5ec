package activities_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/healthworker"
	"github.com/clusterhealth/healthd/internal/netguard"
	"github.com/clusterhealth/healthd/internal/probe"
	"github.com/clusterhealth/healthd/internal/testkit/enginetest"
)

// senlinCompareSpec is the policy both sides poll with: Senlin's defaults for
// URL polling (3 attempts, 3 s apart, hence a 1 s request timeout), the
// smallest interval Senlin's health_check_interval_min allows and its default
// grace period. %s is the node server's base URL.
const senlinCompareSpec = `
type: senlin.policy.health
version: 1.2
properties:
  detection:
    interval: 60
    node_update_timeout: 300
    recovery_conditional: ANY_FAILED
    detection_modes:
      - type: NODE_STATUS_POLL_URL
        options:
          poll_url: "%s/{nodename}/health"
          poll_url_ssl_verify: true
          poll_url_conn_error_as_unhealthy: true
          poll_url_healthy_response: "passing"
          poll_url_retry_limit: 3
          poll_url_retry_interval: 3
  recovery:
    actions:
      - name: RECREATE
`

// senlinCompareParams is what the environment sets for
// BenchmarkSenlinVersusSweep.
type senlinCompareParams struct {
	nodes      int
	deadCounts []int
	refused    bool // dead nodes answer 503 at once instead of hanging
}

func senlinCompareParamsFromEnv(b *testing.B) senlinCompareParams {
	b.Helper()
	p := senlinCompareParams{nodes: 500, deadCounts: []int{10, 100}}
	if v := os.Getenv("SENLIN_NODES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("SENLIN_NODES=%q: want a whole number of nodes above 0", v)
		}
		p.nodes = n
	}
	if v := os.Getenv("SENLIN_DEAD_COUNTS"); v != "" {
		p.deadCounts = nil
		for f := range strings.SplitSeq(v, ",") {
			d, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || d < 0 || d > p.nodes {
				b.Fatalf("SENLIN_DEAD_COUNTS=%q: want comma-separated counts from 0 to SENLIN_NODES (%d)", v, p.nodes)
			}
			p.deadCounts = append(p.deadCounts, d)
		}
	}
	switch v := os.Getenv("SENLIN_DEAD"); v {
	case "", "hang":
	case "refused":
		p.refused = true
	default:
		b.Fatalf("SENLIN_DEAD=%q: want hang (the default) or refused", v)
	}
	return p
}

// senlinNodeServer answers every node's poll URL, /<node name>/health. A live
// node answers "status: passing". A dead node, by default, behaves like a dead
// VM whose address still routes: the request is accepted and never answered,
// held until the client gives up or the benchmark ends; with refused it gets
// a 503 "status: failing" at once.
type senlinNodeServer struct {
	srv      *httptest.Server
	refused  bool
	dead     atomic.Pointer[map[string]bool]
	requests atomic.Int64
	stop     chan struct{}
}

func newSenlinNodeServer(b *testing.B, refused bool) *senlinNodeServer {
	b.Helper()
	s := &senlinNodeServer{refused: refused, stop: make(chan struct{})}
	s.dead.Store(&map[string]bool{})
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		name, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if !(*s.dead.Load())[name] {
			_, _ = io.WriteString(w, "status: passing\n")
			return
		}
		if s.refused {
			http.Error(w, "status: failing", http.StatusServiceUnavailable)
			return
		}
		select {
		case <-r.Context().Done(): // the client gave up
		case <-s.stop:
		}
	}))
	// Cleanups run last in, first out: held requests are let go before Close
	// waits for them.
	b.Cleanup(s.srv.Close)
	b.Cleanup(func() { close(s.stop) })
	return s
}

// senlinChecker is a Senlin-style sequential URL-polling round, as the
// Senlin health manager runs it (see the Senlin health reference):
// execute_health_check (§3.6) takes every node of the cluster one after
// another, and for each runs NodePollUrlHealthCheck.run_health_check
// (§3.8.3), which is mirrored here:
//
//   - a node that is not ACTIVE is healthy without a request;
//   - the URL is the template with every literal {nodename} replaced by the
//     node's name;
//   - at most max(1, poll_url_retry_limit) attempts, sleeping exactly
//     poll_url_retry_interval seconds between two attempts, stopping at the
//     first healthy one;
//   - one attempt is an HTTP GET on a fresh connection (Senlin calls
//     requests.get without a session) with timeout
//     max(0.1 × poll_url_retry_interval, 1) seconds, a connect timeout and a
//     timeout on every read, not a total deadline, and TLS verification as
//     poll_url_ssl_verify says;
//   - a scheme other than http/https, a transport error or timeout, a non-2xx
//     status or a body above max_response_size (524288 bytes) is a connection
//     error: an unhealthy attempt when poll_url_conn_error_as_unhealthy is
//     set, else healthy; otherwise the body is searched (unanchored) for
//     poll_url_healthy_response, an empty pattern matching any body;
//   - an exception (an invalid pattern) makes the node healthy;
//   - an unhealthy loop result still yields to the grace period: unhealthy
//     only when the node's last update is more than node_update_timeout ago.
//
// It reads the policy's raw options, not healthd's URL, timeout or retry
// helpers. It stops at detection: the recovery request Senlin sends for each
// unhealthy node right away, and the wait for each action after the last
// node, would only make its round longer.
type senlinChecker struct {
	mode    health.DetectionMode
	grace   time.Duration
	maxBody int64
	client  *http.Client
}

func newSenlinChecker(m health.DetectionMode, grace time.Duration) *senlinChecker {
	timeout := time.Duration(max(0.1*float64(m.PollURLRetryInterval), 1) * float64(time.Second))
	dialer := &net.Dialer{Timeout: timeout}
	tr := &http.Transport{
		// Loopback only here; no proxy is looked up.
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return ioTimeoutConn{Conn: c, timeout: timeout}, nil
		},
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: !m.PollURLSSLVerify},
	}
	return &senlinChecker{mode: m, grace: grace, maxBody: probe.DefaultMaxBody, client: &http.Client{Transport: tr}}
}

// ioTimeoutConn gives every read and write of a connection its own timeout,
// as a socket timeout does in Python's requests.
type ioTimeoutConn struct {
	net.Conn
	timeout time.Duration
}

func (c ioTimeoutConn) Read(p []byte) (int, error) {
	if err := c.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c ioTimeoutConn) Write(p []byte) (int, error) {
	if err := c.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// round checks every node in order and returns the names of the unhealthy
// ones.
func (c *senlinChecker) round(nodes []health.Node) []string {
	var unhealthy []string
	for _, n := range nodes {
		if !c.nodeHealthy(n) {
			unhealthy = append(unhealthy, n.Name)
		}
	}
	return unhealthy
}

func (c *senlinChecker) nodeHealthy(n health.Node) bool {
	if n.Status != health.NodeActive {
		return true
	}
	re, err := regexp.Compile(c.mode.PollURLHealthyResponse)
	if err != nil {
		return true // an exception in the check: healthy
	}
	u := strings.ReplaceAll(c.mode.PollURL, "{nodename}", n.Name)
	interval := time.Duration(c.mode.PollURLRetryInterval) * time.Second
	healthy := false
	for i := range max(1, c.mode.PollURLRetryLimit) {
		if i > 0 {
			time.Sleep(interval)
		}
		if healthy = c.attempt(u, re); healthy {
			break
		}
	}
	if healthy {
		return true
	}
	return time.Since(n.LastUpdate()) <= c.grace
}

func (c *senlinChecker) attempt(rawURL string, re *regexp.Regexp) bool {
	connError := !c.mode.PollURLConnErrorAsUnhealthy
	if u, err := url.Parse(rawURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return connError
	}
	resp, err := c.client.Get(rawURL)
	if err != nil {
		return connError
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return connError
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil || int64(len(body)) > c.maxBody {
		return connError
	}
	return re.Match(body)
}

// healthdRound is one healthd polling round over the same cluster: the real
// CheckCluster sweep (through Temporal's test activity environment, the
// in-memory engine as the store, the real prober, the worker's default
// SweepConcurrency), then what the workflow's round (runRound) does with the
// suspects, the nodes whose first attempt failed: one pause of
// poll_url_retry_interval, then for every suspect at once the real
// ConfirmNodeURL activity, retried as confirmOptions' RetryPolicy says
// (poll_url_retry_limit − 1 attempts, poll_url_retry_interval apart).
// ConfirmNodeURL is called directly, so a real server's task dispatch (tens of
// milliseconds per activity) is not counted.
type healthdRound struct {
	env  *testsuite.TestActivityEnvironment
	acts *activities.Activities
	reg  health.Registration
	in   activities.CheckClusterInput
}

// run returns the sweep's duration, the whole round's, and the names of the
// nodes found unhealthy.
func (h *healthdRound) run(b *testing.B, nodes int) (sweep, round time.Duration, unhealthy []string) {
	b.Helper()
	start := time.Now()
	res := runSweep(b, h.env, h.in)
	sweep = time.Since(start)
	if res.Summary == nil || res.Summary.Healthy+res.Summary.Unhealthy != nodes {
		b.Fatalf("sweep summary %+v: want %d nodes, each healthy or unhealthy", res.Summary, nodes)
	}
	m, _ := h.reg.Mode(health.NodeStatusPollURL)
	var suspects []activities.NodeCheck
	for _, n := range res.Nodes {
		for _, r := range n.Results {
			switch {
			case r.Suspect:
				suspects = append(suspects, n)
			case r.Verdict == health.Unhealthy:
				unhealthy = append(unhealthy, n.Name)
			}
		}
	}
	if len(suspects) > 0 {
		time.Sleep(m.RetryInterval()) // the round's "poll URL retry interval" timer
		every := max(m.RetryInterval(), 100*time.Millisecond)
		failed := make([]bool, len(suspects))
		var wg sync.WaitGroup
		for k, n := range suspects {
			wg.Go(func() {
				in := activities.ConfirmNodeURLInput{ClusterID: h.reg.ClusterID, NodeID: n.ID, NodeName: n.Name, Mode: m}
				for i := range max(m.Attempts()-1, 1) {
					if i > 0 {
						time.Sleep(every)
					}
					_, err := h.acts.ConfirmNodeURL(context.Background(), in)
					var appErr *temporal.ApplicationError
					switch {
					case err == nil:
						return
					case errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeNodeURLUnhealthy:
						failed[k] = true
					default:
						b.Errorf("confirm %s: %v", n.Name, err)
						return
					}
				}
			})
		}
		wg.Wait()
		for k, n := range suspects {
			if failed[k] {
				unhealthy = append(unhealthy, n.Name)
			}
		}
	}
	return sweep, time.Since(start), unhealthy
}

// senlinCompareCase is the outcome of one dead-node count.
type senlinCompareCase struct {
	dead                    int
	senlin, sweep, round    time.Duration
	senlinReqs, healthdReqs int64
	senlinCycle             time.Duration
}

// BenchmarkSenlinVersusSweep times one polling round of one cluster of
// SENLIN_NODES nodes (default 500) as Senlin runs it, sequentially
// (senlinChecker), and as healthd runs it, its real CheckCluster sweep plus
// the round's confirmation of the suspects (healthdRound), in the same run
// and against the same in-process node server, for each count of dead nodes
// in SENLIN_DEAD_COUNTS (default "10,100"), spread evenly over the cluster.
// Both sides poll with the same parsed policy: poll URL
// <server>/{nodename}/health, healthy response "passing", retry_limit 3 and
// retry_interval 3 (Senlin's defaults, so a 1 s request timeout), interval 60,
// node_update_timeout 300, every node past its grace period.
//
// A dead node hangs each request until the client's timeout (SENLIN_DEAD=hang,
// the default) or answers 503 at once (SENLIN_DEAD=refused). Senlin's round
// grows by one retry cycle per dead node (3 × 1 s + 2 × 3 s = 9 s hanging,
// 6 s refused), so its 100-dead round takes about 15 minutes; healthd's stays
// about one retry cycle, plus one request timeout per SweepConcurrency (32)
// dead nodes in the sweep.
//
// One iteration is the whole comparison: run it with -benchtime 1x (it
// refuses b.N above 1); scripts/bench-senlin.sh does. The built-in ns/op is
// suppressed. Reported per case (N dead nodes): senlin-round-s-Ndead,
// healthd-sweep-s-Ndead, healthd-round-s-Ndead and ratio-Ndead (Senlin's round
// over healthd's); a table is logged as well. Both sides must find exactly
// the dead nodes unhealthy.
func BenchmarkSenlinVersusSweep(b *testing.B) {
	if b.N > 1 {
		b.Fatalf("BenchmarkSenlinVersusSweep runs one comparison per run: use -benchtime 1x (got b.N = %d)", b.N)
	}
	p := senlinCompareParamsFromEnv(b)
	ns := newSenlinNodeServer(b, p.refused)
	pol, err := health.ParsePolicy(fmt.Appendf(nil, senlinCompareSpec, ns.srv.URL), health.DefaultLimits)
	if err != nil {
		b.Fatalf("parse policy: %v", err)
	}
	reg := pol.Registration("c1")
	mode, ok := reg.Mode(health.NodeStatusPollURL)
	if !ok {
		b.Fatal("the policy has no NODE_STATUS_POLL_URL mode")
	}

	eng := enginetest.New(nil)
	nodes := make([]health.Node, p.nodes)
	for i := range nodes {
		nodes[i] = health.Node{ID: fmt.Sprintf("n%04d", i), Name: fmt.Sprintf("node-%04d", i), PhysicalID: fmt.Sprintf("s%04d", i)}
	}
	eng.AddCluster(health.Cluster{ID: reg.ClusterID, Name: "bench", Project: "p1"}, nodes...)

	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	acts := &activities.Activities{Store: eng, Prober: probe.New(probe.Options{Policy: netguard.Loopback}), Clock: eng,
		SweepConcurrency: healthworker.DefaultConfig().SweepConcurrency}
	h := &healthdRound{env: suite.NewTestActivityEnvironment(), acts: acts, reg: reg,
		in: activities.CheckClusterInput{ClusterID: reg.ClusterID, Modes: reg.DetectionModes, Conditional: reg.RecoveryConditional,
			StatusMaxAge: reg.StatusMaxAge(), Exceptions: true, Grace: reg.Grace()}}
	h.env.RegisterActivity(acts)
	senlin := newSenlinChecker(mode, reg.Grace())

	// One retry cycle: every attempt of one node failing.
	attempts := time.Duration(mode.Attempts())
	perAttempt := mode.RequestTimeout()
	if p.refused {
		perAttempt = 0
	}
	cycle := attempts*perAttempt + (attempts-1)*mode.RetryInterval()

	b.ReportMetric(0, "ns/op")
	var cases []senlinCompareCase
	for _, d := range p.deadCounts {
		dead := map[string]bool{}
		var want []string
		for k := range d {
			name := nodes[k*p.nodes/d].Name
			dead[name] = true
			want = append(want, name)
		}
		slices.Sort(want)
		ns.dead.Store(&dead)
		c := senlinCompareCase{dead: d, senlinCycle: time.Duration(d) * cycle}

		r0 := ns.requests.Load()
		start := time.Now()
		list, err := eng.ListNodes(context.Background(), reg.ClusterID)
		if err != nil {
			b.Fatal(err)
		}
		got := senlin.round(list)
		c.senlin = time.Since(start)
		c.senlinReqs = ns.requests.Load() - r0
		slices.Sort(got)
		if !slices.Equal(got, want) {
			b.Fatalf("%d dead: the Senlin-style round found %d unhealthy nodes %v, want %v", d, len(got), got, want)
		}

		r0 = ns.requests.Load()
		var hgot []string
		c.sweep, c.round, hgot = h.run(b, p.nodes)
		c.healthdReqs = ns.requests.Load() - r0
		slices.Sort(hgot)
		if !slices.Equal(hgot, want) {
			b.Fatalf("%d dead: healthd's round found %d unhealthy nodes %v, want %v", d, len(hgot), hgot, want)
		}
		b.Logf("%d nodes, %d dead: Senlin-style %.1f s (%d requests), healthd sweep %.2f s, round %.2f s (%d requests)",
			p.nodes, d, c.senlin.Seconds(), c.senlinReqs, c.sweep.Seconds(), c.round.Seconds(), c.healthdReqs)
		cases = append(cases, c)

		suffix := fmt.Sprintf("-%ddead", d)
		b.ReportMetric(c.senlin.Seconds(), "senlin-round-s"+suffix)
		b.ReportMetric(c.sweep.Seconds(), "healthd-sweep-s"+suffix)
		b.ReportMetric(c.round.Seconds(), "healthd-round-s"+suffix)
		if c.round > 0 {
			b.ReportMetric(c.senlin.Seconds()/c.round.Seconds(), "ratio"+suffix)
		}
	}

	how := "hang until the client's timeout"
	if p.refused {
		how = "answer 503 at once"
	}
	var t strings.Builder
	fmt.Fprintf(&t, "one cluster of %d nodes, dead nodes %s; retry_limit %d, retry_interval %d s, request timeout %s, one retry cycle %s\n",
		p.nodes, how, mode.PollURLRetryLimit, mode.PollURLRetryInterval, mode.RequestTimeout(), cycle)
	fmt.Fprintf(&t, "%6s  %14s  %14s  %14s  %14s  %8s\n", "dead", "senlin round", "(dead × cycle)", "healthd sweep", "healthd round", "ratio")
	for _, c := range cases {
		ratio := 0.0
		if c.round > 0 {
			ratio = c.senlin.Seconds() / c.round.Seconds()
		}
		fmt.Fprintf(&t, "%6d  %12.1f s  %12.1f s  %12.2f s  %12.2f s  %7.1fx\n",
			c.dead, c.senlin.Seconds(), c.senlinCycle.Seconds(), c.sweep.Seconds(), c.round.Seconds(), ratio)
	}
	b.Log("\n" + t.String())
}
