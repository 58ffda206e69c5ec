package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/internal/devserver"
	"github.com/clusterhealth/healthd/internal/store/storetest"
	"github.com/clusterhealth/healthd/workflows"
)

// BenchmarkFleet is a load harness: a fleet of clusters, each with its own
// ClusterHealth workflow polling its nodes' URLs, served by one health worker
// (in this process) against a real Temporal dev server, a fresh database and
// one httptest server standing for every node. It registers the whole fleet,
// lets it run for a measured window, then reads every workflow's status and
// history. The environment sets the fleet:
//
//	FLEET_CLUSTERS        number of clusters (default 50)
//	FLEET_NODES           nodes per cluster (default 20)
//	FLEET_INTERVAL        round interval, whole seconds (default 5s)
//	FLEET_DURATION        measured window, from the last registration (default 30s)
//	FLEET_UNHEALTHY       clusters whose first node is down from the start (default 0);
//	                      the engine then runs too and each recovery's webhook mends the node
//	FLEET_DYNAMIC_CONFIG  dev server dynamic config, "key=value[,key=value...]" (default none),
//	                      e.g. history.transferProcessorMaxPollRPS=1000
//
// The worker's own settings come from the environment as for the worker
// binary (SWEEP_CONCURRENCY, WORKER_ACTIVITY_POLLERS, WORKER_WORKFLOW_POLLERS).
//
// One iteration is one fleet run of FLEET_DURATION: run it with -benchtime 1x
// (it refuses b.N above 1) and repeat it with -count, each run on a new dev
// server and database; scripts/bench-fleet.sh does that and prints medians.
// The built-in ns/op is suppressed. Reported, over the window:
//
//   - rounds, rounds-expected: round sweeps completed in the window, and
//     clusters × FLEET_DURATION / FLEET_INTERVAL. Rounds fall short when
//     they start too late for their grid point, and those are counted as
//     missed.
//   - late-p50-ms, late-p99-ms: round start lateness, from the histories: the
//     time the round's sweep activity started on the worker minus the fire time
//     of its "next round" timer, for every round whose timer was due in the
//     window. It holds the server's timer and task dispatch, the workflow task
//     and the worker's activity slot wait. A round due but not started when the
//     histories are read counts with the time until then, a lower bound.
//   - dispatch-ms/round: the part of that lateness until the workflow starts
//     the round (its workflow task's start minus the timer's fire time). The
//     grid keeps its origin, so it does not carry over to later rounds.
//   - missed-rounds, round-errors: Counters.MissedRounds (grid points skipped
//     because a round overran or started after them) and Counters.RoundErrors
//     (sweeps that failed), summed over the fleet, over the whole run.
//   - events/round: history events per round, fleet-wide, from each cluster's
//     first round's sweep being scheduled to the last one scheduled in the
//     window (start-up events left out).
//   - probes/s: poll URL requests the node server answered.
//   - cpu-ms/round: CPU time (user + system, getrusage) of this test process per
//     completed round. The process holds the health worker, and also the node
//     server, the engine when it runs and the harness, so it is an upper bound
//     for the worker.
//   - server-cpu-ms/round: CPU time of the dev server process per completed
//     round (from /proc, in 1/100 s ticks). Postgres is not counted.
//   - recoveries: recoveries succeeded (Counters.RecoveriesSucceeded).
func BenchmarkFleet(b *testing.B) {
	if b.N > 1 {
		b.Fatalf("BenchmarkFleet runs one fleet per run: use -benchtime 1x (got b.N = %d)", b.N)
	}
	p := fleetParamsFromEnv(b)
	ctx := context.Background()

	srv, err := devserver.Start(ctx, devserver.Options{DynamicConfig: p.dynamic})
	if err != nil {
		b.Fatalf("start Temporal dev server (run scripts/install-temporal.sh): %v", err)
	}
	b.Cleanup(func() { _ = srv.Stop() })
	cfg := app.Defaults()
	if err := config.Load(os.Getenv, cfg.Sections(app.RoleHealth, app.RoleEngine)...); err != nil {
		b.Fatalf("worker settings from the environment: %v", err)
	}
	cfg.Temporal.Address = srv.Address
	cfg.Database.URL = storetest.DSN(b)
	cfg.Metrics.Addr = ""
	if os.Getenv("HEALTH_CHECK_INTERVAL_MIN") == "" {
		cfg.Health.IntervalMin = 1 // fleet rounds run every few seconds
	}

	// Every node answers through one server, counting the probes; the first
	// node of each of the first FLEET_UNHEALTHY clusters is down until its
	// recovery webhook is called.
	ns := newNodes(b)
	var probes atomic.Int64
	nodeSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		ns.srv.Config.Handler.ServeHTTP(w, r)
	}))
	b.Cleanup(nodeSrv.Close)
	clusterIDs := make([]string, p.clusters)
	for i := range clusterIDs {
		clusterIDs[i] = fmt.Sprintf("fleet-%04d", i)
	}
	for i := range p.unhealthy {
		ns.broken[nodeNames(clusterIDs[i], 1)[0]] = true
	}

	roles := []string{app.RoleHealth}
	if p.unhealthy > 0 {
		roles = append(roles, app.RoleEngine)
	}
	m := runApp(b, cfg, zaptest.NewLogger(b, zaptest.Level(zapcore.WarnLevel)), roles...)
	setup := time.Now()
	errs := make([]error, len(clusterIDs))
	parallel(len(clusterIDs), 8, func(i int) {
		errs[i] = seedCluster(ctx, m.Store, clusterIDs[i], ns.hook.URL, nodeNames(clusterIDs[i], p.nodes))
	})
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	c := dialTemporal(b, srv.Address)
	for _, cid := range clusterIDs {
		reg := pollURLRegistration(cid, nodeSrv.URL, 60)
		reg.Interval = int(p.interval / time.Second)
		startCluster(b, c, reg)
	}
	b.Logf("fleet of %d clusters × %d nodes stored and registered in %s; measuring for %s",
		p.clusters, p.nodes, time.Since(setup).Round(time.Millisecond), p.duration)

	b.ResetTimer()
	from, probes0, cpu0, srvCPU0 := time.Now(), probes.Load(), processCPU(), childCPU("start-dev")
	time.Sleep(p.duration)
	until, probes1, cpu1, srvCPU1 := time.Now(), probes.Load(), processCPU(), childCPU("start-dev")
	b.StopTimer()

	statuses := make([]workflows.Status, len(clusterIDs))
	parallel(len(clusterIDs), 8, func(i int) {
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		statuses[i] = clusterStatus(qctx, c, clusterIDs[i])
	})
	var missed, roundErrors, recovered, unanswered, continued int64
	for _, s := range statuses {
		if s.ClusterID == "" {
			unanswered++
		}
		missed += s.Counters.MissedRounds
		roundErrors += s.Counters.RoundErrors
		recovered += s.Counters.RecoveriesSucceeded
		if s.Runs > 1 {
			continued++
		}
	}

	var (
		completed, unstarted int64
		late, dispatch       []time.Duration
		cost                 roundCost
	)
	read := time.Now()
	for _, cid := range clusterIDs {
		runs := clusterHistory(b, c, workflows.WorkflowID(cid))
		for k, evs := range runs {
			rs := roundsOf(evs)
			if k < len(runs)-1 && len(rs) > 0 && rs[len(rs)-1].decided.IsZero() {
				rs = rs[:len(rs)-1] // its timer was set again by the next run
			}
			for _, r := range rs {
				if !r.completed.IsZero() && !r.completed.Before(from) && !r.completed.After(until) {
					completed++
				}
				if r.due.IsZero() || r.due.Before(from) || r.due.After(until) {
					continue
				}
				if r.started.IsZero() {
					unstarted++
					late = append(late, read.Sub(r.due))
				} else {
					late = append(late, r.started.Sub(r.due))
				}
				if !r.decided.IsZero() {
					dispatch = append(dispatch, r.decided.Sub(r.due))
				}
			}
			sweeps := 0
			for _, ev := range evs {
				a := ev.GetActivityTaskScheduledEventAttributes()
				if a.GetActivityType().GetName() == sweepActivity && !ev.GetEventTime().AsTime().After(until) {
					sweeps++
				}
			}
			if rc, ok := healthyRoundCost(evs, sweeps-1); ok && sweeps > 1 {
				cost.rounds += rc.rounds
				cost.events += rc.events
				cost.bytes += rc.bytes
			}
		}
	}

	window := until.Sub(from)
	expected := float64(p.clusters) * p.duration.Seconds() / p.interval.Seconds()
	perRound := func(d time.Duration) float64 {
		if completed == 0 {
			return 0
		}
		return float64(d.Microseconds()) / 1000 / float64(completed)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(completed), "rounds")
	b.ReportMetric(expected, "rounds-expected")
	b.ReportMetric(ms(percentile(late, 0.50)), "late-p50-ms")
	b.ReportMetric(ms(percentile(late, 0.99)), "late-p99-ms")
	b.ReportMetric(ms(mean(dispatch)), "dispatch-ms/round")
	b.ReportMetric(float64(missed), "missed-rounds")
	b.ReportMetric(float64(roundErrors), "round-errors")
	if cost.rounds > 0 {
		b.ReportMetric(cost.eventsPerRound(), "events/round")
	}
	b.ReportMetric(float64(probes1-probes0)/window.Seconds(), "probes/s")
	b.ReportMetric(perRound(cpu1-cpu0), "cpu-ms/round")
	b.ReportMetric(perRound(srvCPU1-srvCPU0), "server-cpu-ms/round")
	b.ReportMetric(float64(recovered), "recoveries")

	b.Logf("fleet %d clusters × %d nodes every %s for %s: rounds %d of %.0f expected; start lateness p50 %s p99 %s (%d of %d due rounds not started by %s after the window); workflow task dispatch %.1f ms/round; missed rounds %d, failed rounds %d; %.2f events and %d history bytes per round; %.0f probes/s; CPU per round %.2f ms in this process, %.2f ms in the dev server; recoveries %d of %d unhealthy clusters; %d clusters continued as new, %d status queries unanswered",
		p.clusters, p.nodes, p.interval, p.duration, completed, expected,
		percentile(late, 0.50).Round(100*time.Microsecond), percentile(late, 0.99).Round(100*time.Microsecond),
		unstarted, len(late), read.Sub(until).Round(time.Millisecond), ms(mean(dispatch)), missed, roundErrors,
		cost.eventsPerRound(), cost.bytes/int64(max(cost.rounds, 1)), float64(probes1-probes0)/window.Seconds(),
		perRound(cpu1-cpu0), perRound(srvCPU1-srvCPU0), recovered, p.unhealthy, continued, unanswered)
	if unanswered > 0 {
		b.Errorf("%d clusters did not answer the status query", unanswered)
	}
}

