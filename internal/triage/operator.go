package triage

import (
	"fmt"
	"strings"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
)

// MaxMaintained bounds the nodes of a cluster in maintenance at once.
const MaxMaintained = 1024

// The rules an operator's update must meet before it is accepted (the
// workflow's update validators apply them, so that a refused update leaves
// no trace in the history). Each error names the field it is about.

// CanAnswer is nil when a recovery of the node waits for approval, so that
// an approve or deny has something to answer.
func (c *Cluster) CanAnswer(nodeID string) error {
	if m := c.Nodes[nodeID]; m == nil || m.Approval == nil {
		return fmt.Errorf("node_id: no recovery of node %s is waiting for approval", nodeID)
	}
	return nil
}

// CanClear is nil when the node needs a human, is quarantined or has failed
// recoveries: something to clear.
func (c *Cluster) CanClear(nodeID string) error {
	if m := c.Nodes[nodeID]; m == nil || (m.NeedsHuman == "" && !m.Quarantined && m.FailedRecoveries == 0) {
		return fmt.Errorf("node_id: node %s neither needs a human nor is quarantined: nothing to clear", nodeID)
	}
	return nil
}

// CanMaintain is nil when the node may be put in maintenance: it is already
// (the pause is replaced), or fewer than MaxMaintained nodes are.
func (c *Cluster) CanMaintain(nodeID string) error {
	if m := c.Nodes[nodeID]; m != nil && m.Maintenance != nil {
		return nil
	}
	n := 0
	for _, m := range c.Nodes {
		if m.Maintenance != nil {
			n++
		}
	}
	if n >= MaxMaintained {
		return fmt.Errorf("node_id: %d nodes are in maintenance already, the most a cluster keeps: end one first", MaxMaintained)
	}
	return nil
}

// The rules of operators' triggers: answers to approvals, clear, maintain.

func (d *decider) answer(t Answer) Result {
	m := d.c.node(t.NodeID)
	ap := m.Approval
	dec := Decision{NodeID: t.NodeID, Action: Ignore, Reason: ReasonAwaitingApproval, Detail: "no recovery is waiting for approval"}
	if ap == nil {
		return Result{Decisions: []Decision{dec}}
	}
	m.Approval = nil
	who, approve := t.By, t.Approve
	if t.Timeout {
		who, approve = "default after the approval timed out", d.p.Safety.ApprovalDefault() == health.Approve
	}
	if !approve {
		m.NeedsHuman = fmt.Sprintf("%s denied by %s%s", ap.Operation, who, because(t.Reason))
		dec.Action, dec.Reason, dec.Detail = Change, ReasonDenied, "needs a human: "+m.NeedsHuman
		return Result{Decisions: []Decision{dec}}
	}
	if d.inFlight(t.NodeID) {
		d.holdInFlight(&dec)
		return Result{Decisions: []Decision{dec}}
	}
	d.recover(&dec, m, ap.Operation, ap.Step, fmt.Sprintf("approved by %s%s: %s", who, because(t.Reason), ap.Reason))
	dec.Reason = ReasonApproved
	return Result{Decisions: []Decision{dec}}
}

func (d *decider) clear(t Clear) Result {
	m := d.c.node(t.NodeID)
	was := []string{}
	if m.NeedsHuman != "" {
		was = append(was, "needed a human ("+m.NeedsHuman+")")
	}
	if m.Quarantined {
		was = append(was, "quarantined")
	}
	m.NeedsHuman, m.Quarantined, m.Changes, m.FailedRecoveries, m.Step, m.ClimbUntil = "", false, nil, 0, 0, time.Time{}
	m.Approval = nil
	detail := "cleared by " + orSomeone(t.By) + because(t.Reason)
	if len(was) > 0 {
		detail += "; it " + strings.Join(was, " and ")
	}
	return Result{Decisions: []Decision{{NodeID: t.NodeID, Action: Change, Reason: ReasonCleared, Detail: detail}}}
}

func (d *decider) maintain(t Maintain) Result {
	m := d.c.node(t.NodeID)
	m.Maintenance = t.Pause
	if t.Pause == nil {
		return Result{Decisions: []Decision{{NodeID: t.NodeID, Action: Change, Reason: ReasonMaintenance, Detail: "maintenance ended"}}}
	}
	return Result{Decisions: []Decision{{NodeID: t.NodeID, Action: Change, Reason: ReasonMaintenance,
		Detail: "in maintenance" + pauseDetail(t.Pause)}}}
}

func pauseDetail(p *Pause) string {
	s := ""
	if p.By != "" {
		s += " by " + p.By
	}
	s += because(p.Reason)
	if p.Until.IsZero() {
		return s + ", until lifted"
	}
	return s + ", until " + p.Until.UTC().Format(time.RFC3339)
}

func because(why string) string {
	if why == "" {
		return ""
	}
	return ": " + why
}

func orSomeone(who string) string {
	if who == "" {
		return "an operator"
	}
	return who
}
