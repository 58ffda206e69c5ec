package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/clusterhealth/healthd/internal/engine"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/store/storetest"
)

// The store is the production adapter of the executor's interfaces.
var (
	_ engine.Store   = (*store.Store)(nil)
	_ engine.Watcher = (*store.Watcher)(nil)
)

// waitTimeout bounds every wait of these tests: generous, because the
// machines that run them may be busy; a passing test never waits that long.
// waitTick is how often a wait checks its condition.
const (
	waitTimeout = 30 * time.Second
	waitTick    = 20 * time.Millisecond
)

var rebootParams = health.RecoverParams{
	Operation:       health.OpReboot,
	OperationParams: map[string]any{"type": "SOFT"},
	DeleteTimeout:   20,
	ForceRecreate:   true,
}

// testContext bounds a test's database calls.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// env is a fresh database with a running Watcher, and the logs of the
// executors started on it.
type env struct {
	s    *store.Store
	w    *store.Watcher
	logs *observer.ObservedLogs
	core zapcore.Core
}

// startWatcher runs a watcher of the store's notifications until the test
// ends.
func startWatcher(t *testing.T, s *store.Store) *store.Watcher {
	t.Helper()
	w := store.NewWatcher(s.Pool())
	w.OnError = func(err error) { t.Logf("watcher: %v", err) }
	runUntilCleanup(t, w.Run)
	return w
}

// runUntilCleanup runs run in the background until the test ends, then
// cancels it and waits for it to return.
func runUntilCleanup(t *testing.T, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s := storetest.New(t)
	w := startWatcher(t, s)
	core, logs := observer.New(zap.DebugLevel)
	e := &env{s: s, w: w, logs: logs, core: core}
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range logs.All() {
				t.Logf("log: %s %s %v", l.Level, l.Message, l.ContextMap())
			}
		}
	})
	return e
}

// statuses counts the outcomes an executor reports to its Observer, and
// apart from them its claims and takeovers.
type statuses struct {
	mu               sync.Mutex
	n                map[health.ActionStatus]int
	claims, reclaims int
}

func (o *statuses) EngineReclaim() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reclaims++
}

func (o *statuses) counts() (claims, reclaims int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.claims, o.reclaims
}

func (o *statuses) EngineAction(s health.ActionStatus) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s == health.ActionRunning {
		o.claims++
		return
	}
	if o.n == nil {
		o.n = map[health.ActionStatus]int{}
	}
	o.n[s]++
}

// wait waits until the observed outcomes are want: the executor reports an
// outcome just after it finishes the action.
func (o *statuses) wait(t *testing.T, want map[health.ActionStatus]int) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		o.mu.Lock()
		got := maps.Clone(o.n)
		o.mu.Unlock()
		if len(got) != 0 || len(want) != 0 {
			assert.Equal(c, want, got, "observed")
		}
	}, waitTimeout, waitTick)
}

// start runs the executor on the environment until the test ends. Unset
// fields get test values: a quick poll, so that expired leases are found soon.
func (e *env) start(t *testing.T, ex *engine.Executor) *engine.Executor {
	t.Helper()
	ex.Store, ex.Watcher = e.s, e.w
	if ex.Logger == nil {
		ex.Logger = zap.New(e.core).Named(ex.ID)
	}
	if ex.HTTP == nil {
		ex.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if ex.PollInterval == 0 {
		ex.PollInterval = 50 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ex.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Errorf("executor %s did not stop within %v", ex.ID, waitTimeout)
		}
	})
	return ex
}

// webhook is a recovery driver that records its calls.
type webhook struct {
	*httptest.Server
	mu    sync.Mutex
	calls []engine.WebhookRequest
	types []string
}

// newWebhook serves handle after recording each call; handle may be nil (200).
func newWebhook(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body engine.WebhookRequest)) *webhook {
	t.Helper()
	h := &webhook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body engine.WebhookRequest
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("webhook: decode body: %v", err)
		}
		h.mu.Lock()
		h.calls = append(h.calls, body)
		h.types = append(h.types, r.Method+" "+r.Header.Get("Content-Type"))
		h.mu.Unlock()
		if handle != nil {
			handle(w, r, body)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *webhook) recorded() []engine.WebhookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]engine.WebhookRequest(nil), h.calls...)
}

// callsPerAction counts the calls for each action id.
func (h *webhook) callsPerAction() map[string]int {
	n := map[string]int{}
	for _, c := range h.recorded() {
		n[c.ActionID]++
	}
	return n
}

