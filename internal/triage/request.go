package triage

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The rules of recover requests, settle-window bursts, node-back words,
// nodes that left, and retries of held nodes.

// screen applies the rules that drop a request (or, with back, a node-back
// word) before it is weighed: ok false with the decision that drops it.
func (d *decider) screen(t Request, back bool) (Decision, bool) {
	dec := Decision{NodeID: t.NodeID, Action: Ignore}
	ignore := func(reason, detail string) (Decision, bool) {
		dec.Reason, dec.Detail = reason, detail
		return dec, false
	}
	switch {
	case t.NodeID == "":
		return ignore(ReasonNoNodeID, "no node id")
	case t.Duplicate:
		return ignore(ReasonDuplicate, "duplicate message id")
	case back && t.Project != "" && d.f.Project != "" && t.Project != d.f.Project:
		return ignore(ReasonOtherProject, "project "+t.Project+" is not the cluster's")
	case back:
		return dec, true
	case d.f.Paused != "":
		return ignore(ReasonPaused, "health checks are disabled: "+d.f.Paused)
	case t.Project != "" && d.f.Project != "" && t.Project != d.f.Project:
		return ignore(ReasonOtherProject, "project "+t.Project+" is not the cluster's")
	case t.NotMember:
		return ignore(ReasonNotMember, "no node "+t.NodeID+" in the cluster")
	case d.inFlight(t.NodeID):
		return ignore(ReasonInFlight, "node is already recovering")
	case t.Notification && d.p.LifecycleGate && !d.p.WatchesEvents:
		return ignore(ReasonNoLifecycle, fmt.Sprintf("a %s notification, but the cluster's policy has no LIFECYCLE_EVENTS detection mode", t.Source))
	}
	if m := d.c.Nodes[t.NodeID]; d.p.Bursts && m != nil && !t.At.IsZero() && !m.Requested.IsZero() && t.At.Before(m.Requested) {
		return ignore(ReasonStale, fmt.Sprintf("the event (at %s) is older than the node's last recovery, asked for at %s",
			t.At.UTC().Format(time.RFC3339Nano), m.Requested.UTC().Format(time.RFC3339Nano)))
	}
	if m := d.c.Nodes[t.NodeID]; d.p.SeenBack && m != nil && !t.At.IsZero() && t.At.Before(m.Recovered) {
		return ignore(ReasonStale, fmt.Sprintf("the event (at %s) happened before the node's last recovery ended, at %s",
			t.At.UTC().Format(time.RFC3339Nano), m.Recovered.UTC().Format(time.RFC3339Nano)))
	}
	return dec, true
}

// fail marks the node of an accepted request unhealthy, and adds to
// decisions what that changes besides.
func (d *decider) fail(t Request, decisions *[]Decision) *Memory {
	m := d.c.node(t.NodeID)
	*decisions = d.failedAgain(*decisions, t.NodeID, m)
	if !m.Unhealthy {
		m.Unhealthy, m.Failures, m.Successes = true, max(m.Failures, d.p.Safety.Failures()), 0
		if m.FailingSince.IsZero() {
			m.FailingSince = d.now
			if d.p.Bursts && !t.At.IsZero() && t.At.Before(d.now) {
				m.FailingSince = t.At
			}
		}
	}
	m.Recovered = time.Time{} // failed again
	return m
}

// unhealthy counts the nodes that count toward max_unhealthy: unhealthy,
// recovering, or recovered and not yet seen back.
func (d *decider) unhealthy() int {
	n := 0
	for _, m := range d.c.Nodes {
		if m.Unhealthy {
			n++
		}
	}
	return n
}

func (d *decider) request(t Request) Result {
	if dec, ok := d.screen(t, false); !ok {
		return Result{Decisions: []Decision{dec}}
	}
	var r Result
	m := d.fail(t, &r.Decisions)
	dec := Decision{NodeID: t.NodeID, Action: Ignore, FailingSince: m.FailingSince}
	if !d.p.Legacy {
		r.Gated = d.p.Bursts
		if hold := d.clusterHold(d.unhealthy()); hold != nil {
			dec.Action, dec.Reason, dec.Detail = Hold, hold.Reason, hold.Detail
			m.Queued = hold.Reason == ReasonMaxUnhealthy
			r.Hold = hold
			r.Decisions = append(r.Decisions, dec)
			return r
		}
	}
	d.unhealthyNode(&dec, m, t.Reason, t.Source)
	r.Decisions = append(r.Decisions, dec)
	return r
}

