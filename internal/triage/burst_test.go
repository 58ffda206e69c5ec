package triage

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
)

// eventsPolicy is a cluster that watches lifecycle events only, with the
// burst rules on.
func eventsPolicy(s health.Safety) Policy {
	reg := health.Registration{Recovery: health.RecoveryAction{Name: health.OpRecreate}, Safety: s,
		DetectionModes: []health.DetectionMode{{Type: health.LifecycleEvents}}}
	return PolicyFor(reg, GenBursts)
}

// nova is a failure notification of node id, the event at at.
func nova(id string, at time.Time) BurstEvent {
	return BurstEvent{Request: Request{NodeID: id, Source: "nova", Notification: true, Reason: "nova POWER_OFF stopped", At: at}}
}

// novaBack is Nova's word that node id is active again.
func novaBack(id string) BurstEvent {
	return BurstEvent{Request: Request{NodeID: id, Source: "nova", Notification: true, Reason: "nova POWER_ON active"}, Back: true}
}

// burstOf is a burst of failure notifications about nodes n<i>, each twice
// (Nova's legacy and versioned formats), within one second of t0.
func burstOf(nodes ...int) Burst {
	var b Burst
	for k, i := range nodes {
		at := t0.Add(time.Duration(k) * 100 * time.Millisecond)
		b.Events = append(b.Events, nova(fmt.Sprintf("n%d", i), at), nova(fmt.Sprintf("n%d", i), at.Add(time.Millisecond)))
	}
	return b
}

// count sums the decisions up as "action/reason=n", sorted by first seen.
func count(r Result) string {
	var order []string
	n := map[string]int{}
	for _, d := range r.Decisions {
		k := string(d.Action) + "/" + d.Reason
		if n[k] == 0 {
			order = append(order, k)
		}
		n[k]++
	}
	var s []string
	for _, k := range order {
		s = append(s, fmt.Sprintf("%s=%d", k, n[k]))
	}
	return strings.Join(s, " ")
}

// The rules of issue "a burst of lifecycle events is an outage too": a burst
// is judged as a round is, with the nodes already recovering counted.
func TestBursts(t *testing.T) {
	cases := []struct {
		name string
		// before: nodes recovering (in flight) and recovered but not yet
		// seen back when the burst is judged.
		inFlight, recovered []int
		burst               Burst
		want                string
		hold                string
	}{
		{name: "5 of 10 at once are held", burst: burstOf(1, 2, 3, 4, 5),
			want: "ignore/merged_in_burst=5 hold/max_unhealthy=5", hold: "held: 5 of 10 unhealthy, above max_unhealthy 40% (at most 4)"},
		{name: "4 of 10 at once are recovered", burst: burstOf(1, 2, 3, 4),
			want: "ignore/merged_in_burst=4 recover/unhealthy=4"},
		{name: "3 on top of 2 recovering are held", inFlight: []int{6, 7}, burst: burstOf(1, 2, 3),
			want: "ignore/merged_in_burst=3 hold/max_unhealthy=3", hold: "recoveries resume once the cluster is back under it; counted among them, let through while the cluster was within the limit and still recovering or not yet seen back: n6, n7"},
		{name: "3 on top of 2 recovered and not yet seen back are held", recovered: []int{6, 7}, burst: burstOf(1, 2, 3),
			want: "ignore/merged_in_burst=3 hold/max_unhealthy=3", hold: "n6, n7"},
		{name: "2 on top of 2 recovering are recovered", inFlight: []int{6, 7}, burst: burstOf(1, 2),
			want: "ignore/merged_in_burst=2 recover/unhealthy=2"},
		{name: "a node back before the burst is judged needs no recovery",
			burst: Burst{Events: append(burstOf(1, 2, 3, 4, 5).Events, novaBack("n5"))},
			want:  "ignore/merged_in_burst=5 ignore/back_within_burst=1 recover/unhealthy=4"},
		{name: "a node that fails again after it was back is one request",
			burst: Burst{Events: append(burstOf(1).Events, novaBack("n1"), nova("n1", t0.Add(2*time.Second)))},
			want:  "ignore/merged_in_burst=1 ignore/back_within_burst=1 recover/unhealthy=1"},
		{name: "a request for a recovering node is ignored", inFlight: []int{1}, burst: burstOf(1),
			want: "ignore/already_recovering=2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, c := eventsPolicy(health.Safety{}), &Cluster{}
			inFlight := map[string]string{}
			before := t0.Add(-30 * time.Second)
			for _, i := range append(tc.inFlight, tc.recovered...) {
				id := fmt.Sprintf("n%d", i)
				if r := Decide(p, c, Facts{Nodes: 10, InFlight: inFlight}, Request{NodeID: id, Source: "nova", Notification: true}, before); r.Decisions[0].Action != Recover {
					t.Fatalf("setup: %s got %s", id, actions(r))
				}
				inFlight[id] = "a-" + id
			}
			for _, i := range tc.recovered {
				id := fmt.Sprintf("n%d", i)
				delete(inFlight, id)
				Decide(p, c, Facts{Nodes: 10, InFlight: inFlight}, Finished{NodeID: id, Outcome: health.OutcomeSucceeded}, before.Add(time.Second))
			}
			r := Decide(p, c, Facts{Nodes: 10, InFlight: inFlight}, tc.burst, t0.Add(5*time.Second))
			if got := count(r); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if !r.Gated && strings.Contains(tc.want, "/unhealthy") {
				t.Errorf("a burst that weighed the cluster must say so (Gated)")
			}
			switch {
			case tc.hold == "" && r.Hold != nil:
				t.Errorf("got hold %q, want none", r.Hold.Detail)
			case tc.hold != "" && (r.Hold == nil || !strings.Contains(r.Hold.Detail, tc.hold)):
				t.Errorf("got hold %+v, want one saying %q", r.Hold, tc.hold)
			}
		})
	}
}

