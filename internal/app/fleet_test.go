package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/proto"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/workflows"
)

// TestHealthyRoundCostIsConstant checks the design's promise that a healthy
// round costs a constant number of history events whatever the node count:
// a cluster of 3 nodes and one of 300, all healthy, run the same rounds on a
// real Temporal server, and each of their rounds must add the same number of
// events to the history, about a dozen. The start-up events (the workflow's
// start, the cluster description, the first search attributes) come before
// the first round's sweep is scheduled and are left out.
func TestHealthyRoundCostIsConstant(t *testing.T) {
	ctx := context.Background()
	temporalSrv := startTemporal(t)
	m := runApp(t, testConfig(t, temporalSrv.Address), zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel)), app.RoleHealth)
	var probes atomic.Int64
	nodeSrv := okNodeServer(t, &probes)
	c := dialTemporal(t, temporalSrv.Address)

	// Five full rounds are measured: from the first round's sweep being
	// scheduled to the sixth's.
	const measured = 5
	sizes := []int{3, 300}
	for _, n := range sizes {
		cid := fmt.Sprintf("c-cost-%d", n)
		if err := seedCluster(ctx, m.Store, cid, "", nodeNames(cid, n)); err != nil {
			t.Fatal(err)
		}
		reg := pollURLRegistration(cid, nodeSrv.URL, 60)
		reg.Interval = 1
		startCluster(t, c, reg)
	}
	for _, n := range sizes {
		cid := fmt.Sprintf("c-cost-%d", n)
		require.Eventually(t, func() bool {
			return clusterStatus(ctx, c, cid).Counters.Rounds >= measured+1
		}, 90*time.Second, waitTick, "waiting for %d rounds of the %d-node cluster", measured+1, n)
	}

	perRound := map[int]float64{}
	steady := map[int][]int64{} // the events of each round after the first
	bytesPerRound := map[int]int64{}
	statusSize := map[int]int{}
	for _, n := range sizes {
		cid := fmt.Sprintf("c-cost-%d", n)
		s := clusterStatus(ctx, c, cid)
		if s.Runs != 1 {
			t.Fatalf("%s: %d runs, want 1: the workflow continued as new while measured", cid, s.Runs)
		}
		if s.Counters.Unhealthy != 0 || s.Counters.Unknown != 0 || s.Counters.RoundErrors != 0 || s.NodeCount != n || len(s.Nodes) != 0 {
			t.Fatalf("%s: want %d healthy nodes, none listed, and no failed round; got %d counted, %d listed, counters %+v",
				cid, n, s.NodeCount, len(s.Nodes), s.Counters)
		}
		statusBytes, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		statusSize[n] = len(statusBytes)
		runs := clusterHistory(t, c, workflows.WorkflowID(cid))
		cost, ok := healthyRoundCost(runs[len(runs)-1], measured)
		if !ok {
			t.Fatalf("%s: fewer than %d CheckCluster sweeps scheduled in the history", cid, measured+1)
		}
		perRound[n] = cost.eventsPerRound()
		steady[n] = cost.each[1:]
		bytesPerRound[n] = cost.bytes / int64(cost.rounds)
		t.Logf("%d nodes: %d events over %d rounds = %.2f events per round (per round: %v), %d history bytes per round",
			n, cost.events, cost.rounds, cost.eventsPerRound(), cost.each, cost.bytes/int64(cost.rounds))
	}
	t.Logf("%d probes served", probes.Load())
	small, large := perRound[sizes[0]], perRound[sizes[1]]
	if d := large - small; d > 1 || d < -1 {
		t.Errorf("history events per healthy round: %.2f with %d nodes, %.2f with %d nodes; want the same count whatever the node count",
			small, sizes[0], large, sizes[1])
	}
	// The bytes of a round and of the status do not grow with the nodes
	// either: the cluster IDs differ by two characters, so allow a little.
	if d := bytesPerRound[sizes[1]] - bytesPerRound[sizes[0]]; d > 64 || d < -64 {
		t.Errorf("history bytes per healthy round: %d with %d nodes, %d with %d nodes; want the same whatever the node count",
			bytesPerRound[sizes[0]], sizes[0], bytesPerRound[sizes[1]], sizes[1])
	}
	if d := statusSize[sizes[1]] - statusSize[sizes[0]]; d > 64 || d < -64 {
		t.Errorf("status size: %d bytes with %d nodes, %d with %d nodes; want the same whatever the node count",
			statusSize[sizes[0]], sizes[0], statusSize[sizes[1]], sizes[1])
	}
	t.Logf("status query: %d bytes with %d nodes, %d with %d", statusSize[sizes[0]], sizes[0], statusSize[sizes[1]], sizes[1])
	for _, n := range sizes {
		if perRound[n] > 15 {
			t.Errorf("history events per healthy round with %d nodes: %.2f, want at most 15", n, perRound[n])
		}
		// After the first round (an activity: no sweep is known yet), a
		// short sweep runs as a local activity: the timer fired, one
		// workflow task, the sweep's marker, the next timer.
		for i, e := range steady[n] {
			if e > 6 {
				t.Errorf("history events of healthy round %d with %d nodes: %d, want at most 6 (per round: %v)", i+2, n, e, steady[n])
			}
		}
	}
}

