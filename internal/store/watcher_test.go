package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/store/storetest"
)

// wakeTimeout bounds every wait for a notification; reconnects take the
// first backoff step (well under a second) plus a connection.
const wakeTimeout = 10 * time.Second

// testWatcher is a running Watcher and what its OnError saw.
type testWatcher struct {
	*store.Watcher
	errors atomic.Int64
}

// startWatcher runs a Watcher on the store's pool until the test ends, and
// returns once it listens.
func startWatcher(t *testing.T, s *store.Store) *testWatcher {
	t.Helper()
	w := &testWatcher{Watcher: store.NewWatcher(s.Pool())}
	w.OnError = func(err error) {
		w.errors.Add(1)
		t.Logf("watcher: %v", err)
	}
	// The first LISTEN wakes every subscriber: that says it listens.
	listening, stop := w.Watch("")
	defer stop()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after cancel: got %v, want nil", err)
			}
		case <-time.After(wakeTimeout):
			t.Errorf("Run did not return within %v of cancel", wakeTimeout)
		}
	})
	waitWake(t, listening, "first LISTEN")
	return w
}

func waitWake(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wakeTimeout):
		t.Fatalf("no wake after %s within %v", what, wakeTimeout)
	}
}

// drain empties a subscription channel.
func drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

func wantNoWake(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Errorf("%s: got a wake, want none", what)
	default:
	}
}

var flushes atomic.Int64

// flush returns once the watcher has dispatched every notification committed
// before the call: notifications reach a listener in commit order, so a wake
// for a fresh marker comes after all of them.
func flush(t *testing.T, s *store.Store, w *testWatcher) {
	t.Helper()
	marker := fmt.Sprintf("flush-%d", flushes.Add(1))
	ch, stop := w.Watch(marker)
	defer stop()
	if _, err := s.Pool().Exec(testContext(t), `SELECT pg_notify($1, $2)`, store.NotifyChannel, marker); err != nil {
		t.Fatalf("notify %s: %v", marker, err)
	}
	waitWake(t, ch, "notify "+marker)
}

func TestWatcherWakesOnInsert(t *testing.T) {
	s := storetest.New(t)
	w := startWatcher(t, s)
	all, stop := w.Watch("")
	defer stop()

	createAction(t, s, "k1")
	waitWake(t, all, "insert")
}

func TestWatcherWakesOnStatusChangeOfItsAction(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	w := startWatcher(t, s)
	a := createAction(t, s, "k1")
	b := createAction(t, s, "k2")
	chA, stopA := w.Watch(a.ID)
	defer stopA()
	chB, stopB := w.Watch(b.ID)
	defer stopB()
	flush(t, s, w) // the inserts' notifications may still be on their way
	drain(chA)
	drain(chB)

	tests := []struct {
		name     string
		change   func() error
		wantWake bool
	}{
		{"claim", func() error { _, _, err := s.ClaimReadyAction(ctx, "w1", time.Minute); return err }, true},
		{"other columns only", func() error {
			_, err := s.Pool().Exec(ctx, `UPDATE actions SET reason = 'note', updated_at = now() WHERE id = $1`, a.ID)
			return err
		}, false},
		{"same status", func() error {
			_, err := s.Pool().Exec(ctx, `UPDATE actions SET status = status WHERE id = $1`, a.ID)
			return err
		}, false},
		{"finish", func() error { return s.FinishAction(ctx, a.ID, health.ActionSucceeded, "done") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.change(); err != nil {
				t.Fatalf("change: %v", err)
			}
			if tt.wantWake {
				waitWake(t, chA, tt.name)
			} else {
				flush(t, s, w)
				wantNoWake(t, chA, tt.name)
			}
			// Every change above was to a, never to b.
			wantNoWake(t, chB, tt.name+" (other action)")
		})
	}
}

func TestWatcherStop(t *testing.T) {
	s := storetest.New(t)
	w := startWatcher(t, s)
	stopped, stop := w.Watch("")
	kept, keep := w.Watch("")
	defer keep()
	stop()
	stop() // a second stop is harmless

	createAction(t, s, "k1")
	waitWake(t, kept, "insert")
	flush(t, s, w)
	wantNoWake(t, stopped, "insert after stop")
}

// listenerPID finds the backend of the watcher's connection: the session of
// this database whose last statement was the LISTEN.
func listenerPID(t *testing.T, s *store.Store) int {
	t.Helper()
	var pid int
	err := s.Pool().QueryRow(testContext(t), `
		SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()
			AND query = 'LISTEN `+store.NotifyChannel+`'`).Scan(&pid)
	if err != nil {
		t.Fatalf("find the listener's backend: %v", err)
	}
	return pid
}

func TestWatcherReconnectsAndWakesEveryone(t *testing.T) {
	s := storetest.New(t)
	w := startWatcher(t, s)
	a := createAction(t, s, "k1")
	all, stopAll := w.Watch("")
	defer stopAll()
	one, stopOne := w.Watch(a.ID)
	defer stopOne()
	flush(t, s, w)
	drain(all)
	drain(one)

	pid := listenerPID(t, s)
	var terminated bool
	if err := s.Pool().QueryRow(testContext(t), `SELECT pg_terminate_backend($1)`, pid).Scan(&terminated); err != nil || !terminated {
		t.Fatalf("pg_terminate_backend(%d): got %v %v, want true nil", pid, terminated, err)
	}

	// Nothing was notified: only the reconnect can wake them.
	waitWake(t, all, "reconnect (every-action subscriber)")
	waitWake(t, one, "reconnect (one-action subscriber)")
	if got := w.errors.Load(); got < 1 {
		t.Errorf("OnError calls after the connection was cut: got %d, want at least 1", got)
	}
	if got := listenerPID(t, s); got == pid {
		t.Errorf("listener backend after reconnect: got the terminated %d, want a new one", got)
	}

	createAction(t, s, "k2")
	waitWake(t, all, "insert after reconnect")
}

func TestWatcherRunsOnce(t *testing.T) {
	s := storetest.New(t)
	w := startWatcher(t, s)
	ctx, cancel := context.WithTimeout(testContext(t), wakeTimeout)
	defer cancel()
	if err := w.Run(ctx); err == nil {
		t.Fatal("second Run: got nil error, want one")
	}
}
