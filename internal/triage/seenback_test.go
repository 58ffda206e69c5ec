package triage

import (
	"strings"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
)

// TestSeenBack: a recovery works when the node is seen working after it,
// not when its action succeeds. Each row is a node n1 of three, polled
// every minute, recovered at once on failure (the defaults: one failure
// makes it unhealthy, three failed recoveries in a row need a human).
func TestSeenBack(t *testing.T) {
	healthy := func(int) []Verdict { return verdicts(3) }
	failing := func(int) []Verdict { return verdicts(3, 1) }
	unknown := func(int) []Verdict {
		vs := verdicts(3)
		vs[0].Verdict, vs[0].Reason = health.Unknown, "HYPERVISOR_STATUS_POLLING: observed before the node's last status change"
		return vs
	}
	inGrace := func(int) []Verdict {
		vs := verdicts(3)
		vs[0].InGrace, vs[0].Reason = true, "within grace period: 503"
		return vs
	}
	// step is one minute of a node's life: a round with the given
	// verdicts at minute i (0 s), and, when the round recovers n1, its
	// recovery ending with outcome at 20 s.
	type step struct {
		round   func(int) []Verdict
		outcome health.Outcome
	}
	ok, failed := health.OutcomeSucceeded, health.OutcomeFailed
	tests := []struct {
		name  string
		gen   Generation
		steps []step
		// want is n1's decision of each round.
		want []string
	}{
		{"a recovery after which the node fails again counts as failed: the third needs a human", GenSeenBack,
			[]step{{failing, ok}, {failing, ok}, {failing, ok}, {failing, ok}},
			[]string{"recover/unhealthy", "recover/unhealthy", "recover/unhealthy", "change/needs_human hold/needs_human"}},
		{"runs older than GenSeenBack recovered it every round (kept so that they replay)", GenRoundPhase,
			[]step{{failing, ok}, {failing, ok}, {failing, ok}, {failing, ok}},
			[]string{"recover/unhealthy", "recover/unhealthy", "recover/unhealthy", "recover/unhealthy"}},
		{"seen working once between recoveries: the count starts over", GenSeenBack,
			[]step{{failing, ok}, {failing, ok}, {healthy, ""}, {failing, ok}, {failing, ok}, {failing, ok}, {failing, ok}},
			[]string{"recover/unhealthy", "recover/unhealthy", "change/healthy_again", "recover/unhealthy", "recover/unhealthy",
				"recover/unhealthy", "change/needs_human hold/needs_human"}},
		{"healthy only by its grace period is not seen working", GenSeenBack,
			[]step{{failing, ok}, {inGrace, ""}, {failing, ok}, {inGrace, ""}, {failing, ok}, {inGrace, ""}, {failing, ""}},
			[]string{"recover/unhealthy", "change/healthy_again", "recover/unhealthy", "change/healthy_again", "recover/unhealthy",
				"change/healthy_again", "change/needs_human hold/needs_human"}},
		{"recovered and not judged since (its status unknown): held, not recovered again, until a verdict", GenSeenBack,
			[]step{{failing, ok}, {unknown, ""}, {unknown, ""}, {healthy, ""}},
			[]string{"recover/unhealthy", "hold/not_judged_since_recovery", "hold/not_judged_since_recovery", "change/healthy_again"}},
		{"runs older than GenSeenBack recovered it again on an unknown verdict", GenRoundPhase,
			[]step{{failing, ok}, {unknown, ok}},
			[]string{"recover/unhealthy", "recover/unhealthy"}},
		{"failed and ineffective recoveries count together", GenSeenBack,
			[]step{{failing, failed}, {failing, ok}, {failing, failed}, {failing, ""}},
			[]string{"recover/unhealthy", "recover/unhealthy", "recover/unhealthy change/needs_human", "hold/needs_human"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := health.Registration{Recovery: health.RecoveryAction{Name: health.OpRecreate},
				DetectionModes: []health.DetectionMode{{Type: health.NodeStatusPollURL}}}
			p, c := PolicyFor(reg, tc.gen), &Cluster{}
			var got []string
			for i, s := range tc.steps {
				at := t0.Add(time.Duration(i) * time.Minute)
				r := round(p, c, Facts{}, at, s.round(i))
				var mine []string
				recovered := false
				for _, d := range r.Decisions {
					if d.NodeID == "n1" {
						mine = append(mine, string(d.Action)+"/"+d.Reason)
						recovered = recovered || d.Action == Recover
					}
				}
				if recovered && s.outcome != "" {
					for _, d := range Decide(p, c, Facts{Nodes: 3}, Finished{NodeID: "n1", Outcome: s.outcome}, at.Add(20*time.Second)).Decisions {
						mine = append(mine, string(d.Action)+"/"+d.Reason)
					}
				}
				got = append(got, strings.Join(mine, " "))
			}
			if strings.Join(got, " | ") != strings.Join(tc.want, " | ") {
				t.Errorf("n1's decisions, minute by minute:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestRoundBeforeTheRecoveryEnded: a sweep that began before the node's
// recovery ended judged the node as it was; it neither recovers it again nor
// counts against the recovery.
func TestRoundBeforeTheRecoveryEnded(t *testing.T) {
	reg := health.Registration{Recovery: health.RecoveryAction{Name: health.OpRecreate},
		DetectionModes: []health.DetectionMode{{Type: health.NodeStatusPollURL}}}
	for _, gen := range []Generation{GenRoundPhase, GenSeenBack} {
		p, c := PolicyFor(reg, gen), &Cluster{}
		if got := actions(round(p, c, Facts{}, t0, verdicts(3, 1))); got != "n1:recover/unhealthy" {
			t.Fatalf("%s: first failure: got %s", gen, got)
		}
		// The next sweep starts at 60 s; the recovery ends at 61 s, during
		// it; the sweep's result comes at 62 s.
		Decide(p, c, Facts{Nodes: 3}, Finished{NodeID: "n1", Outcome: health.OutcomeSucceeded}, t0.Add(61*time.Second))
		r := Decide(p, c, Facts{Nodes: 3}, Round{Start: t0.Add(time.Minute), Verdicts: verdicts(3, 1)}, t0.Add(62*time.Second))
		want := "n1:hold/checked_before_recovery"
		if gen < GenSeenBack {
			want = "n1:recover/unhealthy"
		}
		if got := actions(r); got != want {
			t.Errorf("%s: the round that began before the recovery ended: got %s, want %s", gen, got, want)
		}
		if gen < GenSeenBack {
			continue
		}
		if d := r.Decisions[0]; !strings.Contains(d.Detail, "before its recovery ended") {
			t.Errorf("its detail: %q", d.Detail)
		}
		if m := c.Nodes["n1"]; m.FailedRecoveries != 0 || m.Recovered.IsZero() {
			t.Errorf("after it: %d failed recoveries, recovered at %v; want 0 and still waiting to be seen", m.FailedRecoveries, m.Recovered)
		}
		// The round after it judges the node: working, and forgotten.
		if got := actions(round(p, c, Facts{}, t0.Add(2*time.Minute), verdicts(3))); got != "n1:change/healthy_again" {
			t.Errorf("the next round: got %s", got)
		}
		if _, ok := c.Nodes["n1"]; ok {
			t.Errorf("a node seen working after its recovery is still remembered: %+v", c.Nodes["n1"])
		}
	}
}

// TestEventsAfterARecovery: without rounds, a node that fails again before
// it is said to be back counts its recovery as failed; an event from before
// the recovery ended is about the recovery itself.
func TestEventsAfterARecovery(t *testing.T) {
	reg := health.Registration{Recovery: health.RecoveryAction{Name: health.OpReboot},
		DetectionModes: []health.DetectionMode{{Type: health.LifecycleEvents}}}
	p, c := PolicyFor(reg, GenSeenBack), &Cluster{}
	f := Facts{Nodes: 10}
	req := func(at time.Time) Request {
		return Request{NodeID: "n1", Source: "nova", Reason: "compute.instance.power_off.end", Notification: true, At: at}
	}
	for i := range 3 {
		start := t0.Add(time.Duration(i) * 100 * time.Second)
		r := Decide(p, c, f, req(start), start)
		if got := actions(r); got != "n1:recover/unhealthy" {
			t.Fatalf("failure %d: got %s", i+1, got)
		}
		Decide(p, c, f, Finished{NodeID: "n1", Outcome: health.OutcomeSucceeded}, start.Add(time.Minute))
		// The reboot's own power_off, delivered late.
		if got := actions(Decide(p, c, f, req(start.Add(30*time.Second)), start.Add(70*time.Second))); got != "n1:ignore/stale_event" {
			t.Errorf("failure %d: the recovery's own event: got %s", i+1, got)
		}
	}
	// Each failed again 40 s after its recovery, before anything said it
	// was back or confirm_timeout (2 minutes) passed: the fourth failure
	// counts the third recovery as the third failed one.
	if m := c.Nodes["n1"]; m.NeedsHuman != "" || m.FailedRecoveries != 2 {
		t.Fatalf("before the fourth failure: %+v", m)
	}
	at := t0.Add(300 * time.Second)
	if got := actions(Decide(p, c, f, req(at), at)); got != "n1:change/needs_human n1:hold/needs_human" {
		t.Errorf("the fourth failure: got %s", got)
	}
	// Said to be back, or taken as back once confirm_timeout passed: its
	// count starts over.
	c = &Cluster{}
	Decide(p, c, f, req(t0), t0)
	Decide(p, c, f, Finished{NodeID: "n1", Outcome: health.OutcomeSucceeded}, t0.Add(time.Minute))
	Decide(p, c, f, req(t0.Add(time.Hour)), t0.Add(time.Hour))
	Decide(p, c, f, Finished{NodeID: "n1", Outcome: health.OutcomeSucceeded}, t0.Add(time.Hour+time.Minute))
	Decide(p, c, f, Back{Request{NodeID: "n1", Source: "nova", Reason: "compute.instance.power_on.end"}}, t0.Add(time.Hour+2*time.Minute))
	if m := c.Nodes["n1"]; m != nil && m.FailedRecoveries != 0 {
		t.Errorf("after the word that it is back: %d failed recoveries, want 0", m.FailedRecoveries)
	}
	Decide(p, c, f, req(t0.Add(2*time.Hour)), t0.Add(2*time.Hour))
	Decide(p, c, f, Finished{NodeID: "n1", Outcome: health.OutcomeSucceeded}, t0.Add(2*time.Hour+time.Minute))
	if got := actions(Decide(p, c, f, req(t0.Add(3*time.Hour)), t0.Add(3*time.Hour))); got != "n1:change/taken_as_back n1:recover/unhealthy" {
		t.Errorf("failing again after confirm_timeout: got %s", got)
	}
	if m := c.Nodes["n1"]; m.FailedRecoveries != 0 {
		t.Errorf("after being taken as back: %d failed recoveries, want 0", m.FailedRecoveries)
	}
}
