package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterhealth/healthd/internal/metrics"
)

// answerWithin is how long past ReadyTimeout a bounded readiness answer may
// take on a loaded machine.
const answerWithin = metrics.ReadyTimeout + 3*time.Second

// hang is a check that never returns on its own: it ignores its context, as a
// client stuck in a dead TCP connection would. It reports each call on
// entered, and returns once release is closed so the test leaks nothing.
func hang(entered chan<- struct{}, release <-chan struct{}) func(context.Context) error {
	return func(context.Context) error {
		entered <- struct{}{}
		<-release
		return nil
	}
}

func TestCheckAll(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	entered := make(chan struct{}, 10)
	refused := errors.New("connection refused")
	tests := []struct {
		name   string
		checks map[string]func(context.Context) error
		want   []string // lines of the error, in order; nil means ready
	}{
		{"none", nil, nil},
		{"all pass", map[string]func(context.Context) error{
			"postgres": func(context.Context) error { return nil },
			"temporal": func(context.Context) error { return nil },
		}, nil},
		{"failures named, ordered by name", map[string]func(context.Context) error{
			"temporal": func(context.Context) error { return refused },
			"postgres": func(context.Context) error { return nil },
			"rabbitmq": func(context.Context) error { return errors.New("bridge: stopped") },
		}, []string{"rabbitmq: bridge: stopped", "temporal: connection refused"}},
		{"a hung check that ignores its context", map[string]func(context.Context) error{
			"postgres": hang(entered, release),
			"temporal": func(context.Context) error { return nil },
		}, []string{"postgres: no answer within 2s"}},
		{"a check that gives up at its deadline", map[string]func(context.Context) error{
			"temporal": func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
		}, []string{"temporal: no answer within 2s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := metrics.CheckAll(t.Context(), tt.checks)
			if took := time.Since(start); took > answerWithin {
				t.Errorf("CheckAll took %s, want at most %s", took, answerWithin)
			}
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("CheckAll: got %v, want nil", err)
			case tt.want != nil && (err == nil || err.Error() != strings.Join(tt.want, "\n")):
				t.Errorf("CheckAll: got %v, want %q", err, strings.Join(tt.want, "\n"))
			}
		})
	}
	if err := metrics.CheckAll(t.Context(), map[string]func(context.Context) error{
		"temporal": func(context.Context) error { return refused },
	}); !errors.Is(err, refused) {
		t.Errorf("CheckAll: got %v, want it to wrap the check's error", err)
	}
}

func TestCheckAllRunsChecksConcurrently(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	entered := make(chan struct{}, 10)
	checks := map[string]func(context.Context) error{"a": hang(entered, release), "b": hang(entered, release), "c": hang(entered, release)}
	start := time.Now()
	err := metrics.CheckAll(t.Context(), checks)
	if took := time.Since(start); took > answerWithin {
		t.Errorf("three hung checks took %s, want at most %s: one deadline for all, not one after another", took, answerWithin)
	}
	if want := "a: no answer within 2s\nb: no answer within 2s\nc: no answer within 2s"; err == nil || err.Error() != want {
		t.Errorf("CheckAll: got %v, want %q", err, want)
	}
}

func TestCheckAllStopsWhenTheCallerLeaves(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	go func() { <-entered; cancel() }()
	start := time.Now()
	err := metrics.CheckAll(ctx, map[string]func(context.Context) error{"postgres": hang(entered, release)})
	if took := time.Since(start); took >= metrics.ReadyTimeout {
		t.Errorf("CheckAll took %s after the caller left, want less than %s", took, metrics.ReadyTimeout)
	}
	if err == nil || err.Error() != "postgres: context canceled" {
		t.Errorf("CheckAll: got %v, want %q", err, "postgres: context canceled")
	}
}

func TestReadyzAnswersWhileACheckHangs(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	entered := make(chan struct{}, 10)
	checks := map[string]func(context.Context) error{
		"postgres": hang(entered, release),
		"temporal": func(context.Context) error { return nil },
	}
	base, _ := serve(t, prometheus.NewRegistry(), func(ctx context.Context) error { return metrics.CheckAll(ctx, checks) })

	type answer struct {
		code int
		body string
		took time.Duration
	}
	answers := make([]answer, 2)
	firstDone := make(chan struct{})
	var wg sync.WaitGroup
	request := func(i int) {
		wg.Go(func() {
			start := time.Now()
			code, body := get(t, base+"/readyz")
			answers[i] = answer{code, body, time.Since(start)}
			if i == 0 {
				close(firstDone)
			}
		})
	}
	request(0)
	select {
	case <-entered:
	case <-time.After(answerWithin):
		t.Fatal("the first request's check did not start")
	}
	// The second request starts while the first one's check hangs; its own
	// check must start before the first request is answered.
	request(1)
	select {
	case <-entered:
	case <-firstDone:
		t.Error("the second request's check started only after the first request was answered, want both at once")
	}
	wg.Wait()
	for i, a := range answers {
		if a.code != http.StatusServiceUnavailable || a.body != "not ready: postgres: no answer within 2s\n" {
			t.Errorf("request %d: got %d %q, want 503 naming the hung check", i+1, a.code, a.body)
		}
		if a.took > answerWithin {
			t.Errorf("request %d: answered after %s, want at most %s", i+1, a.took, answerWithin)
		}
	}
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz while a check hangs: got %d, want 200", code)
	}
}

// healthd_ready says at each scrape what /readyz would: 1 while the checks
// pass, 0 while one fails, so that an alert can see a process that runs
// but is not ready.
func TestReadyGauge(t *testing.T) {
	var down sync.Mutex
	failing := false
	base, _ := serve(t, prometheus.NewRegistry(), func(context.Context) error {
		down.Lock()
		defer down.Unlock()
		if failing {
			return errors.New("temporal: connection refused")
		}
		return nil
	})
	scrape := func() string {
		code, body := get(t, base+"/metrics")
		if code != http.StatusOK {
			t.Fatalf("/metrics: %d", code)
		}
		for l := range strings.SplitSeq(body, "\n") {
			if strings.HasPrefix(l, "healthd_ready ") {
				return l
			}
		}
		t.Fatalf("no healthd_ready in /metrics:\n%s", body)
		return ""
	}
	if got := scrape(); got != "healthd_ready 1" {
		t.Errorf("ready: got %q, want healthd_ready 1", got)
	}
	down.Lock()
	failing = true
	down.Unlock()
	if got := scrape(); got != "healthd_ready 0" {
		t.Errorf("not ready: got %q, want healthd_ready 0", got)
	}
}
