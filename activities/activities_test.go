package activities_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/netguard"
	"github.com/clusterhealth/healthd/internal/probe"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/store/storetest"
)

// setup gives real activities over a fresh Postgres database, the real HTTP
// prober and an httptest server whose /<node> answers per the map.
func setup(t *testing.T, status map[string]int, nodes ...health.Node) (*testsuite.TestActivityEnvironment, *store.Store, *atomic.Int32, string) {
	t.Helper()
	st := storetest.New(t)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		code := status[strings.Trim(r.URL.Path, "/")]
		if code == 0 {
			code = 200
		}
		w.WriteHeader(code)
		fmt.Fprintln(w, "status: passing")
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	if err := st.UpsertCluster(ctx, health.Cluster{ID: "c1", Name: "c", Project: "p"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.ClusterID = "c1"
		if err := st.UpsertNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(&activities.Activities{Store: st, Prober: probe.New(probe.Options{Policy: netguard.Loopback}), SweepConcurrency: 4, PollInterval: 50 * time.Millisecond})
	return env, st, &hits, srv.URL
}

func urlMode(base string, limit int) health.DetectionMode {
	return health.DetectionMode{Type: health.NodeStatusPollURL, PollURL: base + "/{nodename}", PollURLSSLVerify: true,
		PollURLConnErrorAsUnhealthy: true, PollURLHealthyResponse: "passing", PollURLRetryLimit: limit, PollURLRetryInterval: 1}
}

func TestCheckClusterSweep(t *testing.T) {
	env, _, hits, base := setup(t, map[string]int{"bad": 500},
		health.Node{ID: "1", Name: "good", Status: health.NodeActive},
		health.Node{ID: "2", Name: "bad", Status: health.NodeActive},
		health.Node{ID: "3", Name: "busy", Status: health.NodeRecovering},
	)
	var a *activities.Activities
	v, err := env.ExecuteActivity(a.CheckCluster, activities.CheckClusterInput{ClusterID: "c1",
		Modes: []health.DetectionMode{urlMode(base, 3)}, Conditional: health.AnyFailed})
	if err != nil {
		t.Fatal(err)
	}
	var res activities.CheckClusterResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	got := map[string]activities.NodeCheck{}
	for _, n := range res.Nodes {
		got[n.Name] = n
	}
	if r := got["good"].Results; len(r) != 1 || r[0].Verdict != health.Healthy {
		t.Errorf("good: got %+v, want healthy", r)
	}
	// Scenario 48: a 500 with the healthy pattern is a connection error; with
	// more attempts allowed the node is a suspect for confirmation.
	if r := got["bad"].Results; len(r) != 1 || r[0].Verdict != health.Unhealthy || !r[0].Suspect {
		t.Errorf("bad: got %+v, want an unhealthy suspect", r)
	}
	// Scenario 49: only ACTIVE nodes are polled.
	if r := got["busy"].Results; len(r) != 0 {
		t.Errorf("busy: got %+v, want no check", r)
	}
	if got, want := hits.Load(), int32(2); got != want {
		t.Errorf("requests: got %d, want %d (one per ACTIVE node)", got, want)
	}
	if got["busy"].LastUpdate.IsZero() {
		t.Error("last update: got zero, want init_at")
	}
}

func TestCheckClusterMissingCluster(t *testing.T) {
	env, _, _, _ := setup(t, nil)
	var a *activities.Activities
	v, err := env.ExecuteActivity(a.CheckCluster, activities.CheckClusterInput{ClusterID: "nope", Conditional: health.AnyFailed})
	if err != nil {
		t.Fatal(err)
	}
	var res activities.CheckClusterResult
	_ = v.Get(&res)
	if !res.ClusterMissing {
		t.Error("got cluster present, want missing")
	}
}

func TestConfirmNodeURL(t *testing.T) {
	env, _, _, base := setup(t, map[string]int{"bad": 503})
	var a *activities.Activities
	if _, err := env.ExecuteActivity(a.ConfirmNodeURL, activities.ConfirmNodeURLInput{NodeName: "ok", Mode: urlMode(base, 3)}); err != nil {
		t.Errorf("healthy node: got %v, want success", err)
	}
	_, err := env.ExecuteActivity(a.ConfirmNodeURL, activities.ConfirmNodeURLInput{NodeName: "bad", Mode: urlMode(base, 3)})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeNodeURLUnhealthy || appErr.NonRetryable() {
		t.Errorf("unhealthy node: got %v, want a retryable %s", err, activities.ErrTypeNodeURLUnhealthy)
	}
}

func TestRecoverNodeIsIdempotentAndWaitSeesTheEnd(t *testing.T) {
	env, st, _, _ := setup(t, nil, health.Node{ID: "n1", Name: "vm", PhysicalID: "srv-1", Status: health.NodeActive})
	var a *activities.Activities
	in := activities.RecoverNodeInput{ClusterID: "c1", NodeID: "n1", Key: "c1/n1/1",
		Params: health.RecoverParams{Operation: health.OpRecreate, DeleteTimeout: 20}}
	var first, second activities.RecoverNodeResult
	v, err := env.ExecuteActivity(a.RecoverNode, in)
	if err != nil {
		t.Fatal(err)
	}
	_ = v.Get(&first)
	v, err = env.ExecuteActivity(a.RecoverNode, in)
	if err != nil {
		t.Fatal(err)
	}
	_ = v.Get(&second)
	if !first.Created || second.Created || first.ActionID != second.ActionID {
		t.Errorf("got %+v then %+v, want one action created once", first, second)
	}
	// Scenario 78: an event about a physical resource the node no longer has.
	stale := in
	stale.Key, stale.ExpectPhysicalID = "c1/n1/2", "srv-0"
	var skipped activities.RecoverNodeResult
	v, err = env.ExecuteActivity(a.RecoverNode, stale)
	if err != nil {
		t.Fatal(err)
	}
	_ = v.Get(&skipped)
	if skipped.Skipped == "" || skipped.ActionID != "" {
		t.Errorf("stale event: got %+v, want skipped", skipped)
	}
	// Scenario 58: a node that is not a member fails without retries.
	bad := in
	bad.NodeID, bad.Key = "ghost", "c1/ghost/1"
	_, err = env.ExecuteActivity(a.RecoverNode, bad)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeNodeNotFound {
		t.Errorf("missing node: got %v, want %s", err, activities.ErrTypeNodeNotFound)
	}

	// Scenario 60: the wait times out while RUNNING, and sees FAILED once finished.
	var wr activities.WaitForActionResult
	v, err = env.ExecuteActivity(a.WaitForAction, activities.WaitForActionInput{ActionID: first.ActionID, Deadline: time.Now().Add(200 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	_ = v.Get(&wr)
	if !wr.TimedOut || wr.Status != health.ActionReady {
		t.Errorf("wait on a READY action: got %+v, want a timeout", wr)
	}
	if err := st.FinishAction(context.Background(), first.ActionID, health.ActionFailed, "boom"); err != nil {
		t.Fatal(err)
	}
	v, err = env.ExecuteActivity(a.WaitForAction, activities.WaitForActionInput{ActionID: first.ActionID, Deadline: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	wr = activities.WaitForActionResult{}
	_ = v.Get(&wr)
	if wr.TimedOut || wr.Status != health.ActionFailed || wr.Reason != "boom" {
		t.Errorf("wait on a FAILED action: got %+v, want FAILED boom", wr)
	}
}

// TestCheckClusterRefusesOversizedResult: a sweep result above the limit a
// Temporal payload can carry fails at once, non-retryable, with a message
// that says so, rather than after retries with a generic server error.
func TestCheckClusterRefusesOversizedResult(t *testing.T) {
	_, st, _, base := setup(t, nil,
		health.Node{ID: "1", Name: "n1", Status: health.NodeActive},
		health.Node{ID: "2", Name: "n2", Status: health.NodeActive},
		health.Node{ID: "3", Name: "n3", Status: health.NodeActive},
	)
	in := activities.CheckClusterInput{ClusterID: "c1", Modes: []health.DetectionMode{urlMode(base, 1)}, Conditional: health.AnyFailed}
	run := func(limit int) error {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		env.RegisterActivity(&activities.Activities{Store: st, Prober: probe.New(probe.Options{Policy: netguard.Loopback}), SweepConcurrency: 4, MaxResultBytes: limit})
		var a *activities.Activities
		_, err := env.ExecuteActivity(a.CheckCluster, in)
		return err
	}
	if err := run(0); err != nil {
		t.Fatalf("default limit: got %v, want a result", err)
	}
	err := run(300)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeSweepTooLarge || !appErr.NonRetryable() {
		t.Fatalf("limit 300 bytes: got %v, want a non-retryable %s error", err, activities.ErrTypeSweepTooLarge)
	}
	if !strings.Contains(appErr.Error(), "3 nodes") || !strings.Contains(appErr.Error(), "split the cluster") {
		t.Errorf("message: got %q, want the node count and what to do", appErr.Error())
	}
}

// A sweep with exceptions judges every node it returns, but the suspects
// whose poll URL is still to be confirmed: the workflow judges only those.
func TestCheckClusterJudgesItsExceptions(t *testing.T) {
	env, _, _, base := setup(t, map[string]int{"bad": 500, "down": 500},
		health.Node{ID: "1", Name: "good", Status: health.NodeActive},
		health.Node{ID: "2", Name: "bad", Status: health.NodeActive},
		health.Node{ID: "3", Name: "busy", Status: health.NodeRecovering},
	)
	var a *activities.Activities
	for _, tc := range []struct {
		limit int
		want  map[string]string // name -> verdict, "" for left to the workflow
	}{
		{3, map[string]string{"bad": "", "busy": "skipped"}},          // bad is a suspect: more attempts to come
		{1, map[string]string{"bad": "unhealthy", "busy": "skipped"}}, // one attempt: bad is judged
	} {
		v, err := env.ExecuteActivity(a.CheckCluster, activities.CheckClusterInput{ClusterID: "c1",
			Modes: []health.DetectionMode{urlMode(base, tc.limit)}, Conditional: health.AnyFailed, Exceptions: true})
		if err != nil {
			t.Fatal(err)
		}
		var res activities.CheckClusterResult
		if err := v.Get(&res); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, n := range res.Nodes {
			got[n.Name] = string(n.Verdict)
			if n.Verdict != "" && n.Reason == "" {
				t.Errorf("limit %d, %s: judged %s without a reason", tc.limit, n.Name, n.Verdict)
			}
		}
		if !maps.Equal(got, tc.want) {
			t.Errorf("retry limit %d: got verdicts %v, want %v (good is plainly healthy: not returned)", tc.limit, got, tc.want)
		}
	}
}
