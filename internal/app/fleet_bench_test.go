package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/devserver"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/store/storetest"
	"github.com/clusterhealth/healthd/workflows"
)

// BenchmarkFleet is a load harness: a fleet of clusters, each with its own
// ClusterHealth workflow polling its nodes' URLs, served by one health worker
// against a real Temporal dev server and a fresh database. Every part runs in
// a process of its own, so that its CPU is measured apart: the health worker
// (and the engine, when it runs) is the real worker binary, built for the run
// and started as `worker health` (`worker engine`); the node server, which
// answers every node's poll URL and the recovery webhook, is this test binary
// run again for TestFleetNodesProcess; the dev server is the temporal CLI;
// and this process holds the harness alone. It registers the whole fleet,
// lets it run for a measured window, then reads every workflow's status and
// history. The environment sets the fleet:
//
//	FLEET_CLUSTERS        number of clusters (default 50)
//	FLEET_NODES           nodes per cluster (default 20)
//	FLEET_INTERVAL        round interval, whole seconds (default 5s)
//	FLEET_DURATION        measured window, from the moment every cluster has swept once,
//	                      which the harness waits for after the last registration (default 30s)
//	FLEET_UNHEALTHY       clusters whose first node is down from the start (default 0);
//	                      the engine then runs too and each recovery's webhook mends the node
//	FLEET_DYNAMIC_CONFIG  Temporal dynamic config, "key=value[,key=value...]" (default none),
//	                      e.g. history.transferProcessorMaxPollRPS=1000
//	FLEET_BREAK           nodes taken down during the window, one in each of as many clusters
//	                      (the last ones), at moments spread over the window's first part
//	                      (default 0); the engine runs and each recovery mends its node
//	FLEET_PLAIN           "0" skips the plain loop: after the window the workers stop and a
//	                      plain net/http loop fetches the same nodes from the same node server
//	                      at the same rate, SWEEP_CONCURRENCY at a time per cluster, for one
//	                      interval and then a measured min(FLEET_DURATION, 60s)
//	FLEET_PROFILE         a directory: a 30 s CPU profile of the health worker, taken from the
//	                      middle of the window, is written there as worker-cpu.pprof
//	HEALTHD_TEST_TEMPORAL "server" runs the fleet on the Temporal server with PostgreSQL
//	                      persistence and visibility (temporaltest) instead of the dev server
//
// The worker processes inherit the environment, so their settings come from
// it as for any deployment of the worker binary (SWEEP_CONCURRENCY,
// WORKER_ACTIVITY_POLLERS, WORKER_WORKFLOW_POLLERS, ENGINE_WORKERS, ...),
// except TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE, DATABASE_URL and METRICS_ADDR
// (off), which the harness sets. HEALTH_CHECK_INTERVAL_MIN defaults to 1
// (fleet rounds run every few seconds) and LOG_LEVEL to warn.
//
// One iteration is one fleet run of FLEET_DURATION: run it with -benchtime 1x
// (it refuses b.N above 1) and repeat it with -count, each run on a new dev
// server, database and processes; scripts/bench-fleet.sh does that and prints
// medians. The built-in ns/op is suppressed. Reported, over the window:
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
//     because a round overran or started after them) in the window, and
//     Counters.RoundErrors (sweeps that failed) over the whole run, summed
//     over the fleet; missed-before-window: the points skipped before the
//     window, while the fleet was being registered.
//   - events/round: history events per round, fleet-wide, from each cluster's
//     first round's sweep being scheduled to the last one scheduled in the
//     window (start-up events left out).
//   - probes/s: poll URL requests the node server answered.
//
// The CPU times are user + system time per completed round, read from
// /proc/<pid>/stat (utime + stime, in ticks of 1/100 s) at the start and the
// end of the window (Linux; on other systems they read 0):
//
//   - worker-cpu-ms/round: the health worker process: its workflow tasks, its
//     sweep activities and their probes, and its Temporal and database
//     clients. The engine's process is not counted.
//   - server-cpu-ms/round: the Temporal process: the dev server (with its
//     own in-memory SQLite store), or the Temporal server, whose PostgreSQL
//     work counts in postgres-cpu-ms/round.
//   - postgres-cpu-ms/round: the PostgreSQL server, found as the parent of the
//     harness's own backend when it runs on this machine (not reported when
//     it does not): its postmaster, and every live child of the postmaster
//     (the backends of the workers and of the harness, the checkpointer, the
//     background and WAL writers, autovacuum, ...), plus the children that
//     exited and were reaped by the postmaster in the window (backends that
//     closed, autovacuum workers), which the kernel adds to the postmaster's
//     cutime + cstime. Not counted: a child that exits while one of the two
//     snapshots is read, and a grandchild its parent does not wait for. The
//     server is shared: its work in the window for other clients and other
//     databases counts too.
//   - nodes-cpu-ms/round: the node server process: the probes' answers, and
//     the webhook calls when FLEET_UNHEALTHY is set.
//   - worker-us/probe, nodes-us/probe: the health worker's and the node
//     server's CPU per poll URL request the node server answered.
//   - node-conns/round: connections the node server accepted, per round.
//   - pg-xacts/round: transactions of the fleet's database per round
//     (pg_stat_database; a statement outside a transaction is one).
//   - plain-us/probe, worker/plain (unless FLEET_PLAIN=0): the plain loop's
//     CPU per request, and the health worker's CPU per probe divided by it.
//   - harness-cpu-ms/round: this test process (getrusage, children not
//     included): the harness, which sleeps through the window but for its
//     Temporal client.
//
// Also:
//
//   - settle-s: from the last registration until every cluster had swept
//     once, which the window waits for.
//   - worker-peak-rss-mb: the health worker's peak resident set size (VmHWM
//     of /proc/<pid>/status) at the end of the window, in MiB: the high-water
//     mark over its whole life, start-up included.
//   - recoveries: recoveries succeeded (Counters.RecoveriesSucceeded).
//   - status-p99-ms, status-max-ms, status-over-1s: status query latency,
//     from one query a second during the window (clusters in turn) and one
//     query of every cluster after it, 8 at a time, while the fleet runs on.
//   - detect-p50-s, detect-p99-s, detect-bound-s, detect-missing (with
//     FLEET_BREAK): detection latency by polling, from the moment the node
//     server took a node down to the created_at of the node's recovery
//     action row, against the bound interval + (retry_limit - 1) ×
//     retry_interval + 2 s; detect-missing counts broken nodes without an
//     action row when the window ends.
func BenchmarkFleet(b *testing.B) {
	if b.N > 1 {
		b.Fatalf("BenchmarkFleet runs one fleet per run: use -benchtime 1x (got b.N = %d)", b.N)
	}
	p := fleetParamsFromEnv(b)
	ctx := context.Background()

	bin := buildWorker(b)
	srv := startTemporalWith(b, p.dynamic)
	dsn := storetest.DSN(b)
	st, err := store.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	postmaster := postmasterOf(ctx, st)
	if postmaster == 0 {
		b.Log("the PostgreSQL server's processes are not visible on this machine: postgres-cpu-ms/round is not reported")
	}

	// The node server process answers every node, counting the probes; the
	// first node of each of the first FLEET_UNHEALTHY clusters is down until
	// its recovery webhook is called.
	clusterIDs := make([]string, p.clusters)
	for i := range clusterIDs {
		clusterIDs[i] = fmt.Sprintf("fleet-%04d", i)
	}
	broken := make([]string, 0, p.unhealthy)
	for i := range p.unhealthy {
		broken = append(broken, nodeNames(clusterIDs[i], 1)[0])
	}
	nodes := startFleetNodes(b, broken)

	env := []string{"TEMPORAL_ADDRESS=" + srv.Address, "TEMPORAL_TASK_QUEUE=" + workflows.TaskQueue,
		"DATABASE_URL=" + dsn, "METRICS_ADDR=off", "PROBE_ALLOW_CIDRS=" + testAllow, "BRIDGE_MAX_EVENT_AGE=0"}
	for _, kv := range []string{"HEALTH_CHECK_INTERVAL_MIN=1", "LOG_LEVEL=warn"} {
		if k, _, _ := strings.Cut(kv, "="); os.Getenv(k) == "" {
			env = append(env, kv)
		}
	}
	profileDir := os.Getenv("FLEET_PROFILE")
	pprofAddr := ""
	if profileDir != "" {
		port, err := devserver.FreePort()
		if err != nil {
			b.Fatal(err)
		}
		pprofAddr = "127.0.0.1:" + strconv.Itoa(port)
	}
	procs := []*process{startProcess(b, bin, app.RoleHealth, append(slices.Clone(env), "PPROF_ADDR="+pprofAddr))}
	if p.unhealthy > 0 || p.breaks > 0 {
		procs = append(procs, startProcess(b, bin, app.RoleEngine, env))
	}
	worker := procs[0]
	c := dialTemporal(b, srv.Address)
	waitForPollers(b, c, worker)

	setup := time.Now()
	errs := make([]error, len(clusterIDs))
	parallel(len(clusterIDs), 8, func(i int) {
		errs[i] = seedCluster(ctx, st, clusterIDs[i], nodes.webhookURL(), nodeNames(clusterIDs[i], p.nodes))
	})
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	for _, cid := range clusterIDs {
		reg := pollURLRegistration(cid, nodes.pollURL(), 60)
		reg.Interval = int(p.interval / time.Second)
		startCluster(b, c, reg)
	}
	registered := time.Now()
	settled := waitForFirstSweeps(ctx, b, st, len(clusterIDs))
	b.Logf("fleet of %d clusters × %d nodes stored and registered in %s, every cluster swept once %s later; measuring for %s",
		p.clusters, p.nodes, registered.Sub(setup).Round(time.Millisecond), settled.Round(time.Millisecond), p.duration)

	// The rounds missed so far (while the fleet was being registered), so
	// that missed-rounds counts the window's own.
	var missedBefore int64
	before, _ := fleetStatuses(ctx, c, clusterIDs)
	for _, s := range before {
		missedBefore += s.Counters.MissedRounds
	}

	b.ResetTimer()
	at0 := takeFleetSample(ctx, b, st, nodes, worker.cmd.Process.Pid, postmaster)
	breaks := breakDuringWindow(b, nodes, clusterIDs, p)
	queries := queryDuringWindow(ctx, c, clusterIDs, at0.at.Add(p.duration))
	if profileDir != "" {
		go profileWorker(b, pprofAddr, profileDir, p.duration)
	}
	time.Sleep(time.Until(at0.at.Add(p.duration)))
	at1 := takeFleetSample(ctx, b, st, nodes, worker.cmd.Process.Pid, postmaster)
	b.StopTimer()
	peakRSS := peakRSSMiB(worker.cmd.Process.Pid)
	for _, w := range procs {
		select {
		case <-w.done:
			b.Fatalf("worker %s exited during the run (%s):\n%s", w.name, w.cmd.ProcessState, w.out.String())
		default:
		}
	}
	from, until := at0.at, at1.at

	statuses, took := fleetStatuses(ctx, c, clusterIDs)
	inWindow := <-queries
	allQueries := append(slices.Clone(inWindow), took...)
	var slow int
	for _, d := range allQueries {
		if d >= time.Second {
			slow++
		}
	}
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
				if isSweep(ev) && !ev.GetEventTime().AsTime().After(until) {
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
	b.ReportMetric(float64(missed-missedBefore), "missed-rounds")
	b.ReportMetric(float64(missedBefore), "missed-before-window")
	b.ReportMetric(float64(roundErrors), "round-errors")
	if cost.rounds > 0 {
		b.ReportMetric(cost.eventsPerRound(), "events/round")
	}
	probesPerSec := float64(at1.probes-at0.probes) / window.Seconds()
	b.ReportMetric(probesPerSec, "probes/s")
	workerCPU, serverCPU, nodesCPU, harnessCPU := perRound(at1.worker-at0.worker), perRound(at1.server-at0.server),
		perRound(at1.nodes-at0.nodes), perRound(at1.harness-at0.harness)
	b.ReportMetric(workerCPU, "worker-cpu-ms/round")
	b.ReportMetric(serverCPU, "server-cpu-ms/round")
	pgCPU := "not visible"
	if postmaster != 0 {
		b.ReportMetric(perRound(at1.postgres-at0.postgres), "postgres-cpu-ms/round")
		pgCPU = fmt.Sprintf("%.2f ms", perRound(at1.postgres-at0.postgres))
	}
	b.ReportMetric(nodesCPU, "nodes-cpu-ms/round")
	// The accounting of a probe: each process's CPU per poll URL request,
	// the connections the node server accepted per round (0 when every
	// sweep reuses the kept ones), and the database's transactions per
	// round.
	if probes := at1.probes - at0.probes; probes > 0 {
		b.ReportMetric(float64((at1.worker-at0.worker).Microseconds())/float64(probes), "worker-us/probe")
		b.ReportMetric(float64((at1.nodes-at0.nodes).Microseconds())/float64(probes), "nodes-us/probe")
	}
	if completed > 0 {
		b.ReportMetric(float64(at1.conns-at0.conns)/float64(completed), "node-conns/round")
		if at0.xacts >= 0 && at1.xacts >= 0 {
			b.ReportMetric(float64(at1.xacts-at0.xacts)/float64(completed), "pg-xacts/round")
		}
	}
	b.ReportMetric(harnessCPU, "harness-cpu-ms/round")
	b.ReportMetric(peakRSS, "worker-peak-rss-mb")
	b.ReportMetric(settled.Seconds(), "settle-s")
	b.ReportMetric(float64(recovered), "recoveries")
	b.ReportMetric(ms(percentile(allQueries, 0.99)), "status-p99-ms")
	b.ReportMetric(ms(percentile(allQueries, 1)), "status-max-ms")
	b.ReportMetric(float64(slow), "status-over-1s")
	b.Logf("status queries: %d in the window (one a second) and %d after it (8 at a time): p50 %s, p99 %s, max %s, %d took 1 s or more",
		len(inWindow), len(took), percentile(allQueries, 0.5).Round(100*time.Microsecond),
		percentile(allQueries, 0.99).Round(100*time.Microsecond), percentile(allQueries, 1).Round(100*time.Microsecond), slow)
	detect := breaks.latencies(ctx, b, st)
	if p.breaks > 0 {
		b.ReportMetric(percentile(detect, 0.50).Seconds(), "detect-p50-s")
		b.ReportMetric(percentile(detect, 0.99).Seconds(), "detect-p99-s")
		b.ReportMetric(breaks.bound.Seconds(), "detect-bound-s")
		b.ReportMetric(float64(p.breaks-len(detect)), "detect-missing")
		b.Logf("detection by polling, from a node going down to its action row: %d of %d broken nodes, p50 %s, p99 %s, max %s; bound interval + (retry_limit-1) x retry_interval + 2s = %s",
			len(detect), p.breaks, percentile(detect, 0.50).Round(time.Millisecond), percentile(detect, 0.99).Round(time.Millisecond),
			percentile(detect, 1).Round(time.Millisecond), breaks.bound)
	}

	b.Logf("fleet %d clusters × %d nodes every %s for %s: rounds %d of %.0f expected; start lateness p50 %s p99 %s (%d of %d due rounds not started by %s after the window); workflow task dispatch %.1f ms/round; missed rounds %d in the window (%d before it), failed rounds %d; %.2f events and %d history bytes per round; %.0f probes/s; CPU per round %.2f ms in the health worker, %.2f ms in Temporal, %s in PostgreSQL, %.2f ms in the node server, %.2f ms in the harness; worker peak RSS %.1f MiB; recoveries %d of %d unhealthy clusters; %d clusters continued as new, %d status queries unanswered",
		p.clusters, p.nodes, p.interval, p.duration, completed, expected,
		percentile(late, 0.50).Round(100*time.Microsecond), percentile(late, 0.99).Round(100*time.Microsecond),
		unstarted, len(late), read.Sub(until).Round(time.Millisecond), ms(mean(dispatch)), missed-missedBefore, missedBefore, roundErrors,
		cost.eventsPerRound(), cost.bytes/int64(max(cost.rounds, 1)), probesPerSec,
		workerCPU, serverCPU, pgCPU, nodesCPU, harnessCPU, peakRSS, recovered, p.unhealthy, continued, unanswered)
	if unanswered > 0 {
		b.Errorf("%d clusters did not answer the status query", unanswered)
	}

	// The plain loop, side by side: the workers stop, and a plain net/http
	// loop fetches the same nodes from the same node server at the same rate.
	if os.Getenv("FLEET_PLAIN") == "0" || at1.probes == at0.probes {
		return
	}
	for _, w := range procs {
		w.stop()
	}
	concurrency := 32 // SWEEP_CONCURRENCY's default
	if v, err := strconv.Atoi(os.Getenv("SWEEP_CONCURRENCY")); err == nil && v > 0 {
		concurrency = v
	}
	plain := runPlainLoop(b, plainLoop{Base: nodes.base, Clusters: clusterIDs, Nodes: p.nodes, Concurrency: concurrency,
		Interval: p.interval, Warmup: p.interval, Duration: min(p.duration, time.Minute)})
	if plain.Probes == 0 {
		b.Fatalf("the plain loop made no request: %+v", plain)
	}
	workerUS := float64((at1.worker - at0.worker).Microseconds()) / float64(at1.probes-at0.probes)
	plainUS := float64(plain.CPUus) / float64(plain.Probes)
	b.ReportMetric(plainUS, "plain-us/probe")
	b.ReportMetric(workerUS/plainUS, "worker/plain")
	b.Logf("plain net/http loop on the same node server: %d requests (%d failed), %.1f µs of CPU each; the health worker %.1f µs per probe, %.2f times as much",
		plain.Probes, plain.Failed, plainUS, workerUS, workerUS/plainUS)
}

type fleetParams struct {
	clusters, nodes, unhealthy, breaks int
	interval, duration                 time.Duration
	dynamic                            map[string]string
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
	num("FLEET_BREAK", &p.breaks, 0)
	dur("FLEET_INTERVAL", &p.interval)
	dur("FLEET_DURATION", &p.duration)
	if p.unhealthy+p.breaks > p.clusters {
		b.Fatalf("FLEET_UNHEALTHY + FLEET_BREAK (%d + %d) is above FLEET_CLUSTERS (%d)", p.unhealthy, p.breaks, p.clusters)
	}
	if p.breaks > 0 && p.nodes < 2 {
		b.Fatalf("FLEET_BREAK needs FLEET_NODES of at least 2")
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

// fleetSample is what the harness reads at each end of the window.
type fleetSample struct {
	at     time.Time
	probes int64
	// conns: connections the node server accepted; xacts: transactions
	// of the fleet's database (pg_stat_database, statements outside one
	// included), -1 when not read.
	conns, xacts int64
	// CPU time so far of each process (see BenchmarkFleet).
	worker, server, postgres, nodes, harness time.Duration
}

func takeFleetSample(ctx context.Context, tb testing.TB, st *store.Store, nodes *fleetNodes, worker, postmaster int) fleetSample {
	tb.Helper()
	s := fleetSample{at: time.Now()}
	probes, conns, err := nodes.probes()
	if err != nil {
		tb.Fatalf("node server: %v", err)
	}
	s.probes, s.conns = probes, conns
	// The statistics are those the server last flushed (at most a second
	// old): enough over a window of minutes.
	if err := st.Pool().QueryRow(ctx, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()").Scan(&s.xacts); err != nil {
		s.xacts = -1
	}
	if st, ok := readProcStat(worker); ok {
		s.worker = st.cpu
	}
	s.server = childCPU("start-dev") + childCPU("temporal-server")
	if postmaster != 0 {
		s.postgres = serverTreeCPU(postmaster)
	}
	if st, ok := readProcStat(nodes.pid()); ok {
		s.nodes = st.cpu
	}
	s.harness = processCPU()
	return s
}

// fleetStatuses queries every cluster's status, 8 at a time, and how long
// each query took; the zero Status for a query not answered within 30 s.
func fleetStatuses(ctx context.Context, c client.Client, clusterIDs []string) ([]workflows.Status, []time.Duration) {
	statuses := make([]workflows.Status, len(clusterIDs))
	took := make([]time.Duration, len(clusterIDs))
	parallel(len(clusterIDs), 8, func(i int) {
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		t0 := time.Now()
		statuses[i] = clusterStatus(qctx, c, clusterIDs[i])
		took[i] = time.Since(t0)
	})
	return statuses, took
}

// fleetSettleMax bounds the wait for every cluster's first sweep.
const fleetSettleMax = 30 * time.Minute

// waitForFirstSweeps waits until each of the fleet's clusters has swept
// once (its cluster_checks row exists, in the run's own database), so that
// the window measures the fleet running, not its registration; it returns
// how long that took.
func waitForFirstSweeps(ctx context.Context, tb testing.TB, st *store.Store, clusters int) time.Duration {
	tb.Helper()
	t0 := time.Now()
	for {
		var n int
		if err := st.Pool().QueryRow(ctx, "SELECT count(*) FROM cluster_checks").Scan(&n); err != nil {
			tb.Fatalf("count the clusters swept: %v", err)
		}
		if n >= clusters {
			return time.Since(t0)
		}
		if time.Since(t0) > fleetSettleMax {
			tb.Fatalf("%d of %d clusters swept once %s after the last registration", n, clusters, fleetSettleMax)
		}
		time.Sleep(time.Second)
	}
}

// waitForPollers waits until the health worker w polls both the workflow and
// the activity task queue of the fleet.
func waitForPollers(tb testing.TB, c client.Client, w *process) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		polled := 0
		for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := c.DescribeTaskQueue(ctx, workflows.TaskQueue, typ)
			cancel()
			if err == nil && len(resp.GetPollers()) > 0 {
				polled++
			}
		}
		if polled == 2 {
			return
		}
		select {
		case <-w.done:
			tb.Fatalf("worker %s exited at start (%s):\n%s", w.name, w.cmd.ProcessState, w.out.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("worker %s does not poll task queue %s after 60s:\n%s", w.name, workflows.TaskQueue, w.out.String())
		}
		time.Sleep(waitTick)
	}
}

// processCPU is the user and system CPU time of this process so far, its
// children's not included.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStat is what /proc/<pid>/stat says of a process (Linux).
type procStat struct {
	ppid int
	// cpu is the process's own user and system time (utime + stime);
	// reaped is its waited-for children's (cutime + cstime).
	cpu, reaped time.Duration
}

// readProcStat reads /proc/<pid>/stat. The kernel counts the times in ticks
// of 1/100 s (USER_HZ).
func readProcStat(pid int) (procStat, bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// The fields after the command, which is in parentheses: state is the
	// 3rd field of the line, ppid the 4th, utime the 14th, stime the 15th,
	// cutime the 16th and cstime the 17th.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return procStat{}, false
	}
	n := func(i int) int64 {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		return v
	}
	tick := 10 * time.Millisecond
	return procStat{
		ppid:   int(n(1)),
		cpu:    time.Duration(n(11)+n(12)) * tick,
		reaped: time.Duration(n(13)+n(14)) * tick,
	}, true
}