// burst judges the requests of one settle window together: the nodes of
// the accepted requests, with those already unhealthy, recovering or not yet
// seen back, are weighed against max_unhealthy at once, as a round's are. A
// request for a node already in the window is merged into the first; a node
// said to be back after its request needs no recovery.
func (d *decider) burst(t Burst) Result {
	var r Result
	var accepted []Request
	at := map[string]int{} // node -> index into accepted, while it stands
	for _, e := range t.Events {
		if e.Back {
			if i, ok := at[e.NodeID]; ok {
				if dec, ok := d.screen(e.Request, true); !ok {
					r.Decisions = append(r.Decisions, dec)
					continue
				}
				delete(at, e.NodeID)
				accepted[i].NodeID = "" // dropped
				r.Decisions = append(r.Decisions, Decision{NodeID: e.NodeID, Action: Ignore, Reason: ReasonBackInBurst,
					Detail: "back before the burst was judged (" + e.Reason + "): no recovery needed"})
				continue
			}
			r.Decisions = append(r.Decisions, d.back(Back{e.Request}).Decisions...)
			continue
		}
		if dec, ok := d.screen(e.Request, false); !ok {
			r.Decisions = append(r.Decisions, dec)
			continue
		}
		if _, ok := at[e.NodeID]; ok {
			r.Decisions = append(r.Decisions, Decision{NodeID: e.NodeID, Action: Ignore, Reason: ReasonMerged,
				Detail: "one request with an earlier one for the node in the same burst"})
			continue
		}
		at[e.NodeID] = len(accepted)
		accepted = append(accepted, e.Request)
	}
	accepted = slices.DeleteFunc(accepted, func(q Request) bool { return q.NodeID == "" })
	// The nodes held before wait their turn with the burst's, first.
	var queued []Request
	for _, id := range d.queued() {
		if _, ok := at[id]; !ok {
			queued = append(queued, Request{NodeID: id, Reason: "retried after an earlier hold"})
		}
	}
	accepted = append(queued, accepted...)
	if len(accepted) == 0 {
		return r
	}
	mems := make([]*Memory, len(accepted))
	for i, q := range accepted {
		mems[i] = d.fail(q, &r.Decisions)
	}
	var hold *Decision
	if !d.p.Legacy {
		r.Gated = true
		hold = d.clusterHold(d.unhealthy())
		r.Hold = hold
	}
	for i, q := range accepted {
		dec := Decision{NodeID: q.NodeID, Action: Hold, FailingSince: mems[i].FailingSince}
		if hold != nil {
			dec.Reason, dec.Detail = hold.Reason, hold.Detail
			mems[i].Queued = hold.Reason == ReasonMaxUnhealthy
		} else {
			d.unhealthyNode(&dec, mems[i], q.Reason, q.Source)
		}
		r.Decisions = append(r.Decisions, dec)
	}
	return r
}

// back ends the failure of a node of a cluster without rounds on a word that
// it is back; with rounds, they judge.
func (d *decider) back(t Back) Result {
	if dec, ok := d.screen(t.Request, true); !ok {
		return Result{Decisions: []Decision{dec}}
	}
	m := d.c.Nodes[t.NodeID]
	if d.p.Polling || m == nil || !m.Unhealthy {
		return Result{}
	}
	d.mend(m)
	m.Approval = nil
	return Result{Decisions: []Decision{{NodeID: t.NodeID, Action: Change, Reason: ReasonHealthyAgain,
		Detail: "back: " + t.Reason}}}
}

// left forgets the nodes that are no longer members: an unhealthy one stops
// counting toward max_unhealthy.
func (d *decider) left(t Left) Result {
	var r Result
	for _, id := range t.NodeIDs {
		if _, ok := d.c.Nodes[id]; !ok {
			continue
		}
		delete(d.c.Nodes, id)
		r.Decisions = append(r.Decisions, Decision{NodeID: id, Action: Change, Reason: ReasonLeft,
			Detail: "no longer a node of the cluster: forgotten"})
	}
	return r
}

// queued lists the unhealthy nodes that wait their turn and have no
// recovery in flight (a failed recovery is not retried here), in the order
// they started failing.
func (d *decider) queued() []string {
	var ids []string
	for id, m := range d.c.Nodes {
		if m.Unhealthy && m.Queued && !d.inFlight(id) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		if c := d.c.Nodes[a].FailingSince.Compare(d.c.Nodes[b].FailingSince); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return ids
}

func (d *decider) retry() Result {
	var r Result
	ids := d.queued()
	r.Gated = d.p.Bursts && !d.p.Legacy
	if len(ids) == 0 {
		return r
	}
	hold := d.clusterHold(d.unhealthy())
	r.Hold = hold
	for _, id := range ids {
		m := d.c.Nodes[id]
		dec := Decision{NodeID: id, Action: Hold, FailingSince: m.FailingSince}
		if hold != nil {
			dec.Reason, dec.Detail = hold.Reason, hold.Detail
		} else {
			d.unhealthyNode(&dec, m, "retried after an earlier hold", "")
		}
		r.Decisions = append(r.Decisions, dec)
	}
	return r
}
