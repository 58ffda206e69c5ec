package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
)

// A wait whose deadline passes while the action's executor still holds a
// live lease goes on until the lease runs out: a wait is never shorter than
// the engine's lease can need.
func TestWaitForActionOutlastsALiveLease(t *testing.T) {
	env, st, _, _ := setup(t, nil, health.Node{ID: "n1", Name: "web-1", Status: health.NodeActive})
	ctx := context.Background()
	var a *activities.Activities
	v, err := env.ExecuteActivity(a.RecoverNode, activities.RecoverNodeInput{ClusterID: "c1", NodeID: "n1", Key: "c1/e/n1/1",
		Params: health.RecoverParams{Operation: health.OpReboot}})
	if err != nil {
		t.Fatal(err)
	}
	var rr activities.RecoverNodeResult
	if err := v.Get(&rr); err != nil {
		t.Fatal(err)
	}
	const lease = 1500 * time.Millisecond
	if _, ok, err := st.ClaimReadyAction(ctx, "engine/1", lease); err != nil || !ok {
		t.Fatalf("claim: got ok %v err %v", ok, err)
	}
	start := time.Now()
	v, err = env.ExecuteActivity(a.WaitForAction, activities.WaitForActionInput{ActionID: rr.ActionID, Deadline: start.Add(100 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	var wr activities.WaitForActionResult
	if err := v.Get(&wr); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); !wr.TimedOut || wr.Status != health.ActionRunning || took < lease-200*time.Millisecond {
		t.Errorf("got timed out %v status %s after %s, want a RUNNING action timed out once its %s lease ran out", wr.TimedOut, wr.Status, took, lease)
	}

	// An action that ends while the lease holds is seen ending.
	if err := st.FinishAction(ctx, rr.ActionID, health.ActionSucceeded, "done"); err != nil {
		t.Fatal(err)
	}
	v, err = env.ExecuteActivity(a.WaitForAction, activities.WaitForActionInput{ActionID: rr.ActionID, Deadline: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	wr = activities.WaitForActionResult{}
	if err := v.Get(&wr); err != nil {
		t.Fatal(err)
	}
	if wr.TimedOut || wr.Status != health.ActionSucceeded || wr.FinishedAt.IsZero() {
		t.Errorf("after the end: got %+v, want SUCCEEDED with its end time", wr)
	}
}

// A request under a new key for a node whose recovery is still active joins
// that action; a Heat event naming the stack by its ARN matches the node's
// bare stack id.
func TestRecoverNodeJoinsTheActiveAction(t *testing.T) {
	const stackID = "2f4e9a63-0d5a-4c5e-9c1b-7f3c9e7b1a20"
	env, _, _, _ := setup(t, nil, health.Node{ID: "n1", Name: "web-1", PhysicalID: stackID, Status: health.NodeActive})
	var a *activities.Activities
	recover := func(key, expect string) activities.RecoverNodeResult {
		t.Helper()
		v, err := env.ExecuteActivity(a.RecoverNode, activities.RecoverNodeInput{ClusterID: "c1", NodeID: "n1", Key: key,
			Params: health.RecoverParams{Operation: health.OpRecreate}, ExpectPhysicalID: expect})
		if err != nil {
			t.Fatal(err)
		}
		var r activities.RecoverNodeResult
		if err := v.Get(&r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := recover("c1/e/n1/1", "arn:openstack:heat::t:stacks/web-stack/"+stackID)
	if !first.Created || first.Joined || first.Skipped != "" {
		t.Fatalf("first: got %+v, want a new action for the stack named by its ARN", first)
	}
	second := recover("c1/e/n1/2", "")
	if second.Created || !second.Joined || second.ActionID != first.ActionID {
		t.Errorf("second key: got %+v, want to join action %s", second, first.ActionID)
	}
	if other := recover("c1/e/n1/3", "arn:openstack:heat::t:stacks/web-stack/another-stack"); other.Skipped == "" {
		t.Errorf("event about another stack: got %+v, want skipped", other)
	}
}