type fleetParams struct {
	clusters, nodes, unhealthy int
	interval, duration         time.Duration
	dynamic                    map[string]string
}

func fleetParamsFromEnv(b *testing.B) fleetParams {
	b.Helper()
	p := fleetParams{clusters: 50, nodes: 20, interval: 5 * time.Second, duration: 30 * time.Second}
	num := func(name string, v *int, least int) {
		if s := os.Getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < least {
				b.Fatalf("%s: want an integer of at least %d, got %q", name, least, s)
			}
			*v = n
		}
	}
	dur := func(name string, v *time.Duration) {
		if s := os.Getenv(name); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < time.Second || d%time.Second != 0 {
				b.Fatalf("%s: want whole seconds of at least 1s, such as 5s, got %q", name, s)
			}
			*v = d
		}
	}
	num("FLEET_CLUSTERS", &p.clusters, 1)
	num("FLEET_NODES", &p.nodes, 1)
	num("FLEET_UNHEALTHY", &p.unhealthy, 0)
	dur("FLEET_INTERVAL", &p.interval)
	dur("FLEET_DURATION", &p.duration)
	if p.unhealthy > p.clusters {
		b.Fatalf("FLEET_UNHEALTHY (%d) is above FLEET_CLUSTERS (%d)", p.unhealthy, p.clusters)
	}
	if s := os.Getenv("FLEET_DYNAMIC_CONFIG"); s != "" {
		p.dynamic = map[string]string{}
		for kv := range strings.SplitSeq(s, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || k == "" {
				b.Fatalf("FLEET_DYNAMIC_CONFIG: want key=value[,key=value...], got %q", s)
			}
			p.dynamic[k] = v
		}
	}
	return p
}

// parallel calls f(0) ... f(n-1) on at most workers goroutines.
func parallel(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, workers) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		})
	}
	wg.Wait()
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU is the user and system CPU time so far of this process's children
// whose command line holds match, read from /proc (Linux; 0 elsewhere). The
// kernel counts it in ticks of 1/100 s (USER_HZ).
func childCPU(match string) time.Duration {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var total time.Duration
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for pid := range strings.FieldsSeq(string(b)) {
			cmd, err := os.ReadFile("/proc/" + pid + "/cmdline")
			if err != nil || !strings.Contains(string(cmd), match) {
				continue
			}
			stat, err := os.ReadFile("/proc/" + pid + "/stat")
			if err != nil {
				continue
			}
			// Fields after the command, which is in parentheses: state is the
			// 3rd field of the line, utime the 14th and stime the 15th.
			s := string(stat)
			f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
			if len(f) < 13 {
				continue
			}
			utime, _ := strconv.ParseInt(f[11], 10, 64)
			stime, _ := strconv.ParseInt(f[12], 10, 64)
			total += time.Duration(utime+stime) * 10 * time.Millisecond
		}
	}
	return total
}

// percentile is the q-quantile of ds (nearest rank); 0 for none.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}
