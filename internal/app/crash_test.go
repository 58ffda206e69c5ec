package app_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clusterhealth/healthd/internal/engine"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/store/storetest"
	"github.com/clusterhealth/healthd/workflows"
)

// buildWorker builds the worker command into a temporary directory.
func buildWorker(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/clusterhealth/healthd/worker").CombinedOutput()
	if err != nil {
		t.Fatalf("go build worker: %v\n%s", err, out)
	}
	return bin
}

// process is a worker process of the test's own, with its output kept for the
// failure report.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProcess runs `worker <role>` with env added to the test's environment.
// The process is stopped gracefully when the test ends, if it still runs.
func startProcess(t testing.TB, bin, role string, env []string) *process {
	t.Helper()
	p := &process{name: role, cmd: exec.Command(bin, role), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start worker %s: %v", role, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("worker %s (pid %d) output:\n%s", role, p.cmd.Process.Pid, p.out.String())
		}
	})
	return p
}

// stop ends the process gracefully (SIGTERM), or with SIGKILL when it has not
// ended 30 s later; it returns at once when the process has already ended.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends the process with SIGKILL, as a crash or a lost machine would: no
// cleanup runs, nothing is finished or released.
func (p *process) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill worker %s: %v", p.name, err)
	}
	<-p.done
}

// crashHooks is a node fleet whose n-2 is down until its recovery webhook
// succeeds. The webhook's first call hangs until its caller goes away; later
// calls succeed. It records the action ids it was called with.
type crashHooks struct {
	mu      sync.Mutex
	down    bool
	calls   []string
	entered chan struct{}
	nodes   *httptest.Server
	hook    *httptest.Server
}

func newCrashHooks(t testing.TB) *crashHooks {
	h := &crashHooks{down: true, entered: make(chan struct{})}
	h.nodes = nodeServer(t, func(_ *http.Request, name string) bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.down && name == "n-2"
	})
	h.hook = webhookServer(t, func(w http.ResponseWriter, r *http.Request, req engine.WebhookRequest) {
		h.mu.Lock()
		h.calls = append(h.calls, req.ActionID)
		first := len(h.calls) == 1
		h.mu.Unlock()
		if first {
			close(h.entered)
			<-r.Context().Done() // the engine died mid-call
			return
		}
		h.mu.Lock()
		h.down = false
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	return h
}

func (h *crashHooks) callIDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

// TestRecoveryOutlivesKilledWorkers kills the health worker and the engine
// with SIGKILL while a recovery is in flight (its action RUNNING, the webhook
// call open, the workflow waiting for the action), then starts new processes.
// The recovery must complete with the same single action, taken over by the
// new engine once the dead one's lease runs out; the workflow's timers go on.
func TestRecoveryOutlivesKilledWorkers(t *testing.T) {
	ctx := context.Background()
	srv := startTemporal(t)
	dsn := storetest.DSN(t)
	bin := buildWorker(t)
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	h := newCrashHooks(t)

	if err := seedCluster(ctx, st, "c-crash", h.hook.URL, []string{"n-1", "n-2", "n-3"}); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"TEMPORAL_ADDRESS=" + srv.Address, "DATABASE_URL=" + dsn, "METRICS_ADDR=off", "PROBE_ALLOW_CIDRS=" + testAllow, "BRIDGE_MAX_EVENT_AGE=0", "LOG_LEVEL=info", "HEALTH_CHECK_INTERVAL_MIN=1",
		// A short lease, so that the test does not wait a minute for the
		// dead engine's claim to run out; the webhook timeout stays below it.
		"ENGINE_WEBHOOK_TIMEOUT=4s", "ENGINE_LEASE=5s",
	}
	healthProc := startProcess(t, bin, "health", env)
	engineProc := startProcess(t, bin, "engine", env)

	c := dialTemporal(t, srv.Address)
	startCluster(t, c, pollURLRegistration("c-crash", h.nodes.URL, 120))
	status := func() workflows.Status { return clusterStatus(ctx, c, "c-crash") }

	select {
	case <-h.entered:
	case <-time.After(90 * time.Second):
		t.Fatal("the recovery webhook was not called within 90s")
	}
	healthProc.kill(t)
	engineProc.kill(t)
	killed := time.Now()
	acts, err := st.ListActions(ctx, "c-crash")
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 1 || acts[0].Status != health.ActionRunning {
		t.Fatalf("after the crash: got actions %+v, want one RUNNING", acts)
	}
	dead := acts[0]

	startProcess(t, bin, "health", env)
	startProcess(t, bin, "engine", env)
	require.Eventually(t, func() bool {
		return status().Counters.RecoveriesSucceeded == 1
	}, 120*time.Second, waitTick, "waiting for the recovery to succeed after the crash")
	t.Logf("recovery succeeded %s after both workers were killed", time.Since(killed).Round(100*time.Millisecond))
	rounds := status().Counters.Rounds
	require.Eventually(t, func() bool { return status().Counters.Rounds >= rounds+2 }, 30*time.Second, waitTick, "waiting for two more rounds")

	acts, err = st.ListActions(ctx, "c-crash")
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 1 {
		t.Fatalf("after the restart: got %d actions, want the one from before the crash: %+v", len(acts), acts)
	}
	a := acts[0]
	if a.ID != dead.ID || a.Status != health.ActionSucceeded || a.NodeID != "id-n-2" {
		t.Errorf("action: got %s %s for %s, want %s SUCCEEDED for id-n-2", a.ID, a.Status, a.NodeID, dead.ID)
	}
	if a.Attempts != 2 || a.AbandonedBy != dead.ClaimedBy || a.ClaimedBy == dead.ClaimedBy {
		t.Errorf("action claims: got attempts %d, claimed by %q, abandoned by %q; want 2, a new engine, %q",
			a.Attempts, a.ClaimedBy, a.AbandonedBy, dead.ClaimedBy)
	}
	if calls := h.callIDs(); len(calls) != 2 || calls[0] != a.ID || calls[1] != a.ID {
		t.Errorf("webhook calls: got %v, want two for action %s (the cut-off one and the takeover)", calls, a.ID)
	}
	if s := status(); len(s.Recent) != 1 || s.Recent[0].ActionID != a.ID || s.Recent[0].Outcome != "SUCCEEDED" {
		t.Errorf("status recent recoveries: got %+v, want the SUCCEEDED action %s", s.Recent, a.ID)
	}
	if n, err := st.GetNode(ctx, "id-n-2"); err != nil || n.Status != health.NodeActive {
		t.Errorf("recovered node: got %s (err %v), want ACTIVE", n.Status, err)
	}
}