// seed writes a cluster with the webhook (none when url is empty) and the
// given nodes, ACTIVE.
func (e *env) seed(t *testing.T, clusterID, url string, nodes ...string) {
	t.Helper()
	ctx := testContext(t)
	if err := e.s.UpsertCluster(ctx, health.Cluster{ID: clusterID, Name: "name-" + clusterID, RecoverWebhook: url}); err != nil {
		t.Fatalf("UpsertCluster: %v", err)
	}
	for _, n := range nodes {
		if err := e.s.UpsertNode(ctx, health.Node{ID: n, ClusterID: clusterID, Name: "name-" + n,
			PhysicalID: "phys-" + n, Status: health.NodeActive}); err != nil {
			t.Fatalf("UpsertNode(%s): %v", n, err)
		}
	}
}

func (e *env) createAction(t *testing.T, clusterID, nodeID string) health.Action {
	t.Helper()
	a, created, err := e.s.CreateRecoverAction(testContext(t), clusterID+"/"+nodeID+"/1", clusterID, nodeID, rebootParams)
	if err != nil || !created {
		t.Fatalf("CreateRecoverAction(%s): got created %v err %v, want true nil", nodeID, created, err)
	}
	return a
}

// waitFinished waits for the action to reach a terminal status.
func (e *env) waitFinished(t *testing.T, id string) health.Action {
	t.Helper()
	var a health.Action
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var err error
		a, err = e.s.GetAction(testContext(t), id)
		require.NoError(c, err, "GetAction")
		assert.True(c, a.Status.Terminal(), "action %s still %s", id, a.Status)
	}, waitTimeout, waitTick)
	return a
}

// waitLog waits for a log entry whose message starts with prefix.
func (e *env) waitLog(t *testing.T, prefix string) observer.LoggedEntry {
	t.Helper()
	var found observer.LoggedEntry
	require.Eventually(t, func() bool {
		for _, l := range e.logs.All() {
			if strings.HasPrefix(l.Message, prefix) {
				found = l
				return true
			}
		}
		return false
	}, waitTimeout, waitTick, "no log %q within %v", prefix, waitTimeout)
	return found
}

func (e *env) node(t *testing.T, id string) health.Node {
	t.Helper()
	n, err := e.s.GetNode(testContext(t), id)
	if err != nil {
		t.Fatalf("GetNode(%s): %v", id, err)
	}
	return n
}

func TestExecutorRecoversNode(t *testing.T) {
	tests := []struct {
		name       string
		status     int // the webhook's answer; 0 for a cluster without webhook
		want       health.ActionStatus
		wantReason string
		wantNode   health.NodeStatus
		body       string // the webhook's answer's body; empty: "no capacity"
	}{
		{"2xx", http.StatusAccepted, health.ActionSucceeded, "Node recovered successfully.", health.NodeActive, ""},
		{"5xx", http.StatusBadGateway, health.ActionFailed, "Node recover failed: recover webhook answered 502 Bad Gateway: no capacity", health.NodeError, ""},
		{"no webhook", 0, health.ActionFailed, "Node recover failed: cluster has no recover webhook", health.NodeError, ""},
		// A receiver's answer reaches the history, the status and
		// health_events: at most 80 bytes of it, with no control character.
		{"a hostile answer", http.StatusTeapot, health.ActionFailed, "Node recover failed: recover webhook answered 418 I'm a teapot: " +
			"<html> ?[31mred?[0m line two " + strings.Repeat("x", 51) + "...", health.NodeError,
			"<html>\r\n\x1b[31mred\x1b[0m\n\tline two " + strings.Repeat("x", 400)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			hook := newWebhook(t, func(w http.ResponseWriter, _ *http.Request, _ engine.WebhookRequest) {
				w.WriteHeader(tt.status)
				if tt.body != "" {
					fmt.Fprint(w, tt.body)
					return
				}
				fmt.Fprintln(w, "no capacity")
			})
			url := hook.URL
			if tt.status == 0 {
				url = ""
			}
			e.seed(t, "c1", url, "n1")
			a := e.createAction(t, "c1", "n1")
			obs := &statuses{}
			e.start(t, &engine.Executor{ID: "ex1", Workers: 2, Observer: obs})

			got := e.waitFinished(t, a.ID)
			if got.Status != tt.want || got.Reason != tt.wantReason {
				t.Errorf("action: got %s %q, want %s %q", got.Status, got.Reason, tt.want, tt.wantReason)
			}
			if got.Attempts != 1 || !strings.HasPrefix(got.ClaimedBy, "ex1/") || got.AbandonedBy != "" {
				t.Errorf("claim: got attempts %d claimed by %q abandoned by %q, want 1, ex1/<n>, none",
					got.Attempts, got.ClaimedBy, got.AbandonedBy)
			}
			if n := e.node(t, "n1"); n.Status != tt.wantNode {
				t.Errorf("node: got %s %q, want %s", n.Status, n.StatusReason, tt.wantNode)
			}
			obs.wait(t, map[health.ActionStatus]int{tt.want: 1})

			calls := hook.recorded()
			if tt.status == 0 {
				if len(calls) != 0 {
					t.Errorf("webhook calls: got %d, want none", len(calls))
				}
				return
			}
			want := engine.WebhookRequest{
				ActionID: a.ID, ClusterID: "c1", NodeID: "n1", NodeName: "name-n1", PhysicalID: "phys-n1",
				Operation: "REBOOT", OperationParams: map[string]any{"type": "SOFT"},
				DeleteTimeout: 20, ForceRecreate: true,
			}
			if len(calls) != 1 || !reflect.DeepEqual(calls[0], want) {
				t.Errorf("webhook calls: got %+v, want one %+v", calls, want)
			}
			if hook.types[0] != "POST application/json" {
				t.Errorf("webhook request: got %q, want a JSON POST", hook.types[0])
			}
		})
	}
}

