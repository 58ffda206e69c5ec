package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/internal/devserver"
)

// BenchmarkRoundShapes measures what Temporal itself costs per healthy
// round, for two shapes a cluster's healthy rounds can take, one after the
// other in one run, each on a dev server of its own with the same number of
// clusters on the same grid (spread over the interval, as phases spread
// them):
//
//   - timer: each round is a timer to the round's grid point and a sweep as
//     a local activity, today's healthy round (6 events: the timer started
//     and fired, a workflow task scheduled, started and completed, the
//     sweep's marker);
//   - run: one activity sweeps ROUND_SHAPES_RUN rounds in a row on the grid,
//     heartbeating once a round, with a heartbeat timeout of
//     ROUND_SHAPES_HEARTBEAT and the worker's heartbeat throttle at 0.8 of
//     it: a run of quiet rounds costs one activity and one workflow task,
//     and a heartbeat now and then.
//
// The sweeps themselves do nothing (the worker's probes are measured by
// BenchmarkFleet): the difference is Temporal's work and the worker's
// workflow tasks. Reported, per round, over a window of
// ROUND_SHAPES_WINDOW after the clusters' first rounds:
//
//   - timer-server-ms/round, run-server-ms/round: CPU (user + system) of the
//     dev server process per round, and timer/run, their ratio;
//   - timer-worker-ms/round, run-worker-ms/round: the same of this process,
//     which holds the worker (and the starter, idle in the window).
//
// Run it with -benchtime 1x: scripts/bench-round-shapes.sh.
func BenchmarkRoundShapes(b *testing.B) {
	if b.N > 1 {
		b.Fatalf("BenchmarkRoundShapes runs each shape once per run: use -benchtime 1x (got b.N = %d)", b.N)
	}
	p := roundShapeParams{clusters: int(envInt(b, "ROUND_SHAPES_CLUSTERS", 3000)), run: int(envInt(b, "ROUND_SHAPES_RUN", 5)),
		interval: envDuration(b, "ROUND_SHAPES_INTERVAL", time.Minute), window: envDuration(b, "ROUND_SHAPES_WINDOW", 4*time.Minute),
		heartbeat: envDuration(b, "ROUND_SHAPES_HEARTBEAT", 5*time.Minute)}
	if p.clusters < 1 || p.run < 1 {
		b.Fatalf("ROUND_SHAPES_CLUSTERS and ROUND_SHAPES_RUN: want at least 1, got %d and %d", p.clusters, p.run)
	}
	timer := measureRoundShape(b, p, false)
	run := measureRoundShape(b, p, true)
	b.ReportMetric(timer.server, "timer-server-ms/round")
	b.ReportMetric(run.server, "run-server-ms/round")
	b.ReportMetric(timer.server/run.server, "timer/run")
	b.ReportMetric(timer.worker, "timer-worker-ms/round")
	b.ReportMetric(run.worker, "run-worker-ms/round")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d clusters, rounds every %s, %s windows: Temporal %.2f ms per round with a timer and a local sweep each, %.2f ms with runs of %d rounds in one activity (heartbeat timeout %s): %.1f× less; the worker %.2f and %.2f ms",
		p.clusters, p.interval, p.window, timer.server, run.server, p.run, p.heartbeat, timer.server/run.server, timer.worker, run.worker)
}

type roundShapeParams struct {
	clusters, run               int
	interval, window, heartbeat time.Duration
}

// roundShapeCost is the CPU per round, in milliseconds.
type roundShapeCost struct{ server, worker float64 }

// envDuration is the duration in the environment variable name, def when
// it is unset.
func envDuration(t testing.TB, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 60s", name, v)
	}
	return d
}

// nextPoint is the first point after now of the grid of interval laid at
// phase.
func nextPoint(now time.Time, interval, phase time.Duration) time.Time {
	next := now.Truncate(interval).Add(phase)
	for !next.After(now) {
		next = next.Add(interval)
	}
	return next
}

