package activities_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/netguard"
	"github.com/clusterhealth/healthd/internal/probe"
	"github.com/clusterhealth/healthd/internal/testkit/enginetest"
)

const (
	// sweepBenchNodes is the cluster size of the sweep benchmarks.
	sweepBenchNodes = 2000
	// sweepBenchConcurrency is the sweep's SweepConcurrency and the plain
	// loop's number of goroutines.
	sweepBenchConcurrency = 32
)

// sweepBench is a cluster of sweepBenchNodes ACTIVE nodes whose poll URLs are
// all served by one in-process server, with the real CheckCluster activity
// (in-memory engine, real HTTP prober) ready to run over it.
type sweepBench struct {
	env   *testsuite.TestActivityEnvironment
	in    activities.CheckClusterInput
	urls  []string // every node's poll URL, expanded
	conns atomic.Int64
}

// newSweepBench starts the node server and registers the activities.
func newSweepBench(b *testing.B) *sweepBench {
	b.Helper()
	s := &sweepBench{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "status: passing\n")
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	srv.Start()
	b.Cleanup(srv.Close)

	mode := health.DetectionMode{Type: health.NodeStatusPollURL, PollURL: srv.URL + "/{nodename}", PollURLSSLVerify: true,
		PollURLConnErrorAsUnhealthy: true, PollURLHealthyResponse: "passing", PollURLRetryLimit: 3, PollURLRetryInterval: 1}
	eng := enginetest.New(nil)
	nodes := make([]health.Node, sweepBenchNodes)
	s.urls = make([]string, sweepBenchNodes)
	for i := range nodes {
		nodes[i] = health.Node{ID: fmt.Sprintf("n%04d", i), Name: fmt.Sprintf("node-%04d", i), PhysicalID: fmt.Sprintf("s%04d", i)}
		u, err := mode.URLFor(nodes[i].Name)
		if err != nil {
			b.Fatal(err)
		}
		s.urls[i] = u
	}
	eng.AddCluster(health.Cluster{ID: "c1", Name: "bench", Project: "p1"}, nodes...)

	var suite testsuite.WorkflowTestSuite
	// The test environment logs every heartbeat; it would print between the
	// results.
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	s.env = suite.NewTestActivityEnvironment()
	s.env.RegisterActivity(&activities.Activities{Store: eng, Prober: probe.New(probe.Options{Policy: netguard.Loopback}), Clock: eng,
		SweepConcurrency: sweepBenchConcurrency})
	s.in = activities.CheckClusterInput{ClusterID: "c1", Modes: []health.DetectionMode{mode},
		Conditional: health.AnyFailed, Exceptions: true, Grace: time.Minute}
	return s
}

// runSweep runs CheckCluster once in env and returns its result.
func runSweep(b *testing.B, env *testsuite.TestActivityEnvironment, in activities.CheckClusterInput) activities.CheckClusterResult {
	b.Helper()
	var a *activities.Activities
	v, err := env.ExecuteActivity(a.CheckCluster, in)
	if err != nil {
		b.Fatal(err)
	}
	var res activities.CheckClusterResult
	if err := v.Get(&res); err != nil {
		b.Fatal(err)
	}
	return res
}

// sweep runs CheckCluster once and checks that every node was healthy.
func (s *sweepBench) sweep(b *testing.B) {
	res := runSweep(b, s.env, s.in)
	if res.Summary == nil || res.Summary.Healthy != sweepBenchNodes {
		b.Fatalf("got summary %+v, want %d healthy nodes", res.Summary, sweepBenchNodes)
	}
}

// plainLoop GETs every poll URL once from sweepBenchConcurrency goroutines
// sharing client, reading each body.
func (s *sweepBench) plainLoop(b *testing.B, client *http.Client) {
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range sweepBenchConcurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(s.urls) {
					return
				}
				resp, err := client.Get(s.urls[i])
				if err != nil {
					failed.Add(1)
					continue
				}
				_, err = io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		b.Fatalf("plain loop: %d of %d requests failed", n, len(s.urls))
	}
}

