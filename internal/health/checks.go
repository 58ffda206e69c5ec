package health

import "time"

// CheckRecord is the last check of a node that is not plainly healthy, as the
// store keeps it: a node without a record was healthy at its cluster's last
// check.
type CheckRecord struct {
	NodeID  string  `json:"node_id"`
	Verdict Verdict `json:"verdict"`
	Reason  string  `json:"reason,omitempty"`
	// Since is when the node got this verdict.
	Since     time.Time `json:"since"`
	CheckedAt time.Time `json:"checked_at"`
}

// SweepSummary counts the verdicts of one sweep of a cluster.
type SweepSummary struct {
	At    time.Time `json:"at"`
	Nodes int       `json:"nodes"`
	// Healthy, Unhealthy, Unknown and Skipped count the sweep's verdicts of
	// every node (an unhealthy node's retries still to come).
	Healthy   int `json:"healthy"`
	Unhealthy int `json:"unhealthy"`
	Unknown   int `json:"unknown"`
	Skipped   int `json:"skipped"`
}

// Count adds one verdict to the summary.
func (s *SweepSummary) Count(v Verdict) {
	s.Nodes++
	switch v {
	case Healthy:
		s.Healthy++
	case Unhealthy:
		s.Unhealthy++
	case Unknown:
		s.Unknown++
	case Skipped:
		s.Skipped++
	}
}

// NodeView is one node of a cluster with its last check, for an operator's
// view of every node.
type NodeView struct {
	Node
	Verdict   Verdict   `json:"verdict"`
	Reason    string    `json:"reason,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
}