// runApp runs roles of the app on cfg until the test ends, and waits until
// they have started.
func runApp(tb testing.TB, cfg app.Config, logger *zap.Logger, roles ...string) *app.Main {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m := app.New(cfg, logger)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, roles...) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("app run: %v", err)
		}
	})
	require.Eventually(tb, m.Started, 60*time.Second, waitTick, "waiting for the app to start")
	return m
}

// okNodeServer answers "ok" for every node, counting the requests in served.
func okNodeServer(tb testing.TB, served *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
		fmt.Fprint(w, "ok")
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// nodeNames names n nodes of a cluster, unique across clusters.
func nodeNames(clusterID string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-n%04d", clusterID, i)
	}
	return names
}

// seedCluster stores a cluster and its ACTIVE nodes, node IDs "id-<name>".
func seedCluster(ctx context.Context, st *store.Store, clusterID, webhook string, names []string) error {
	if err := st.UpsertCluster(ctx, health.Cluster{ID: clusterID, Name: clusterID, Project: "p", RecoverWebhook: webhook}); err != nil {
		return err
	}
	for _, name := range names {
		if err := st.UpsertNode(ctx, health.Node{ID: "id-" + name, ClusterID: clusterID, Name: name, PhysicalID: "vm-" + name,
			Status: health.NodeActive, InitAt: time.Now().Add(-time.Hour)}); err != nil {
			return err
		}
	}
	return nil
}

// clusterHistory returns the events of every run of the workflow, oldest run
// first: the current run, then the runs it continued, followed back.
func clusterHistory(tb testing.TB, c client.Client, workflowID string) [][]*historypb.HistoryEvent {
	tb.Helper()
	var runs [][]*historypb.HistoryEvent
	for runID := ""; ; {
		it := c.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		var evs []*historypb.HistoryEvent
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				tb.Fatalf("read history of %s: %v", workflowID, err)
			}
			evs = append(evs, ev)
		}
		runs = append([][]*historypb.HistoryEvent{evs}, runs...)
		if len(evs) == 0 {
			return runs
		}
		runID = evs[0].GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
		if runID == "" {
			return runs
		}
	}
}

// sweepActivity is the activity type of a round's sweep.
const sweepActivity = "CheckCluster"

// isSweep reports whether an event starts a round's sweep in the history:
// the sweep activity scheduled, or its local activity's marker (a round
// whose last sweep was short runs it as a local activity).
func isSweep(ev *historypb.HistoryEvent) bool {
	switch ev.GetEventType() {
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		return ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == sweepActivity
	case enumspb.EVENT_TYPE_MARKER_RECORDED:
		return isLocalSweep(ev)
	}
	return false
}

// isLocalSweep reports whether an event is the marker of a sweep run as a
// local activity.
func isLocalSweep(ev *historypb.HistoryEvent) bool {
	m := ev.GetMarkerRecordedEventAttributes()
	if m.GetMarkerName() != "LocalActivity" {
		return false
	}
	for _, p := range m.GetDetails()["data"].GetPayloads() {
		if bytes.Contains(p.GetData(), []byte(`"ActivityType":"`+sweepActivity+`"`)) {
			return true
		}
	}
	return false
}

// roundCost is what a run of rounds added to a history.
type roundCost struct {
	rounds int
	events int64
	bytes  int64
	// each is the event count of every round, in order.
	each []int64
}

func (r roundCost) eventsPerRound() float64 { return float64(r.events) / float64(r.rounds) }

