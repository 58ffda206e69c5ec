package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/clusterhealth/healthd/internal/testkit"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/internal/devserver"
	"github.com/clusterhealth/healthd/internal/engine"
	"github.com/clusterhealth/healthd/internal/metrics"
	"github.com/clusterhealth/healthd/workflows"
)

// readyzBound is how long one /readyz request may take on a loaded machine:
// each check is bounded by metrics.ReadyTimeout, and the answer must come
// however dead a dependency is.
const readyzBound = metrics.ReadyTimeout + 3*time.Second

// loopbackAddr returns a free host:port on loopback, for a metrics listener.
func loopbackAddr(t testing.TB) string {
	t.Helper()
	port, err := devserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// readyzSample is one /readyz request and its answer.
type readyzSample struct {
	at   time.Time
	code int // 0 when no answer came
	body string
	took time.Duration
	err  error
}

func (s readyzSample) String() string {
	if s.code == 0 {
		return fmt.Sprintf("no answer after %s (%v)", s.took.Round(time.Millisecond), s.err)
	}
	return fmt.Sprintf("%d %q", s.code, s.body)
}

// readyzProbe asks an app's /readyz every few hundred milliseconds, as a
// Kubernetes readiness probe would, and keeps every answer.
type readyzProbe struct {
	url     string
	mu      sync.Mutex
	samples []readyzSample
}

// watchReadyz starts probing http://addr/readyz until the test ends. Each
// request may take up to twice readyzBound before it counts as unanswered.
func watchReadyz(t testing.TB, addr string) *readyzProbe {
	p := &readyzProbe{url: "http://" + addr + "/readyz"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	hc := &http.Client{Timeout: 2 * readyzBound}
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			s := readyzSample{at: time.Now()}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
			resp, err := hc.Do(req)
			s.took = time.Since(s.at)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				s.err = err
			} else {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				_ = resp.Body.Close()
				s.code, s.body = resp.StatusCode, strings.TrimSpace(string(b))
			}
			p.mu.Lock()
			p.samples = append(p.samples, s)
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return p
}

// since returns the samples taken from t on.
func (p *readyzProbe) since(t time.Time) []readyzSample {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []readyzSample
	for _, s := range p.samples {
		if !s.at.Before(t) {
			out = append(out, s)
		}
	}
	return out
}

// waitFor waits up to within for a sample taken from from on that ok accepts,
// and returns it.
func (p *readyzProbe) waitFor(t testing.TB, from time.Time, within time.Duration, what string, ok func(readyzSample) bool) readyzSample {
	t.Helper()
	var found readyzSample
	require.Eventually(t, func() bool {
		for _, s := range p.since(from) {
			if ok(s) {
				found = s
				return true
			}
		}
		return false
	}, within, waitTick, "waiting for /readyz to answer %s", what)
	return found
}

// transitions describes every change of /readyz's status code from from on,
// each with its time after from; the first sample counts as a change.
func (p *readyzProbe) transitions(from time.Time) []string {
	var out []string
	last := -1
	for _, s := range p.since(from) {
		if s.code != last {
			out = append(out, fmt.Sprintf("+%s %s", s.at.Sub(from).Round(100*time.Millisecond), s))
			last = s.code
		}
	}
	return out
}

// check fails the test for every request from from on that took longer than
// readyzBound or got no answer, and returns the slowest request's time.
func (p *readyzProbe) check(t testing.TB, from time.Time) time.Duration {
	t.Helper()
	var slowest time.Duration
	for _, s := range p.since(from) {
		slowest = max(slowest, s.took)
		if s.code == 0 || s.took > readyzBound {
			t.Errorf("/readyz at +%s: %s after %s, want an answer within %s", s.at.Sub(from).Round(time.Millisecond), s,
				s.took.Round(time.Millisecond), readyzBound)
		}
	}
	return slowest
}

// gate holds whoever passes it until it is opened: a webhook call or a node's
// answer under the test's control.
type gate struct {
	enter, open     sync.Once
	entered, opened chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}), opened: make(chan struct{})} }

// pass reports the caller's arrival and waits until the gate is opened or ctx
// ends; it reports whether the gate was opened.
func (g *gate) pass(ctx context.Context) bool {
	g.enter.Do(func() { close(g.entered) })
	select {
	case <-g.opened:
		return true
	case <-ctx.Done():
		return false
	}
}

// release opens the gate; it may be called more than once.
func (g *gate) release() { g.open.Do(func() { close(g.opened) }) }

// waitEntered waits up to within for someone to arrive at the gate.
func (g *gate) waitEntered(t testing.TB, within time.Duration, what string) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(within):
		t.Fatalf("%s did not happen within %s", what, within)
	}
}

// heldFleet is a set of nodes behind one poll URL server and the cluster's
// recovery webhook. A node marked down answers 503 until a webhook call for
// it returns; the first webhook call is held at hook until the test releases
// it (later calls are not held). A node marked slow holds its next poll at
// slow once the test arms it, then answers ok.
type heldFleet struct {
	mu    sync.Mutex
	down  map[string]bool
	armed map[string]bool
	calls []engine.WebhookRequest

	hook, slow *gate
	nodes      *httptest.Server
	webhook    *httptest.Server
}