// childCPU is the user and system CPU time so far of this process's children
// whose command line holds match, read from /proc (Linux; 0 elsewhere).
func childCPU(match string) time.Duration {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var total time.Duration
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for field := range strings.FieldsSeq(string(b)) {
			pid, err := strconv.Atoi(field)
			if err != nil {
				continue
			}
			cmd, err := os.ReadFile("/proc/" + field + "/cmdline")
			if err != nil || !strings.Contains(string(cmd), match) {
				continue
			}
			if st, ok := readProcStat(pid); ok {
				total += st.cpu
			}
		}
	}
	return total
}

// serverTreeCPU is the user and system CPU time so far of the process root
// (a PostgreSQL postmaster), of the children it has waited for, and of its
// live children, read from /proc (Linux). A child counts once live and
// then, once reaped, in root's cutime + cstime, so the difference of two
// readings holds the children that exited in between. The root is read
// first: a child reaped while /proc is scanned counts in neither.
func serverTreeCPU(root int) time.Duration {
	st, ok := readProcStat(root)
	if !ok {
		return 0
	}
	total := st.cpu + st.reaped
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		if c, ok := readProcStat(pid); ok && c.ppid == root {
			total += c.cpu
		}
	}
	return total
}

// postmasterOf is the pid of the PostgreSQL server process behind st, the
// parent of one of its backends, when it runs on this machine in our pid
// namespace; 0 when it cannot be told.
func postmasterOf(ctx context.Context, st *store.Store) int {
	var backend int
	if err := st.Pool().QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return 0
	}
	isPostgres := func(pid int) bool {
		cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		return err == nil && strings.Contains(string(cmd), "postgres")
	}
	s, ok := readProcStat(backend)
	if !ok || !isPostgres(backend) || !isPostgres(s.ppid) {
		return 0
	}
	return s.ppid
}