// plainClient is a keep-alive client that keeps an idle connection for each
// of the loop's goroutines.
func plainClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = sweepBenchConcurrency
	return &http.Client{Transport: tr}
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure returns the process CPU time f takes. A collection first keeps the
// garbage of what ran before out of it.
func measure(b *testing.B, f func()) time.Duration {
	runtime.GC()
	start := cpuTime(b)
	f()
	return cpuTime(b) - start
}

// BenchmarkSweepVersusPlainLoop compares, in the same run and against the same
// node server, the process CPU time per node of the real CheckCluster sweep
// (through Temporal's test activity environment, the in-memory engine as the
// store, the real prober, SweepConcurrency 32, one poll-URL mode with a
// healthy-response pattern, 2,000 nodes) with that of a plain loop: 32
// goroutines GETting the same URLs with one shared keep-alive client and
// reading the bodies. Each iteration runs one sweep and one loop.
//
// The CPU time is the whole process's (getrusage), so both numbers include
// the in-process node server answering the same 2,000 requests: the same work
// on both sides, which narrows the ratio compared with a remote server. It
// reports cpu-us/node-sweep, cpu-us/node-plain, their ratio (target: at most
// 2), and the connections each opened per iteration (conns-sweep,
// conns-plain) after a warm-up of each. Run it with -bench and -benchtime Nx;
// BenchmarkSweepOnly is the same sweep alone, to profile.
func BenchmarkSweepVersusPlainLoop(b *testing.B) {
	s := newSweepBench(b)
	client := plainClient()
	b.Cleanup(client.CloseIdleConnections)
	s.sweep(b)
	s.plainLoop(b, client)
	var sweepCPU, plainCPU time.Duration
	var sweepConns, plainConns int64
	for b.Loop() {
		c := s.conns.Load()
		sweepCPU += measure(b, func() { s.sweep(b) })
		sweepConns += s.conns.Load() - c
		c = s.conns.Load()
		plainCPU += measure(b, func() { s.plainLoop(b, client) })
		plainConns += s.conns.Load() - c
	}
	nodes := float64(b.N * sweepBenchNodes)
	sweepUS := float64(sweepCPU.Microseconds()) / nodes
	plainUS := float64(plainCPU.Microseconds()) / nodes
	b.ReportMetric(sweepUS, "cpu-us/node-sweep")
	b.ReportMetric(plainUS, "cpu-us/node-plain")
	if plainUS > 0 {
		b.ReportMetric(sweepUS/plainUS, "ratio")
	}
	b.ReportMetric(float64(sweepConns)/float64(b.N), "conns-sweep")
	b.ReportMetric(float64(plainConns)/float64(b.N), "conns-plain")
}

// BenchmarkSweepOnly runs the sweep of BenchmarkSweepVersusPlainLoop alone,
// after one warm-up sweep, so that a CPU profile (-cpuprofile) shows where the
// sweep's time goes. It reports cpu-us/node as BenchmarkSweepVersusPlainLoop
// does.
func BenchmarkSweepOnly(b *testing.B) {
	s := newSweepBench(b)
	s.sweep(b)
	var cpu time.Duration
	b.ReportAllocs()
	for b.Loop() {
		cpu += measure(b, func() { s.sweep(b) })
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*sweepBenchNodes), "cpu-us/node")
}

// BenchmarkPlainLoopOnly runs the plain loop of BenchmarkSweepVersusPlainLoop
// alone, after one warm-up loop, so that its CPU profile can be set against
// BenchmarkSweepOnly's. It reports cpu-us/node as BenchmarkSweepOnly does.
func BenchmarkPlainLoopOnly(b *testing.B) {
	s := newSweepBench(b)
	client := plainClient()
	b.Cleanup(client.CloseIdleConnections)
	s.plainLoop(b, client)
	var cpu time.Duration
	b.ReportAllocs()
	for b.Loop() {
		cpu += measure(b, func() { s.plainLoop(b, client) })
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*sweepBenchNodes), "cpu-us/node")
}