// A burst held by max_unhealthy is released when enough of its nodes are
// said to be back together, and exactly the others are recovered; words
// that come one at a time release it as soon as the cluster is within the
// limit.
func TestHeldBurstReleasesWhenNodesComeBack(t *testing.T) {
	f := Facts{Nodes: 10, InFlight: map[string]string{}}
	held := "ignore/merged_in_burst=5 hold/max_unhealthy=5"

	p, c := eventsPolicy(health.Safety{}), &Cluster{}
	if got := count(Decide(p, c, f, burstOf(1, 2, 3, 4, 5), t0.Add(5*time.Second))); got != held {
		t.Fatalf("burst: got %s, want %s", got, held)
	}
	back := Burst{Events: []BurstEvent{novaBack("n1"), novaBack("n2"), novaBack("n3")}}
	r := Decide(p, c, f, back, t0.Add(time.Minute))
	if got, want := actions(r), "n1:change/healthy_again n2:change/healthy_again n3:change/healthy_again n4:recover/unhealthy n5:recover/unhealthy"; got != want {
		t.Errorf("3 back together: got %s, want %s", got, want)
	}
	if r.Hold != nil || !r.Gated {
		t.Errorf("3 back together: got hold %+v (gated %v), want it lifted", r.Hold, r.Gated)
	}

	// One at a time (event_settle 0): the first word already brings the
	// cluster within the limit.
	p, c = eventsPolicy(health.Safety{}), &Cluster{}
	Decide(p, c, f, burstOf(1, 2, 3, 4, 5), t0.Add(5*time.Second))
	if got := actions(Decide(p, c, f, Back{novaBack("n1").Request}, t0.Add(time.Minute))); got != "n1:change/healthy_again" {
		t.Fatalf("n1 back: got %s", got)
	}
	r = Decide(p, c, f, Retry{}, t0.Add(time.Minute))
	if got, want := actions(r), "n2:recover/unhealthy n3:recover/unhealthy n4:recover/unhealthy n5:recover/unhealthy"; got != want {
		t.Errorf("retry after n1 is back: got %s, want %s", got, want)
	}
}