// An executor that died while executing leaves its action RUNNING; a running
// executor reclaims it once the lease ends and finishes it.
func TestExecutorReclaimsAbandonedAction(t *testing.T) {
	e := newEnv(t)
	hook := newWebhook(t, nil)
	e.seed(t, "c1", hook.URL, "n1")
	a := e.createAction(t, "c1", "n1")
	const dead = "dead-host/1234/0"
	if got, ok, err := e.s.ClaimReadyAction(testContext(t), dead, 300*time.Millisecond); err != nil || !ok || got.ID != a.ID {
		t.Fatalf("claim as the dead executor: got %s ok %v err %v, want %s true nil", got.ID, ok, err, a.ID)
	}

	obs := &statuses{}
	e.start(t, &engine.Executor{ID: "ex1", Workers: 1, Observer: obs})
	got := e.waitFinished(t, a.ID)
	obs.wait(t, map[health.ActionStatus]int{health.ActionSucceeded: 1})
	if claims, reclaims := obs.counts(); claims != 1 || reclaims != 1 {
		t.Errorf("observed: got %d claims and %d takeovers, want 1 and 1", claims, reclaims)
	}
	if got.Status != health.ActionSucceeded || got.Attempts != 2 || got.AbandonedBy != dead || got.ClaimedBy != "ex1/0" {
		t.Errorf("action: got %s attempts %d abandoned by %q claimed by %q, want SUCCEEDED 2 %q ex1/0",
			got.Status, got.Attempts, got.AbandonedBy, got.ClaimedBy, dead)
	}
	if n := e.node(t, "n1"); n.Status != health.NodeActive {
		t.Errorf("node: got %s, want ACTIVE", n.Status)
	}
	if calls := hook.callsPerAction(); !reflect.DeepEqual(calls, map[string]int{a.ID: 1}) {
		t.Errorf("webhook calls: got %v, want one for %s", calls, a.ID)
	}
	l := e.waitLog(t, "reclaimed action abandoned by "+dead)
	if l.Level != zap.WarnLevel || l.ContextMap()["action_id"] != a.ID {
		t.Errorf("reclaim log: got %s %v, want WARN with action_id %s", l.Level, l.ContextMap(), a.ID)
	}
}

// While a webhook call outlasts the lease, renewals keep the action from
// being reclaimed by another executor.
func TestExecutorRenewsLeaseDuringLongCall(t *testing.T) {
	e := newEnv(t)
	const lease = 2 * time.Second
	hook := newWebhook(t, func(http.ResponseWriter, *http.Request, engine.WebhookRequest) {
		time.Sleep(2 * lease)
	})
	e.seed(t, "c1", hook.URL, "n1")
	a := e.createAction(t, "c1", "n1")
	for _, id := range []string{"ex1", "ex2"} {
		e.start(t, &engine.Executor{ID: id, Workers: 1, Lease: lease, HTTP: &http.Client{Timeout: 3 * lease}})
	}

	got := e.waitFinished(t, a.ID)
	if got.Status != health.ActionSucceeded || got.Attempts != 1 {
		t.Errorf("action: got %s attempts %d, want SUCCEEDED after 1", got.Status, got.Attempts)
	}
	if calls := hook.callsPerAction(); !reflect.DeepEqual(calls, map[string]int{a.ID: 1}) {
		t.Errorf("webhook calls: got %v, want one for %s", calls, a.ID)
	}
	if got.LeaseUntil.Sub(got.CreatedAt) < 2*lease {
		t.Errorf("lease: got until %v for an action created at %v, want renewals past %v", got.LeaseUntil, got.CreatedAt, 2*lease)
	}
	// The executors warn that the webhook timeout is not below the lease.
	e.waitLog(t, "the recover webhook timeout should be below the action lease")
}

