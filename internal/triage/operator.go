package triage

import "fmt"

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