// A recovered node of a cluster without rounds counts toward max_unhealthy
// until it is said to be back, or until confirm_timeout passes; then the
// hold lifts on the next decision, which the workflow times with NextConfirm.
func TestRecoveredNodesCountUntilBack(t *testing.T) {
	p, c := eventsPolicy(health.Safety{ConfirmTimeout: 60}), &Cluster{}
	f := Facts{Nodes: 10, InFlight: map[string]string{}}
	if got := count(Decide(p, c, f, burstOf(1, 2, 3, 4), t0.Add(5*time.Second))); got != "ignore/merged_in_burst=4 recover/unhealthy=4" {
		t.Fatalf("first burst: got %s", got)
	}
	for i := 1; i <= 4; i++ {
		Decide(p, c, f, Finished{NodeID: fmt.Sprintf("n%d", i), Outcome: health.OutcomeSucceeded}, t0.Add(6*time.Second))
	}
	if got := NextConfirm(p, c); !got.Equal(t0.Add(66 * time.Second)) {
		t.Errorf("NextConfirm: got %s, want %s", got, t0.Add(66*time.Second))
	}
	// The engine said the recoveries succeeded within the second; the next
	// node of the same outage is not let through.
	r := Decide(p, c, f, Burst{Events: []BurstEvent{nova("n5", t0.Add(time.Second))}}, t0.Add(7*time.Second))
	if got := actions(r); got != "n5:hold/max_unhealthy" {
		t.Errorf("the fifth node a second later: got %s, want it held", got)
	}
	if r.Hold == nil || !slices.Equal(r.Hold.Recovering, []string{"n1", "n2", "n3", "n4"}) {
		t.Errorf("hold: got %+v, want n1-n4 named as recovered and not yet back", r.Hold)
	}
	// Nova's own words for two of them: the fifth goes on.
	Decide(p, c, f, Back{novaBack("n1").Request}, t0.Add(20*time.Second))
	r = Decide(p, c, f, Burst{Events: []BurstEvent{novaBack("n2")}}, t0.Add(21*time.Second))
	if got := actions(r); got != "n2:change/healthy_again n5:recover/unhealthy" {
		t.Errorf("after n1 and n2 are back: got %s", got)
	}
	// Nobody says n3 and n4 are back: they are taken as back after
	// confirm_timeout.
	if got := actions(Decide(p, c, f, Retry{}, t0.Add(65*time.Second))); got != "" {
		t.Errorf("retry before confirm_timeout: got %s, want nothing", got)
	}
	r = Decide(p, c, f, Retry{}, t0.Add(66*time.Second))
	if got := actions(r); got != "n3:change/taken_as_back n4:change/taken_as_back" {
		t.Errorf("retry at confirm_timeout: got %s", got)
	}
	if len(c.Nodes) != 1 || c.Nodes["n5"] == nil {
		t.Errorf("memory: got %v, want only n5's", c.Nodes)
	}
}

// A trickle of one failure a minute is no outage: each node is recovered,
// whether or not anything says the earlier ones are back.
func TestTrickleIsRecovered(t *testing.T) {
	for _, words := range []bool{true, false} {
		p, c := eventsPolicy(health.Safety{}), &Cluster{}
		f := Facts{Nodes: 10, InFlight: map[string]string{}}
		for i := 1; i <= 10; i++ {
			id := fmt.Sprintf("n%d", i)
			at := t0.Add(time.Duration(i) * time.Minute)
			if got := actions(Decide(p, c, f, Burst{Events: []BurstEvent{nova(id, at)}}, at.Add(5*time.Second))); got != id+":recover/unhealthy" {
				t.Errorf("words %v: minute %d: got %s, want %s recovered", words, i, got, id)
			}
			Decide(p, c, f, Finished{NodeID: id, Outcome: health.OutcomeSucceeded}, at.Add(10*time.Second))
			if words {
				Decide(p, c, f, Back{novaBack(id).Request}, at.Add(20*time.Second))
			}
		}
	}
}

// The other format of an event already acted on is one request: its
// timestamp is older than the recovery it led to.
func TestStaleEventIsIgnored(t *testing.T) {
	p, c := eventsPolicy(health.Safety{}), &Cluster{}
	f := Facts{Nodes: 10, InFlight: map[string]string{}}
	if got := actions(Decide(p, c, f, Request{NodeID: "n1", Source: "nova", Notification: true, At: t0}, t0.Add(time.Second))); got != "n1:recover/unhealthy" {
		t.Fatalf("got %s", got)
	}
	Decide(p, c, f, Finished{NodeID: "n1", Outcome: health.OutcomeSucceeded}, t0.Add(2*time.Second))
	late := Request{NodeID: "n1", Source: "nova", Notification: true, At: t0.Add(time.Millisecond)}
	if got := actions(Decide(p, c, f, late, t0.Add(3*time.Second))); got != "n1:ignore/stale_event" {
		t.Errorf("the other format, after the recovery: got %s", got)
	}
	again := Request{NodeID: "n1", Source: "nova", Notification: true, At: t0.Add(4 * time.Second)}
	if got := actions(Decide(p, c, f, again, t0.Add(5*time.Second))); got != "n1:recover/unhealthy" {
		t.Errorf("a new failure after the recovery: got %s", got)
	}
}