// When the action is taken from the executor mid-call (finished by an
// operator, or reclaimed), the executor cancels the webhook call and leaves
// the action and its node alone.
func TestExecutorStopsWhenLeaseLost(t *testing.T) {
	tests := []struct {
		name       string
		take       func(t *testing.T, s *store.Store, id string)
		wantStatus health.ActionStatus
		wantReason string
		wantOwner  string
	}{
		{"cancelled", func(t *testing.T, s *store.Store, id string) {
			if err := s.FinishAction(testContext(t), id, health.ActionCancelled, "cancelled by operator"); err != nil {
				t.Fatalf("FinishAction: %v", err)
			}
		}, health.ActionCancelled, "cancelled by operator", "ex1/0"},
		{"reclaimed", func(t *testing.T, s *store.Store, id string) {
			if _, err := s.Pool().Exec(testContext(t), `UPDATE actions SET claimed_by = 'other/0' WHERE id = $1`, id); err != nil {
				t.Fatalf("take the claim: %v", err)
			}
		}, health.ActionRunning, "", "other/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			entered, aborted := make(chan struct{}), make(chan struct{})
			hook := newWebhook(t, func(w http.ResponseWriter, r *http.Request, _ engine.WebhookRequest) {
				close(entered)
				select {
				case <-r.Context().Done():
					close(aborted)
				case <-time.After(waitTimeout):
				}
			})
			e.seed(t, "c1", hook.URL, "n1")
			a := e.createAction(t, "c1", "n1")
			obs := &statuses{}
			e.start(t, &engine.Executor{ID: "ex1", Workers: 1, Lease: time.Second, Observer: obs,
				HTTP: &http.Client{Timeout: waitTimeout}})

			select {
			case <-entered:
			case <-time.After(waitTimeout):
				t.Fatalf("webhook not called within %v", waitTimeout)
			}
			tt.take(t, e.s, a.ID)
			select {
			case <-aborted:
			case <-time.After(waitTimeout):
				t.Fatalf("webhook call not cancelled within %v", waitTimeout)
			}
			e.waitLog(t, "lease lost; leaving the action to its new owner")

			got, err := e.s.GetAction(testContext(t), a.ID)
			if err != nil {
				t.Fatalf("GetAction: %v", err)
			}
			if got.Status != tt.wantStatus || got.Reason != tt.wantReason || got.ClaimedBy != tt.wantOwner {
				t.Errorf("action: got %s %q claimed by %q, want %s %q %q",
					got.Status, got.Reason, got.ClaimedBy, tt.wantStatus, tt.wantReason, tt.wantOwner)
			}
			if n := e.node(t, "n1"); n.Status != health.NodeRecovering {
				t.Errorf("node: got %s %q, want still RECOVERING", n.Status, n.StatusReason)
			}
			obs.wait(t, nil)
			if calls := hook.callsPerAction(); !reflect.DeepEqual(calls, map[string]int{a.ID: 1}) {
				t.Errorf("webhook calls: got %v, want one for %s", calls, a.ID)
			}
		})
	}
}

