package app_test

import (
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/clusterhealth/healthd/internal/engine"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/store/storetest"
	"github.com/clusterhealth/healthd/workflows"
)

// chaosFleet is a set of poll-URL nodes that the test breaks one at a time,
// and the cluster's recovery webhook, which mends the node it is called for
// after a random short delay (shorter than the engine's webhook timeout) and
// then answers. A call whose caller goes away before the delay is over mends
// nothing: the engine that made it died, and the next one calls again.
type chaosFleet struct {
	mu     sync.Mutex
	rng    *rand.Rand
	broken map[string]bool
	calls  []engine.WebhookRequest
	nodes  *httptest.Server
	hook   *httptest.Server
}

// chaosMendDelayMax bounds the webhook's delay; it stays well below the
// engine's webhook timeout in chaosEnv.
const chaosMendDelayMax = 2500 * time.Millisecond

func newChaosFleet(t testing.TB, seed int64, names []string) *chaosFleet {
	f := &chaosFleet{rng: rand.New(rand.NewSource(seed + 1)), broken: map[string]bool{}}
	for _, n := range names {
		f.broken[n] = false
	}
	f.nodes = nodeServer(t, func(_ *http.Request, name string) bool { return f.isBroken(name) })
	f.hook = webhookServer(t, func(w http.ResponseWriter, r *http.Request, req engine.WebhookRequest) {
		f.mu.Lock()
		f.calls = append(f.calls, req)
		delay := time.Duration(f.rng.Int63n(int64(chaosMendDelayMax)))
		f.mu.Unlock()
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		f.mu.Lock()
		f.broken[req.NodeName] = false
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	return f
}

func (f *chaosFleet) setBroken(node string, broken bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.broken[node] = broken
}

func (f *chaosFleet) isBroken(node string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.broken[node]
}

func (f *chaosFleet) webhookCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// chaosIncident is one node broken by the test, from its break until the
// recovery's action SUCCEEDED (mended is zero if that never happened).
type chaosIncident struct {
	node           string
	broken, mended time.Time
}

// chaosKill is one SIGKILL: of which worker, at what moment of the workflow.
type chaosKill struct {
	role, phase string
	at          time.Time
}

// envInt reads a non-negative integer from the environment, def when unset.
func envInt(t testing.TB, name string, def int64) int64 {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

// workerPair is the health worker and the engine the chaos test runs, which
// it kills and restarts.
type workerPair struct {
	bin            string
	env            []string
	health, engine *process
}

func (w *workerPair) restart(t testing.TB, role string) {
	t.Helper()
	switch role {
	case "health":
		w.health.kill(t)
		w.health = startProcess(t, w.bin, "health", w.env)
	case "engine":
		w.engine.kill(t)
		w.engine = startProcess(t, w.bin, "engine", w.env)
	}
}

// TestChaosKills kills the health worker and the engine with SIGKILL at
// random moments (mid-sweep, mid-confirm, mid-wait, around continue-as-new)
// while nodes fail one at a time and their recoveries mend them, restarting
// each at once. Every incident must get exactly one action, every action must
// succeed, no node may have two actions at once, every round of the grid must
// be run or counted as missed, and the workflow must go on.
//
// CHAOS_HEALTH_KILLS (default 4) and CHAOS_ENGINE_KILLS (default 1) set the
// number of kills, CHAOS_SEED the randomness (default: the clock; it is
// printed). scripts/chaos.sh runs the long version.
func TestChaosKills(t *testing.T) {
	healthKills := int(envInt(t, "CHAOS_HEALTH_KILLS", 4))
	engineKills := int(envInt(t, "CHAOS_ENGINE_KILLS", 1))
	seed := envInt(t, "CHAOS_SEED", time.Now().UnixNano()%1_000_000_000)
	t.Logf("chaos: seed %d (CHAOS_SEED=%d reruns it), %d health kills, %d engine kills", seed, seed, healthKills, engineKills)
	rng := rand.New(rand.NewSource(seed))

	ctx := context.Background()
	srv := startTemporal(t)
	dsn := storetest.DSN(t)
	bin := buildWorker(t)
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)

	const clusterID = "c-chaos"
	const interval = 2 * time.Second
	names := []string{"n-1", "n-2", "n-3", "n-4", "n-5", "n-6"}
	f := newChaosFleet(t, seed, names)
	if err := seedCluster(ctx, st, clusterID, f.hook.URL, names); err != nil {
		t.Fatal(err)
	}
	w := &workerPair{bin: bin, env: []string{
		"TEMPORAL_ADDRESS=" + srv.Address, "DATABASE_URL=" + dsn, "METRICS_ADDR=off", "PROBE_ALLOW_CIDRS=" + testAllow, "BRIDGE_MAX_EVENT_AGE=0", "LOG_LEVEL=info",
		"HEALTH_CHECK_INTERVAL_MIN=1", "ENGINE_WEBHOOK_TIMEOUT=4s", "ENGINE_LEASE=5s",
	}}
	w.health = startProcess(t, bin, "health", w.env)
	w.engine = startProcess(t, bin, "engine", w.env)

	c := dialTemporal(t, srv.Address)
	reg := pollURLRegistration(clusterID, f.nodes.URL, 120)
	// A short run, so that kills also land around continue-as-new.
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(clusterID), TaskQueue: workflows.TaskQueue},
		workflows.WorkflowName, workflows.Input{Registration: reg, MaxRoundsPerRun: 5}); err != nil {
		t.Fatalf("start the workflow: %v", err)
	}
	dumpOnFailure(t, c, clusterID)
	status := func() workflows.Status { return clusterStatus(ctx, c, clusterID) }
	s0, at0 := settledStatus(t, c, clusterID, 60*time.Second)

	// The incidents: one node broken at a time, until its action SUCCEEDED.
	var (
		mu        sync.Mutex
		incidents []chaosIncident
		stuck     []string
	)
	stop := make(chan struct{})
	driverDone := make(chan struct{})
	incRng := rand.New(rand.NewSource(seed + 2))
	go func() {
		defer close(driverDone)
		last := ""
		for {
			select {
			case <-stop:
				return
			default:
			}
			node := names[incRng.Intn(len(names))]
			for node == last {
				node = names[incRng.Intn(len(names))]
			}
			last = node
			inc := chaosIncident{node: node, broken: time.Now()}
			f.setBroken(node, true)
			deadline := time.Now().Add(120 * time.Second)
			for inc.mended.IsZero() && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
				acts, err := st.ListActions(ctx, clusterID)
				if err != nil {
					continue // the store is the test's own; a blip is retried
				}
				for _, a := range acts {
					if a.NodeID == "id-"+node && !a.CreatedAt.Before(inc.broken) && a.Status == health.ActionSucceeded {
						inc.mended = time.Now()
					}
				}
			}
			mu.Lock()
			incidents = append(incidents, inc)
			if inc.mended.IsZero() {
				stuck = append(stuck, fmt.Sprintf("%s broken at %s", node, inc.broken.Format(time.StampMilli)))
			}
			mu.Unlock()
			if inc.mended.IsZero() {
				return
			}
			time.Sleep(time.Duration(incRng.Int63n(int64(1500 * time.Millisecond))))
		}
	}()

	// The kills, in a random order, each after a random gap and, when it
	// comes within a few seconds, at the moment of the workflow it aims at.
	roles := make([]string, 0, healthKills+engineKills)
	for range healthKills {
		roles = append(roles, "health")
	}
	for range engineKills {
		roles = append(roles, "engine")
	}
	rng.Shuffle(len(roles), func(i, j int) { roles[i], roles[j] = roles[j], roles[i] })
	phases := []string{"sweep", "wait", "continue-as-new", "any"}
	var kills []chaosKill
	for _, role := range roles {
		time.Sleep(time.Second + time.Duration(rng.Int63n(int64(3*time.Second))))
		aim := phases[rng.Intn(len(phases))]
		runs := status().Runs
		phase := "any"
		for until := time.Now().Add(6 * time.Second); aim != "any" && time.Now().Before(until); time.Sleep(20 * time.Millisecond) {
			s := status()
			if aim == "sweep" && s.RoundRunning {
				phase = "sweep"
				if len(s.InFlight) == 0 && anyBroken(f, names) {
					phase = "confirm"
				}
				break
			}
			if aim == "wait" && len(s.InFlight) > 0 {
				phase = "wait"
				break
			}
			if aim == "continue-as-new" && s.Runs > runs {
				phase = "continue-as-new"
				break
			}
		}
		kills = append(kills, chaosKill{role: role, phase: phase, at: time.Now()})
		w.restart(t, role)
	}
	close(stop)
	select {
	case <-driverDone:
	case <-time.After(150 * time.Second):
		t.Fatal("the last incident did not end within 150s")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range stuck {
		t.Errorf("incident not mended within 120s: %s", s)
	}
	for _, n := range names {
		if f.isBroken(n) {
			t.Errorf("node %s is still broken at the end", n)
		}
	}

	// All mended: the rounds must go on, and the recoveries end.
	after := status().Counters.Rounds
	require.Eventually(t, func() bool {
		s := status()
		return s.Counters.Rounds >= after+3 && len(s.InFlight) == 0
	}, 60*time.Second, waitTick, "waiting for three more rounds and no recovery in flight")
	s1, at1 := settledStatus(t, c, clusterID, 30*time.Second)

	acts, err := st.ListActions(ctx, clusterID)
	if err != nil {
		t.Fatal(err)
	}
	duplicates, losses := checkIncidents(t, incidents, acts)

	// Every grid point from the first settled status to the last was run or
	// counted as missed, and the grid kept up with the clock.
	rounds := s1.Counters.Rounds - s0.Counters.Rounds
	missed := s1.Counters.MissedRounds - s0.Counters.MissedRounds
	span := s1.NextRound.Sub(s0.NextRound)
	points := int64(span / interval)
	clock := int64((at1.Sub(at0) + interval/2) / interval)
	if span%interval != 0 {
		t.Errorf("next round moved by %s, not a whole number of intervals: the grid shifted", span)
	}
	if rounds+missed != points {
		t.Errorf("rounds %d + missed %d = %d, want the %d grid points passed: a round was lost", rounds, missed, rounds+missed, points)
	}
	if d := points - clock; d < -1 || d > 1 {
		t.Errorf("grid points %d, clock %d intervals: want the grid within one interval of the clock", points, clock)
	}
	d, err := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(clusterID), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.GetWorkflowExecutionInfo().GetStatus(); got != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("workflow: got %s, want RUNNING", got)
	}

	byPhase := map[string]int{}
	for _, k := range kills {
		byPhase[k.role+"@"+k.phase]++
	}
	var ph []string
	for k, n := range byPhase {
		ph = append(ph, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(ph)
	t.Logf("chaos tally: seed=%d health-kills=%d engine-kills=%d incidents=%d actions=%d duplicates=%d losses=%d rounds=%d missed=%d round-errors=%d continue-as-new=%d webhook-calls=%d",
		seed, healthKills, engineKills, len(incidents), len(acts), duplicates, losses, s1.Counters.Rounds, s1.Counters.MissedRounds,
		s1.Counters.RoundErrors, s1.Runs-1, f.webhookCalls())
	t.Logf("chaos kills by moment: %s", strings.Join(ph, " "))
}

func anyBroken(f *chaosFleet, names []string) bool {
	for _, n := range names {
		if f.isBroken(n) {
			return true
		}
	}
	return false
}

// checkIncidents matches the actions to the incidents: an incident's actions
// are its node's actions created from its break until the same node's next
// break. It fails the test for an incident with no action (a loss) or more
// than one, an action of no incident (both duplicates), an action that did
// not succeed, and two actions of one node whose lifetimes overlap.
func checkIncidents(t testing.TB, incidents []chaosIncident, acts []health.Action) (duplicates, losses int) {
	t.Helper()
	matched := map[string]bool{}
	for i, inc := range incidents {
		end := time.Time{}
		for _, next := range incidents[i+1:] {
			if next.node == inc.node {
				end = next.broken
				break
			}
		}
		var mine []string
		for _, a := range acts {
			if a.NodeID == "id-"+inc.node && !a.CreatedAt.Before(inc.broken) && (end.IsZero() || a.CreatedAt.Before(end)) {
				mine = append(mine, a.ID)
				matched[a.ID] = true
			}
		}
		switch {
		case len(mine) == 0:
			losses++
			t.Errorf("incident %d (%s broken at %s): no action", i, inc.node, inc.broken.Format(time.StampMilli))
		case len(mine) > 1:
			duplicates += len(mine) - 1
			t.Errorf("incident %d (%s broken at %s): %d actions %v, want one", i, inc.node, inc.broken.Format(time.StampMilli), len(mine), mine)
		}
	}
	byNode := map[string][]health.Action{}
	for _, a := range acts {
		if !matched[a.ID] {
			duplicates++
			t.Errorf("action %s for %s created %s belongs to no incident", a.ID, a.NodeID, a.CreatedAt.Format(time.StampMilli))
		}
		if a.Status != health.ActionSucceeded {
			t.Errorf("action %s for %s: got %s, want SUCCEEDED", a.ID, a.NodeID, a.Status)
		}
		byNode[a.NodeID] = append(byNode[a.NodeID], a)
	}
	for node, as := range byNode {
		sort.Slice(as, func(i, j int) bool { return as[i].CreatedAt.Before(as[j].CreatedAt) })
		for i := 1; i < len(as); i++ {
			if as[i].CreatedAt.Before(as[i-1].UpdatedAt) {
				t.Errorf("node %s: action %s (created %s) began before action %s ended (%s)", node, as[i].ID,
					as[i].CreatedAt.Format(time.StampMilli), as[i-1].ID, as[i-1].UpdatedAt.Format(time.StampMilli))
			}
		}
	}
	return duplicates, losses
}