// peakRSSMiB is the peak resident set size (VmHWM) of a process, in MiB; 0
// when /proc does not say.
func peakRSSMiB(pid int) float64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
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

// fleetBreaks are the nodes a fleet run took down, and when.
type fleetBreaks struct {
	at    map[string]time.Time // node name -> taken down
	node  map[string]string    // node name -> cluster
	bound time.Duration
	done  chan struct{} // closed when every node is down
}

// breakDuringWindow takes the second node of each of the last p.breaks
// clusters down, one after another at moments spread over the window, early
// enough that the detection bound fits in the window.
func breakDuringWindow(b *testing.B, nodes *fleetNodes, clusterIDs []string, p fleetParams) *fleetBreaks {
	reg := pollURLRegistration("x", "", 60)
	mode := reg.DetectionModes[0]
	fb := &fleetBreaks{at: map[string]time.Time{}, node: map[string]string{}, done: make(chan struct{}),
		bound: p.interval + time.Duration(mode.PollURLRetryLimit-1)*time.Duration(mode.PollURLRetryInterval)*time.Second + 2*time.Second}
	if p.breaks == 0 {
		close(fb.done)
		return fb
	}
	span := p.duration - fb.bound - 10*time.Second
	if span <= 0 {
		b.Fatalf("FLEET_BREAK: FLEET_DURATION (%s) must be above the detection bound %s + 10s", p.duration, fb.bound)
	}
	start := time.Now()
	go func() {
		defer close(fb.done)
		for i := range p.breaks {
			cid := clusterIDs[len(clusterIDs)-1-i]
			name := nodeNames(cid, 2)[1]
			time.Sleep(time.Until(start.Add(span * time.Duration(i) / time.Duration(p.breaks))))
			at := time.Now()
			if err := nodes.breakNode(name); err != nil {
				b.Errorf("break %s: %v", name, err)
				continue
			}
			fb.at[name], fb.node[name] = at, cid
		}
	}()
	return fb
}

