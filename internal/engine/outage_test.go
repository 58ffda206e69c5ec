package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/clusterhealth/healthd/internal/engine"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/testkit/pgtest"
)

// newPrivateEnv is newEnv on a private Postgres cluster that the test may
// stop and start.
func newPrivateEnv(t *testing.T) (*env, *pgtest.Cluster) {
	t.Helper()
	pg := pgtest.Start(t)
	ctx := testContext(t)
	s, err := store.Open(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	w := startWatcher(t, s)
	core, logs := observer.New(zap.DebugLevel)
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range logs.All() {
				t.Logf("log: %s %s %v", l.Level, l.Message, l.ContextMap())
			}
		}
	})
	return &env{s: s, w: w, logs: logs, core: core}, pg
}

// A webhook call that returns while the database is down is not lost: the
// executor records its outcome once the database is back, within its lease,
// instead of leaving the action RUNNING for the next claim to call the
// webhook again.
func TestExecutorFinishesActionAfterDatabaseOutage(t *testing.T) {
	e, pg := newPrivateEnv(t)
	const (
		lease  = 10 * time.Second
		outage = 3 * time.Second // well within the lease left at the stop
	)
	entered, release := make(chan struct{}), make(chan struct{})
	hook := newWebhook(t, func(w http.ResponseWriter, r *http.Request, _ engine.WebhookRequest) {
		select {
		case <-entered: // a second call
			return
		default:
		}
		close(entered)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	e.seed(t, "c1", hook.URL, "n1")
	a := e.createAction(t, "c1", "n1")
	obs := &statuses{}
	// Two executors: either could take over an action left RUNNING.
	for _, id := range []string{"ex1", "ex2"} {
		e.start(t, &engine.Executor{ID: id, Workers: 2, Lease: lease, Observer: obs, HTTP: &http.Client{Timeout: lease / 2}})
	}
	select {
	case <-entered:
	case <-time.After(waitTimeout):
		t.Fatalf("webhook not called within %v", waitTimeout)
	}

	pg.Stop(t)
	stopped := time.Now()
	close(release) // the call returns while the database is down
	time.Sleep(outage)
	pg.Start(t)

	got := e.waitFinished(t, a.ID)
	t.Logf("action %s %s %s after the database came back, %s after it stopped", got.ID, got.Status,
		time.Since(stopped.Add(outage)).Round(10*time.Millisecond), time.Since(stopped).Round(10*time.Millisecond))
	if got.Status != health.ActionSucceeded || got.Attempts != 1 {
		t.Errorf("action: got %s after %d claims (abandoned by %q), want SUCCEEDED on its first claim", got.Status, got.Attempts, got.AbandonedBy)
	}
	if calls := hook.callsPerAction(); !reflect.DeepEqual(calls, map[string]int{a.ID: 1}) {
		t.Errorf("webhook calls: got %v, want one for %s", calls, a.ID)
	}
	if n := e.node(t, "n1"); n.Status != health.NodeActive {
		t.Errorf("node: got %s %q, want ACTIVE", n.Status, n.StatusReason)
	}
	obs.wait(t, map[health.ActionStatus]int{health.ActionSucceeded: 1})
	if claims, reclaims := obs.counts(); claims != 1 || reclaims != 0 {
		t.Errorf("claims: got %d with %d takeovers, want 1 and none", claims, reclaims)
	}
}

// flakyReads is a Store whose first GetCluster calls fail as they do while
// the database is unreachable.
type flakyReads struct {
	*store.Store
	fails atomic.Int32
}

func (f *flakyReads) GetCluster(ctx context.Context, id string) (health.Cluster, error) {
	if f.fails.Add(-1) >= 0 {
		return health.Cluster{}, fmt.Errorf("store: get cluster %q: dial tcp 127.0.0.1:5432: %w", id, syscall.ECONNREFUSED)
	}
	return f.Store.GetCluster(ctx, id)
}

// An executor that cannot read the action's cluster, the database being
// briefly unreachable just after the claim, does not fail the action for it:
// it tries again while its claim holds, and calls the webhook once it can.
func TestExecutorRetriesReadsBeforeTheCall(t *testing.T) {
	e := newEnv(t)
	hook := newWebhook(t, nil)
	e.seed(t, "c1", hook.URL, "n1")
	a := e.createAction(t, "c1", "n1")
	flaky := &flakyReads{Store: e.s}
	flaky.fails.Store(3)
	ex := &engine.Executor{Store: flaky, Watcher: e.w, Logger: zap.New(e.core).Named("ex1"), ID: "ex1", Workers: 1,
		Lease: 10 * time.Second, HTTP: &http.Client{Timeout: 5 * time.Second}, PollInterval: 50 * time.Millisecond}
	runUntilCleanup(t, ex.Run)

	got := e.waitFinished(t, a.ID)
	if got.Status != health.ActionSucceeded || got.Attempts != 1 {
		t.Errorf("action: got %s %q after %d claims, want SUCCEEDED on its first claim", got.Status, got.Reason, got.Attempts)
	}
	if calls := hook.callsPerAction(); !reflect.DeepEqual(calls, map[string]int{a.ID: 1}) {
		t.Errorf("webhook calls: got %v, want one for %s", calls, a.ID)
	}
	if n := flaky.fails.Load(); n >= 0 {
		t.Errorf("GetCluster: called %d times, want 4: 3 failures, then the read that works", 3-n)
	}
}