func newHeldFleet(t testing.TB, down ...string) *heldFleet {
	f := &heldFleet{down: map[string]bool{}, armed: map[string]bool{}, hook: newGate(), slow: newGate()}
	for _, n := range down {
		f.down[n] = true
	}
	f.nodes = nodeServer(t, func(r *http.Request, name string) bool {
		f.mu.Lock()
		down, armed := f.down[name], f.armed[name]
		f.armed[name] = false
		f.mu.Unlock()
		if armed {
			f.slow.pass(r.Context()) // held; answered (to nobody) if the poll gave up
		}
		return down
	})
	f.webhook = webhookServer(t, func(w http.ResponseWriter, r *http.Request, req engine.WebhookRequest) {
		f.mu.Lock()
		f.calls = append(f.calls, req)
		first := len(f.calls) == 1
		f.mu.Unlock()
		if first && !f.hook.pass(r.Context()) {
			return // the engine gave up on the call
		}
		f.mu.Lock()
		f.down[req.NodeName] = false
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	// Release a held call before the servers (closed by earlier cleanups,
	// which run later) wait for it to end.
	t.Cleanup(func() {
		f.hook.release()
		f.slow.release()
	})
	return f
}

// arm makes the next poll of node held at the slow gate.
func (f *heldFleet) arm(node string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed[node] = true
}

// armed reports whether node's next poll is still to be held.
func (f *heldFleet) isArmed(node string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.armed[node]
}

// sweepPending reports whether the cluster's workflow has a sweep activity
// scheduled or running, by the server's description of it (which needs no
// worker, unlike a query).
func sweepPending(t testing.TB, c client.Client, clusterID string) bool {
	t.Helper()
	d, err := c.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(clusterID), "")
	if err != nil {
		return false
	}
	for _, a := range d.GetPendingActivities() {
		if a.GetActivityType().GetName() == sweepActivity {
			return true
		}
	}
	return false
}

// webhookCalls returns the action ids of the webhook calls, in order.
func (f *heldFleet) webhookCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, len(f.calls))
	for i, c := range f.calls {
		ids[i] = c.ActionID
	}
	return ids
}

// settledStatus waits for a moment between rounds (no round running, the
// next one scheduled) and returns the status then, with the time it was read.
func settledStatus(t testing.TB, c client.Client, clusterID string, within time.Duration) (workflows.Status, time.Time) {
	t.Helper()
	var s workflows.Status
	var at time.Time
	require.Eventually(t, func() bool {
		at = time.Now()
		s = clusterStatus(context.Background(), c, clusterID)
		return s.ClusterID != "" && !s.RoundRunning && !s.NextRound.IsZero()
	}, within, waitTick, "waiting for cluster %s to be between rounds", clusterID)
	return s, at
}

// gridTally compares two settled statuses of one cluster, a before and an
// after: every point of the round grid between their next rounds must be a
// round that ran (or failed) or a round counted as missed, and the grid must
// have kept up with the clock.
type gridTally struct {
	rounds, missed, errors int64
	points                 int64 // grid points from before's next round to after's
	expected               int64 // the points the clock passed meanwhile, rounded
}

func (g gridTally) String() string {
	return fmt.Sprintf("rounds +%d (of which failed +%d), missed +%d, grid points +%d, clock +%d intervals",
		g.rounds, g.errors, g.missed, g.points, g.expected)
}

// checkGrid fails the test when a round was neither run nor counted between
// two settled statuses read at beforeAt and afterAt.
func checkGrid(t testing.TB, interval time.Duration, before, after workflows.Status, beforeAt, afterAt time.Time) gridTally {
	t.Helper()
	g := gridTally{
		rounds: after.Counters.Rounds - before.Counters.Rounds,
		missed: after.Counters.MissedRounds - before.Counters.MissedRounds,
		errors: after.Counters.RoundErrors - before.Counters.RoundErrors,
	}
	span := after.NextRound.Sub(before.NextRound)
	g.points = int64(span / interval)
	g.expected = int64((afterAt.Sub(beforeAt) + interval/2) / interval)
	if span%interval != 0 {
		t.Errorf("next round moved by %s, not a whole number of %s intervals: the grid shifted", span, interval)
	}
	if g.rounds+g.missed != g.points {
		t.Errorf("rounds: %s; want every grid point run or counted as missed (%d + %d = %d)", g, g.rounds, g.missed, g.points)
	}
	if d := g.points - g.expected; d < -2 || d > 2 {
		t.Errorf("rounds: %s; want the grid to keep up with the clock within 2 intervals", g)
	}
	return g
}

// activityTally counts, from a workflow's history, the activities of each
// type that were scheduled and the retries they took (the attempts past the
// first of the ones that ended).
type activityTally struct{ scheduled, retries map[string]int }