// healthyRoundCost counts the events from the first round's sweep being
// scheduled to the sweep of round rounds+1, that is of rounds full rounds,
// in one run's history. ok is false when the run has not got that far.
func healthyRoundCost(evs []*historypb.HistoryEvent, rounds int) (cost roundCost, ok bool) {
	var sweeps []int // indexes in evs of the sweeps scheduled (or run locally)
	for i, ev := range evs {
		if isSweep(ev) {
			sweeps = append(sweeps, i)
		}
	}
	if len(sweeps) < rounds+1 {
		return roundCost{}, false
	}
	cost.rounds = rounds
	for k := range rounds {
		from, to := sweeps[k], sweeps[k+1]
		cost.each = append(cost.each, int64(to-from))
		cost.events += int64(to - from)
		for _, ev := range evs[from:to] {
			cost.bytes += int64(proto.Size(ev))
		}
	}
	return cost, true
}

// round is one polling round as its workflow's history tells it.
type round struct {
	// due is when the round was due: the fire time its "next round" timer
	// was set for. Zero for a round started at once (the first one, an enable).
	due time.Time
	// decided is the workflow time at which the round started (the start of
	// the workflow task that scheduled its sweep): the base the workflow
	// schedules the next round from.
	decided time.Time
	// started and completed are when the sweep activity started on a worker
	// and completed; zero when not (yet) in the history.
	started, completed time.Time
}

// isRoundTimer reports whether a timer is the workflow's "next round" timer,
// as opposed to a poll URL retry interval or a disable lease.
func isRoundTimer(ev *historypb.HistoryEvent) bool {
	return bytes.Contains(ev.GetUserMetadata().GetSummary().GetData(), []byte("next round"))
}

// roundsOf lists the rounds of one run's history. A round timer that has not
// fired yet, or has fired without its sweep scheduled yet, gives a last round
// with only its due time.
func roundsOf(evs []*historypb.HistoryEvent) []round {
	wftStarted := map[int64]time.Time{} // workflow task started event ID -> time
	wftOf := map[int64]int64{}          // workflow task completed event ID -> its started event ID
	workflowTime := func(completedID int64) time.Time { return wftStarted[wftOf[completedID]] }
	timerDue := map[int64]time.Time{} // round timer started event ID -> fire time
	sweepOf := map[int64]int{}        // sweep scheduled event ID -> index in rounds
	var rounds []round
	var due time.Time // of the last round timer started or fired, not yet followed by its sweep
	for _, ev := range evs {
		at := ev.GetEventTime().AsTime()
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			wftStarted[ev.GetEventId()] = at
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			wftOf[ev.GetEventId()] = ev.GetWorkflowTaskCompletedEventAttributes().GetStartedEventId()
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			if isRoundTimer(ev) {
				a := ev.GetTimerStartedEventAttributes()
				timerDue[ev.GetEventId()] = workflowTime(a.GetWorkflowTaskCompletedEventId()).Add(a.GetStartToFireTimeout().AsDuration())
				due = timerDue[ev.GetEventId()]
			}
		case enumspb.EVENT_TYPE_TIMER_CANCELED:
			if _, ok := timerDue[ev.GetTimerCanceledEventAttributes().GetStartedEventId()]; ok {
				due = time.Time{}
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			a := ev.GetActivityTaskScheduledEventAttributes()
			if a.GetActivityType().GetName() == sweepActivity {
				sweepOf[ev.GetEventId()] = len(rounds)
				rounds = append(rounds, round{due: due, decided: workflowTime(a.GetWorkflowTaskCompletedEventId())})
				due = time.Time{}
			}
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			if isLocalSweep(ev) {
				// Run in the workflow task that decided the round, and
				// recorded when that task completed.
				decided := workflowTime(ev.GetMarkerRecordedEventAttributes().GetWorkflowTaskCompletedEventId())
				rounds = append(rounds, round{due: due, decided: decided, started: decided, completed: at})
				due = time.Time{}
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			if i, ok := sweepOf[ev.GetActivityTaskStartedEventAttributes().GetScheduledEventId()]; ok {
				rounds[i].started = at
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if i, ok := sweepOf[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]; ok {
				rounds[i].completed = at
			}
		}
	}
	if !due.IsZero() {
		rounds = append(rounds, round{due: due})
	}
	return rounds
}
