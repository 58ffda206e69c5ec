package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/clusterhealth/healthd/internal/metrics"
)

// readinessBound is how long past metrics.ReadyTimeout an answer may take on
// a loaded machine.
const readinessBound = metrics.ReadyTimeout + 3*time.Second

func TestReadinessNamesFailedChecks(t *testing.T) {
	m := New(Defaults(), zap.NewNop())
	if err := m.Ready(); err != nil {
		t.Fatalf("Ready with no checks: got %v, want nil", err)
	}
	m.setReady("postgres", func(context.Context) error { return nil })
	m.setReady("temporal", func(context.Context) error { return errors.New("connection refused") })
	if err := m.Ready(); err == nil || err.Error() != "temporal: connection refused" {
		t.Errorf("Ready: got %v, want %q", err, "temporal: connection refused")
	}
	m.setReady("temporal", func(context.Context) error { return nil })
	if err := m.Ready(); err != nil {
		t.Errorf("Ready once the check passes: got %v, want nil", err)
	}
}

func TestReadinessBoundsEachCheck(t *testing.T) {
	m := New(Defaults(), zap.NewNop())
	deadlines := make(chan time.Duration, 1)
	m.setReady("temporal", func(ctx context.Context) error {
		d, ok := ctx.Deadline()
		if !ok {
			deadlines <- -1
			return nil
		}
		deadlines <- time.Until(d)
		return nil
	})
	if err := m.Ready(); err != nil {
		t.Fatalf("Ready: got %v, want nil", err)
	}
	if d := <-deadlines; d <= 0 || d > metrics.ReadyTimeout {
		t.Errorf("check context: got %s until its deadline, want a deadline within %s", d, metrics.ReadyTimeout)
	}
}

func TestReadinessWithAHungCheck(t *testing.T) {
	m := New(Defaults(), zap.NewNop())
	entered := make(chan struct{}, 4)
	release := make(chan struct{})
	defer close(release)
	// A Postgres ping stuck on a dead connection that ignores its context.
	m.setReady("postgres", func(context.Context) error {
		entered <- struct{}{}
		<-release
		return nil
	})
	m.setReady("temporal", func(context.Context) error { return nil })

	type result struct {
		err  error
		took time.Duration
	}
	first := make(chan result, 1)
	go func() {
		start := time.Now()
		err := m.readiness(t.Context())
		first <- result{err, time.Since(start)}
	}()
	select {
	case <-entered:
	case <-time.After(readinessBound):
		t.Fatal("the hung check was not called")
	}

	// While the first probe waits on the hung check, the mutex is free.
	done := make(chan struct{})
	go func() {
		m.setReady("rabbitmq", func(context.Context) error { return nil })
		_ = m.Started()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Error("setReady and Started blocked while a readiness check hangs, want them free")
	}

	// A second probe runs its checks at once, not after the first.
	second := make(chan result, 1)
	go func() {
		start := time.Now()
		err := m.readiness(t.Context())
		second <- result{err, time.Since(start)}
	}()
	select {
	case <-entered:
	case r := <-first:
		first <- r
		t.Error("the second probe's check started only after the first probe ended, want both at once")
	}

	const want = "postgres: no answer within 2s"
	for name, c := range map[string]chan result{"first": first, "second": second} {
		select {
		case r := <-c:
			if r.err == nil || r.err.Error() != want {
				t.Errorf("%s probe: got %v, want %q", name, r.err, want)
			}
			if r.took > readinessBound {
				t.Errorf("%s probe: answered after %s, want at most %s", name, r.took, readinessBound)
			}
		case <-time.After(2 * readinessBound):
			t.Fatalf("%s probe: no answer after %s, want one within %s", name, 2*readinessBound, readinessBound)
		}
	}

	// Ready, the form the end-to-end tests call, is bounded the same way.
	start := time.Now()
	if err := m.Ready(); err == nil || err.Error() != want || time.Since(start) > readinessBound {
		t.Errorf("Ready: got %v after %s, want %q within %s", err, time.Since(start), want, readinessBound)
	}
}
