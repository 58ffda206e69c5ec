package triage

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
)

func TestOperatorUpdateRules(t *testing.T) {
	full := &Cluster{Nodes: map[string]*Memory{}}
	for i := range MaxMaintained {
		full.Nodes[fmt.Sprintf("m%d", i)] = &Memory{Maintenance: &Pause{Since: t0}}
	}
	c := &Cluster{Nodes: map[string]*Memory{
		"waiting":     {Approval: &Approval{Since: t0, Until: t0.Add(time.Hour)}},
		"human":       {NeedsHuman: "3 recoveries failed"},
		"quarantined": {Quarantined: true},
		"failed":      {FailedRecoveries: 1},
		"unhealthy":   {Unhealthy: true, Failures: 3},
	}}
	cases := []struct {
		name string
		err  error
		want string // "" for accepted, else a part of the error
	}{
		{"answer a waiting recovery", c.CanAnswer("waiting"), ""},
		{"answer a node with nothing waiting", c.CanAnswer("unhealthy"), "node_id: no recovery of node unhealthy is waiting for approval"},
		{"answer an unknown node", c.CanAnswer("ghost"), "no recovery of node ghost"},
		{"clear a node that needs a human", c.CanClear("human"), ""},
		{"clear a quarantined node", c.CanClear("quarantined"), ""},
		{"clear a node with failed recoveries", c.CanClear("failed"), ""},
		{"clear a node with nothing to clear", c.CanClear("unhealthy"), "node_id: node unhealthy neither needs a human nor is quarantined"},
		{"clear an unknown node", c.CanClear("ghost"), "nothing to clear"},
		{"maintain a node", c.CanMaintain("unhealthy"), ""},
		{"maintain one more than the bound", full.CanMaintain("another"), "node_id: 1024 nodes are in maintenance already"},
		{"maintain again a node in maintenance at the bound", full.CanMaintain("m7"), ""},
	}
	for _, tc := range cases {
		switch {
		case tc.want == "" && tc.err != nil:
			t.Errorf("%s: got %v, want accepted", tc.name, tc.err)
		case tc.want != "" && (tc.err == nil || !strings.Contains(tc.err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error with %q", tc.name, tc.err, tc.want)
		}
	}
}

func TestAdmit(t *testing.T) {
	cases := []struct {
		name string
		gen  Generation
		req  Request
		back bool
		want string // "" for admitted, else the ignore's reason
	}{
		{"a valid request", Current, Request{NodeID: "n1"}, false, ""},
		{"a request that breaks a rule", Current, Request{NodeID: "n1", Invalid: "source: longer than 64 characters"}, false, ReasonInvalid},
		{"a node-back word that breaks a rule", Current, Request{NodeID: "n1", Invalid: "source: longer than 64 characters"}, true, ReasonInvalid},
		{"a request with no node id goes on, to be ignored as such", Current, Request{Invalid: "node_id: required"}, false, ""},
		{"a node-back word with no node id is dropped", Current, Request{Invalid: "node_id: required"}, true, ReasonNoNodeID},
		{"a legacy run admits it", GenLegacy, Request{NodeID: "n1", Invalid: "source: longer than 64 characters"}, false, ""},
	}
	for _, tc := range cases {
		d, ok := Admit(PolicyFor(health.Registration{}, tc.gen), tc.req, tc.back)
		switch {
		case tc.want == "" && !ok:
			t.Errorf("%s: got %+v, want admitted", tc.name, d)
		case tc.want != "" && (ok || d.Reason != tc.want || d.Action != Ignore):
			t.Errorf("%s: got %+v admitted=%v, want ignored with %s", tc.name, d, ok, tc.want)
		case tc.want == ReasonInvalid && d.Detail != tc.req.Invalid:
			t.Errorf("%s: got detail %q, want the rule broken", tc.name, d.Detail)
		}
	}
}

func TestGenerationNames(t *testing.T) {
	if len(VersionSteps) != int(Current) {
		t.Fatalf("%d version steps for %d generations after legacy: each generation needs its step", len(VersionSteps), Current)
	}
	for g, want := range map[Generation]string{GenLegacy: "legacy", GenCore: "decision-core", GenBursts: "event-burst",
		GenHardened: "hostile-tenants", GenFleetStates: "fleet-states", GenSuccessHold: "success-hold", GenLocalSweep: "local-sweep", GenRoundPhase: "round-phase", GenSeenBack: "seen-back"} {
		if got := g.String(); got != want {
			t.Errorf("generation %d: got %q, want %q", g, got, want)
		}
	}
}