// With rounds, words do not judge: the rounds do.
func TestBackIsForClustersWithoutRounds(t *testing.T) {
	p := policy(health.Safety{})
	p.Bursts = true
	c := &Cluster{}
	round(p, c, Facts{}, t0, verdicts(10, 1))
	if got := actions(Decide(p, c, Facts{Nodes: 10}, Back{novaBack("n1").Request}, t0.Add(time.Second))); got != "" {
		t.Errorf("got %s, want nothing", got)
	}
	if !c.Nodes["n1"].Unhealthy {
		t.Errorf("n1 after a word: got %+v, want still unhealthy", c.Nodes["n1"])
	}
	// A word from another project is refused whatever the cluster.
	q := novaBack("n1").Request
	q.Project = "p2"
	if got := actions(Decide(eventsPolicy(health.Safety{}), &Cluster{}, Facts{Nodes: 10, Project: "p1"}, Back{q}, t0)); got != "n1:ignore/other_project" {
		t.Errorf("a word from another project: got %s", got)
	}
}

// A hold names at most 20 of the nodes it counted, whatever the cluster's
// size, and says how many more.
func TestHoldNamesABoundedList(t *testing.T) {
	p, c := eventsPolicy(health.Safety{MaxUnhealthy: "100%"}), &Cluster{}
	inFlight := map[string]string{}
	for i := 1; i <= 25; i++ {
		id := fmt.Sprintf("n%02d", i)
		Decide(p, c, Facts{Nodes: 30, InFlight: inFlight}, Request{NodeID: id}, t0)
		inFlight[id] = "a-" + id
	}
	p.Safety.MaxUnhealthy = "40%"
	r := Decide(p, c, Facts{Nodes: 30, InFlight: inFlight}, Burst{Events: []BurstEvent{nova("n30", t0)}}, t0.Add(time.Minute))
	if r.Hold == nil || len(r.Hold.Recovering) != 20 || r.Hold.Recovering[0] != "n01" || !strings.HasSuffix(r.Hold.Detail, "n20 and 5 more") {
		t.Errorf("got hold %+v, want n01..n20 named and 5 more", r.Hold)
	}
}

// Requests for nodes that are not members are dropped before they are
// weighed: fifty of them, alone or in a window with a real failure, never
// hold a cluster of ten, and the real failure is recovered. Nodes that left
// are forgotten and stop counting toward max_unhealthy.
func TestNonMembers(t *testing.T) {
	f := Facts{Nodes: 10, InFlight: map[string]string{}}
	p, c := eventsPolicy(health.Safety{}), &Cluster{}
	var b Burst
	for i := range 50 {
		e := nova(fmt.Sprintf("ghost-%d", i), t0)
		e.NotMember = true
		b.Events = append(b.Events, e)
	}
	b.Events = append(b.Events, nova("n1", t0))
	r := Decide(p, c, f, b, t0.Add(5*time.Second))
	if got, want := count(r), "ignore/not_a_member=50 recover/unhealthy=1"; got != want || r.Hold != nil {
		t.Fatalf("a window of 50 ghosts and n1: got %s (hold %+v), want %s and no hold", got, r.Hold, want)
	}
	if len(c.Nodes) != 1 {
		t.Errorf("memory: got %d nodes, want only n1", len(c.Nodes))
	}
	alone := nova("ghost-x", t0)
	alone.NotMember = true
	if got := count(Decide(p, c, f, alone.Request, t0.Add(6*time.Second))); got != "ignore/not_a_member=1" {
		t.Errorf("a single request for a non-member: got %s", got)
	}

	// Five nodes failing hold the cluster; two of them leave it: the
	// remaining three are within max_unhealthy again.
	p, c = eventsPolicy(health.Safety{}), &Cluster{}
	if got := count(Decide(p, c, f, burstOf(1, 2, 3, 4, 5), t0.Add(5*time.Second))); got != "ignore/merged_in_burst=5 hold/max_unhealthy=5" {
		t.Fatalf("burst: got %s", got)
	}
	if got := count(Decide(p, c, f, Left{NodeIDs: []string{"n4", "n5", "n9"}}, t0.Add(time.Minute))); got != "change/left_the_cluster=2" {
		t.Errorf("two nodes left: got %s, want both forgotten (n9 was never remembered)", got)
	}
	r = Decide(p, c, f, Retry{}, t0.Add(time.Minute))
	if got := count(r); got != "recover/unhealthy=3" {
		t.Errorf("retry after they left: got %s, want the 3 others recovered", got)
	}
}