// Two executors over many actions, some of them abandoned by a dead
// executor, call each webhook exactly once.
func TestTwoExecutorsCallEachWebhookOnce(t *testing.T) {
	e := newEnv(t)
	const actions, abandoned = 30, 10
	hook := newWebhook(t, func(http.ResponseWriter, *http.Request, engine.WebhookRequest) {
		time.Sleep(10 * time.Millisecond)
	})
	var nodes []string
	for i := range actions {
		nodes = append(nodes, fmt.Sprintf("n%d", i))
	}
	e.seed(t, "c1", hook.URL, nodes...)
	var ids []string
	for _, n := range nodes[:abandoned] {
		ids = append(ids, e.createAction(t, "c1", n).ID)
	}
	for range abandoned {
		if _, ok, err := e.s.ClaimReadyAction(testContext(t), "dead/0", 300*time.Millisecond); err != nil || !ok {
			t.Fatalf("claim as the dead executor: got ok %v err %v, want true nil", ok, err)
		}
	}

	obs := &statuses{}
	for _, id := range []string{"ex1", "ex2"} {
		e.start(t, &engine.Executor{ID: id, Workers: 3, Lease: waitTimeout, Observer: obs})
	}
	for _, n := range nodes[abandoned:] {
		ids = append(ids, e.createAction(t, "c1", n).ID)
	}

	wantCalls := map[string]int{}
	for i, id := range ids {
		got := e.waitFinished(t, id)
		wantAttempts, wantAbandoned := 1, ""
		if i < abandoned {
			wantAttempts, wantAbandoned = 2, "dead/0"
		}
		if got.Status != health.ActionSucceeded || got.Attempts != wantAttempts || got.AbandonedBy != wantAbandoned {
			t.Errorf("action %d: got %s attempts %d abandoned by %q, want SUCCEEDED %d %q",
				i, got.Status, got.Attempts, got.AbandonedBy, wantAttempts, wantAbandoned)
		}
		wantCalls[id] = 1
	}
	if calls := hook.callsPerAction(); !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("webhook calls per action: got %v, want one each for %d actions", calls, actions)
	}
	obs.wait(t, map[health.ActionStatus]int{health.ActionSucceeded: actions})
}

// TestExecutorShutdownFinishesActionInFlight stops the executor while a
// webhook call is in flight: the call is not cut off, the action ends
// SUCCEEDED rather than failed by the shutdown, Run returns only then, and no
// further action is claimed.
func TestExecutorShutdownFinishesActionInFlight(t *testing.T) {
	e := newEnv(t)
	entered, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hook := newWebhook(t, func(w http.ResponseWriter, r *http.Request, _ engine.WebhookRequest) {
		once.Do(func() { close(entered) })
		select {
		case <-proceed:
		case <-r.Context().Done():
			http.Error(w, "cut off", http.StatusServiceUnavailable)
		}
	})
	e.seed(t, "c1", hook.URL, "n1", "n2")
	a := e.createAction(t, "c1", "n1")
	ex := &engine.Executor{ID: "ex1", Workers: 1, Store: e.s, Watcher: e.w, Logger: zap.New(e.core).Named("ex1"),
		HTTP: &http.Client{Timeout: waitTimeout}, PollInterval: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ex.Run(ctx)
	}()
	select {
	case <-entered:
	case <-time.After(waitTimeout):
		t.Fatalf("webhook not called within %v", waitTimeout)
	}
	cancel()
	later := e.createAction(t, "c1", "n2")
	select {
	case <-done:
		t.Fatal("Run returned while a webhook call was in flight")
	case <-time.After(200 * time.Millisecond):
	}
	close(proceed)
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatalf("Run did not return within %v of the call finishing", waitTimeout)
	}
	got, err := e.s.GetAction(testContext(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != health.ActionSucceeded {
		t.Errorf("action in flight at shutdown: got %s %q, want SUCCEEDED", got.Status, got.Reason)
	}
	if n := e.node(t, "n1"); n.Status != health.NodeActive {
		t.Errorf("node: got %s %q, want ACTIVE", n.Status, n.StatusReason)
	}
	if got, err := e.s.GetAction(testContext(t), later.ID); err != nil || got.Status != health.ActionReady {
		t.Errorf("action created after shutdown began: got %s (err %v), want READY for the next executor", got.Status, err)
	}
}

// TestExecutorWakesWhenALeaseRunsOut: the action of a dead executor is taken
// over as soon as its lease runs out, not at the next poll (an hour here):
// nothing notifies a lease's expiry, so the executor sleeps until it.
func TestExecutorWakesWhenALeaseRunsOut(t *testing.T) {
	e := newEnv(t)
	hook := newWebhook(t, nil)
	e.seed(t, "c1", hook.URL, "n1")
	a := e.createAction(t, "c1", "n1")
	// Claimed by an executor that died at once.
	if _, ok, err := e.s.ClaimReadyAction(testContext(t), "dead/1/0", time.Second); err != nil || !ok {
		t.Fatalf("claim as the dead executor: ok %v err %v", ok, err)
	}
	e.start(t, &engine.Executor{ID: "ex1", Workers: 1, PollInterval: time.Hour})
	got := e.waitFinished(t, a.ID)
	if got.Status != health.ActionSucceeded || got.AbandonedBy != "dead/1/0" {
		t.Errorf("action: got %s abandoned by %q, want SUCCEEDED taken over from dead/1/0", got.Status, got.AbandonedBy)
	}
}

// TestExecutorSignsWebhookCalls: with a WebhookSecret every call carries a
// signature of its body that VerifyWebhookSignature accepts, and the
// action's id in ActionIDHeader; without one, the call is unsigned.
func TestExecutorSignsWebhookCalls(t *testing.T) {
	for _, secret := range []string{"whsec-5a1e", ""} {
		t.Run(fmt.Sprintf("secret %q", secret), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			type call struct {
				signature, actionID string
				body                []byte
			}
			calls := make(chan call, 1)
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				calls <- call{r.Header.Get(engine.SignatureHeader), r.Header.Get(engine.ActionIDHeader), body}
			}))
			t.Cleanup(hook.Close)
			e.seed(t, "c1", hook.URL, "n1")
			a := e.createAction(t, "c1", "n1")
			e.start(t, &engine.Executor{ID: "ex1", Workers: 1, WebhookSecret: secret})
			if got := e.waitFinished(t, a.ID); got.Status != health.ActionSucceeded {
				t.Fatalf("action: got %s %q, want SUCCEEDED", got.Status, got.Reason)
			}
			c := <-calls
			if c.actionID != a.ID {
				t.Errorf("%s: got %q, want the action id %s", engine.ActionIDHeader, c.actionID, a.ID)
			}
			if secret == "" {
				if c.signature != "" {
					t.Errorf("%s without a secret: got %q, want none", engine.SignatureHeader, c.signature)
				}
				return
			}
			if err := engine.VerifyWebhookSignature(engine.ClusterWebhookKey(secret, "c1"), c.signature, c.body, time.Now(), time.Minute); err != nil {
				t.Errorf("%s %q: got %v, want a valid signature of the body under the cluster's key", engine.SignatureHeader, c.signature, err)
			}
			// Neither the secret itself nor another cluster's key verifies
			// it: one receiver cannot sign calls that another accepts.
			for _, key := range []string{secret, engine.ClusterWebhookKey(secret, "c2")} {
				if err := engine.VerifyWebhookSignature(key, c.signature, c.body, time.Now(), time.Minute); !errors.Is(err, engine.ErrBadSignature) {
					t.Errorf("verified with %q: got %v, want ErrBadSignature", key, err)
				}
			}
			for _, l := range e.logs.All() {
				if strings.Contains(fmt.Sprint(l.Message, l.ContextMap()), secret) {
					t.Errorf("log %q %v shows the webhook secret", l.Message, l.ContextMap())
				}
			}
		})
	}
}