// shapeSweep stands for a healthy sweep: a summary and no exception.
type shapeSweep struct {
	Nodes   int       `json:"nodes"`
	Healthy int       `json:"healthy"`
	At      time.Time `json:"at"`
}

func shapeSweepOnce(context.Context) (shapeSweep, error) {
	return shapeSweep{Nodes: 10, Healthy: 10, At: time.Now()}, nil
}

// shapeSweepRun sweeps rounds rounds on the grid, heartbeating once a round.
func shapeSweepRun(ctx context.Context, interval, phase time.Duration, rounds int) (int, error) {
	for r := range rounds {
		t := time.NewTimer(time.Until(nextPoint(time.Now(), interval, phase)))
		select {
		case <-ctx.Done():
			t.Stop()
			return r, ctx.Err()
		case <-t.C:
		}
		if _, err := shapeSweepOnce(ctx); err != nil {
			return r, err
		}
		activity.RecordHeartbeat(ctx, r)
	}
	return rounds, nil
}

func shapeTimerWorkflow(ctx workflow.Context, interval, phase time.Duration) error {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 5 * time.Second})
	for {
		now := workflow.Now(ctx)
		if err := workflow.NewTimer(ctx, nextPoint(now, interval, phase).Sub(now)).Get(ctx, nil); err != nil {
			return err
		}
		var s shapeSweep
		if err := workflow.ExecuteLocalActivity(lctx, shapeSweepOnce).Get(ctx, &s); err != nil {
			return err
		}
	}
}

func shapeRunWorkflow(ctx workflow.Context, interval, phase time.Duration, rounds int, heartbeat time.Duration) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Duration(rounds+1) * interval, HeartbeatTimeout: heartbeat})
	for {
		var n int
		if err := workflow.ExecuteActivity(actx, shapeSweepRun, interval, phase, rounds).Get(ctx, &n); err != nil {
			return err
		}
	}
}

// measureRoundShape runs p.clusters workflows of one shape on a dev server
// of their own and returns the CPU per round over the window.
func measureRoundShape(b *testing.B, p roundShapeParams, run bool) roundShapeCost {
	b.Helper()
	ctx := context.Background()
	srv, err := devserver.Start(ctx, devserver.Options{})
	if err != nil {
		b.Fatalf("start Temporal dev server (run scripts/install-temporal.sh): %v", err)
	}
	defer func() { _ = srv.Stop() }()
	quiet := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	c, err := client.Dial(client.Options{HostPort: srv.Address, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	queue := "round-shape"
	throttle := p.heartbeat * 4 / 5
	w := worker.New(c, queue, worker.Options{MaxHeartbeatThrottleInterval: throttle, DefaultHeartbeatThrottleInterval: throttle})
	w.RegisterWorkflow(shapeTimerWorkflow)
	w.RegisterWorkflow(shapeRunWorkflow)
	w.RegisterActivity(shapeSweepOnce)
	w.RegisterActivity(shapeSweepRun)
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	for i := range p.clusters {
		phase := time.Duration(i) * p.interval / time.Duration(p.clusters)
		opts := client.StartWorkflowOptions{ID: fmt.Sprintf("shape-%d", i), TaskQueue: queue}
		if run {
			_, err = c.ExecuteWorkflow(ctx, opts, shapeRunWorkflow, p.interval, phase, p.run, p.heartbeat)
		} else {
			_, err = c.ExecuteWorkflow(ctx, opts, shapeTimerWorkflow, p.interval, phase)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	// Every cluster's first round, and the start-up's work, before the window.
	time.Sleep(p.interval + p.interval/2)
	server0, self0, start := childCPU("start-dev"), processCPU(), time.Now()
	time.Sleep(p.window)
	server, self, took := childCPU("start-dev")-server0, processCPU()-self0, time.Since(start)
	rounds := float64(p.clusters) * took.Seconds() / p.interval.Seconds()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / rounds }
	return roundShapeCost{server: ms(server), worker: ms(self)}
}