// latencies reads each broken node's first recovery action created after it
// went down, and returns the detection latencies found.
func (fb *fleetBreaks) latencies(ctx context.Context, b *testing.B, st *store.Store) []time.Duration {
	<-fb.done
	var out []time.Duration
	for name, at := range fb.at {
		acts, err := st.ListActions(ctx, fb.node[name])
		if err != nil {
			b.Fatalf("actions of %s: %v", fb.node[name], err)
		}
		var first time.Time
		for _, a := range acts {
			if a.NodeID == "id-"+name && a.CreatedAt.After(at.Add(-time.Second)) && (first.IsZero() || a.CreatedAt.Before(first)) {
				first = a.CreatedAt
			}
		}
		if !first.IsZero() {
			out = append(out, first.Sub(at))
		}
	}
	slices.Sort(out)
	return out
}

// queryDuringWindow queries the status of one cluster a second, in turn,
// until the window ends, and sends the latencies; a query that fails counts
// as its time until then.
func queryDuringWindow(ctx context.Context, c client.Client, clusterIDs []string, end time.Time) <-chan []time.Duration {
	out := make(chan []time.Duration, 1)
	go func() {
		var took []time.Duration
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; time.Now().Add(time.Second).Before(end); i++ {
			<-tick.C
			qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			t0 := time.Now()
			clusterStatus(qctx, c, clusterIDs[i%len(clusterIDs)])
			took = append(took, time.Since(t0))
			cancel()
		}
		out <- took
	}()
	return out
}

// profileWorker waits until the middle of the window, then takes a 30 s CPU
// profile of the health worker into dir/worker-cpu.pprof.
func profileWorker(b *testing.B, addr, dir string, window time.Duration) {
	time.Sleep(max(0, window/2-15*time.Second))
	c := http.Client{Timeout: 2 * time.Minute}
	resp, err := c.Get("http://" + addr + "/debug/pprof/profile?seconds=30")
	if err != nil {
		b.Logf("worker CPU profile: %v", err)
		return
	}
	defer resp.Body.Close()
	path := filepath.Join(dir, "worker-cpu.pprof")
	f, err := os.Create(path)
	if err == nil {
		_, err = io.Copy(f, resp.Body)
		f.Close()
	}
	if err != nil {
		b.Logf("worker CPU profile: %v", err)
		return
	}
	b.Logf("worker CPU profile (30 s from the middle of the window): %s", path)
}