// TestWebhookErrorsHideTheURL: a webhook URL carries credentials in its
// userinfo and query; the reason of an action whose call failed, which the
// workflow records, never shows them.
func TestWebhookErrorsHideTheURL(t *testing.T) {
	const password, token = "pw-7c0b9e", "tok-3e8a41"
	hangUp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close() // no answer at all: a transport error
		}
	}))
	t.Cleanup(hangUp.Close)
	tests := []struct {
		name, url, wantReason string
	}{
		{"transport error", strings.Replace(hangUp.URL, "http://", "http://hook:"+password+"@", 1) + "/recover?token=" + token,
			"Node recover failed: call recover webhook: EOF"},
		{"unparsable", "http://hook:" + password + "@[::1/recover?token=" + token,
			"Node recover failed: recover_webhook: not a valid URL"},
		{"not http", "ftp://hook:" + password + "@127.0.0.1/recover?token=" + token,
			`Node recover failed: recover_webhook: scheme "ftp": want http or https`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.seed(t, "c1", tt.url, "n1")
			a := e.createAction(t, "c1", "n1")
			e.start(t, &engine.Executor{ID: "ex1", Workers: 1})
			got := e.waitFinished(t, a.ID)
			if got.Status != health.ActionFailed || got.Reason != tt.wantReason {
				t.Errorf("action: got %s %q, want FAILED %q", got.Status, got.Reason, tt.wantReason)
			}
			for _, l := range e.logs.All() {
				if s := fmt.Sprint(l.Message, l.ContextMap()); strings.Contains(s, password) || strings.Contains(s, token) {
					t.Errorf("log %s shows the webhook URL's credentials", s)
				}
			}
		})
	}
}