func (a activityTally) String() string {
	var parts []string
	for _, name := range []string{"CheckCluster", "RecoverNode", "WaitForAction", "RecordHealthEvents"} {
		if a.scheduled[name] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d (+%d retries)", name, a.scheduled[name], a.retries[name]))
		}
	}
	return strings.Join(parts, ", ")
}

func activitiesOf(t testing.TB, c client.Client, clusterID string) activityTally {
	t.Helper()
	a := activityTally{scheduled: map[string]int{}, retries: map[string]int{}}
	for _, evs := range clusterHistory(t, c, workflows.WorkflowID(clusterID)) {
		types := map[int64]string{}
		for _, ev := range evs {
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				name := ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
				types[ev.GetEventId()] = name
				a.scheduled[name]++
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
				at := ev.GetActivityTaskStartedEventAttributes()
				a.retries[types[at.GetScheduledEventId()]] += int(at.GetAttempt()) - 1
			}
		}
	}
	return a
}

// restartableTemporal is a file-backed Temporal dev server on a fixed
// address: stopped and started again, it serves the same workflows there.
type restartableTemporal struct {
	opts devserver.Options
	srv  *devserver.Server
}

// startRestartableTemporal starts the server; it is stopped when the test
// ends, after the app (register this before runApp).
func startRestartableTemporal(t testing.TB) *restartableTemporal {
	t.Helper()
	testkit.Integration(t, "a Temporal server")
	port, err := devserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	r := &restartableTemporal{opts: devserver.Options{
		Address: "127.0.0.1:" + strconv.Itoa(port),
		DBFile:  filepath.Join(t.TempDir(), "temporal.db"),
	}}
	t.Cleanup(func() {
		if r.srv != nil {
			_ = r.srv.Stop()
		}
	})
	r.start(t)
	return r
}

func (r *restartableTemporal) start(t testing.TB) {
	t.Helper()
	var err error
	if r.srv, err = devserver.Start(context.Background(), r.opts); err != nil {
		t.Fatalf("start Temporal dev server (run scripts/install-temporal.sh): %v", err)
	}
}

// stop stops the server and returns once it has exited.
func (r *restartableTemporal) stop(t testing.TB) {
	t.Helper()
	err := r.srv.Stop()
	r.srv = nil
	if err != nil {
		t.Fatalf("stop Temporal: %v", err)
	}
}

// withTestBridge points cfg's bridge at the local RabbitMQ with exchanges and
// queues of the test's own, removed when the test ends (after the app, when
// called before runApp).
func withTestBridge(t testing.TB, cfg *app.Config) {
	t.Helper()
	cfg.Bridge.URL = amqpURL()
	suffix := strconv.FormatInt(time.Now().UnixNano(), 10)
	cfg.Bridge.NovaExchange = "nova.outage." + suffix
	cfg.Bridge.HeatExchange = "heat.outage." + suffix
	cfg.Bridge.NovaQueue = "healthd.nova.outage." + suffix
	cfg.Bridge.HeatQueue = "healthd.heat.outage." + suffix
	cfg.Bridge.DeadLetterExchange = "healthd.dlx.outage." + suffix
	cfg.Bridge.DeadLetterQueue = "healthd.dead.outage." + suffix
	conn, err := amqp.Dial(cfg.Bridge.URL)
	if err != nil {
		t.Fatalf("connect to RabbitMQ at %s (is it running? scripts/ensure-services.sh starts it): %v", config.RedactURL(cfg.Bridge.URL), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Bridge
	t.Cleanup(func() {
		for _, x := range []string{b.NovaExchange, b.HeatExchange, b.DeadLetterExchange} {
			_ = ch.ExchangeDelete(x, false, false)
		}
		for _, q := range []string{b.NovaQueue, b.HeatQueue, b.DeadLetterQueue} {
			_, _ = ch.QueueDelete(q, false, false, false)
		}
	})
}

// dumpOnFailure logs, when the test has failed, what the cluster's workflow
// is doing: its status, its pending activities and the last events of its
// history. Register it once the workflow is started.
func dumpOnFailure(t testing.TB, c client.Client, clusterID string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, _ := json.Marshal(clusterStatus(ctx, c, clusterID))
		t.Logf("status of %s: %s", clusterID, s)
		if d, err := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(clusterID), ""); err != nil {
			t.Logf("describe %s: %v", clusterID, err)
		} else {
			for _, p := range d.GetPendingActivities() {
				t.Logf("pending activity %s: %s, attempt %d, last failure %v", p.GetActivityType().GetName(), p.GetState(),
					p.GetAttempt(), p.GetLastFailure().GetMessage())
			}
		}
		runs := clusterHistory(t, c, workflows.WorkflowID(clusterID))
		evs := runs[len(runs)-1]
		for _, ev := range evs[max(0, len(evs)-30):] {
			t.Logf("event %d %s %s", ev.GetEventId(), ev.GetEventTime().AsTime().Format(time.StampMilli), ev.GetEventType())
		}
	})
}
