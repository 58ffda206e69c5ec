package health

import (
	"strings"
	"time"
)

// Freshness of engine-reported status. NODE_STATUS_POLLING and
// HYPERVISOR_STATUS_POLLING judge what the engine last wrote into the node
// record, and the database stamps the time of each write. A value the engine
// stopped refreshing (it died, lost its status source, or never refreshed the
// column at all) says nothing about the node now, so it is reported unknown,
// never healthy, and never unhealthy either: recovering a node over a stale
// failure is as wrong as ignoring a fresh one.
const (
	// statusAgeRounds is how many round intervals an observation stays
	// fresh: an engine that refreshes at least once a round may miss two
	// refreshes (a failed fetch, a restart) before its nodes turn unknown.
	statusAgeRounds = 3
	// minStatusMaxAge keeps short intervals (dev mode, tests) from turning a
	// value unknown between two refreshes of an engine that refreshes every
	// few seconds, and absorbs clock skew between the database that stamps
	// the writes and the health worker that judges them.
	minStatusMaxAge = 60 * time.Second
)

// DefaultStatusMaxAge is StatusMaxAge of a registration polling every 60 s
// (the smallest interval accepted by default): what a caller uses when it was
// given no maximum age.
const DefaultStatusMaxAge = statusAgeRounds * 60 * time.Second

// StatusMaxAge is how old an engine-reported status (physical or hypervisor)
// may be and still be judged: three round intervals, at least 60 s. Older
// values are reported unknown. This is the one definition of "too stale".
func (r Registration) StatusMaxAge() time.Duration {
	return max(statusAgeRounds*r.RoundInterval(), minStatusMaxAge)
}

// ObservedStatus is what an engine observed of one node of a cluster: the
// status of its backing resource and of its hypervisor. It names the node by
// Name or, when Name is empty, by PhysicalID. It is the whole observation: a
// field left empty is written empty (unknown).
type ObservedStatus struct {
	Name             string `json:"name,omitempty"`
	PhysicalID       string `json:"physical_id,omitempty"`
	PhysicalStatus   string `json:"physical_status,omitempty"`
	HypervisorState  string `json:"hypervisor_state,omitempty"`
	HypervisorStatus string `json:"hypervisor_status,omitempty"`
}

// failedResourceStatuses are the resource statuses, besides any *_FAILED one,
// that NODE_STATUS_POLLING counts as failures. See IsFailedResourceStatus.
var failedResourceStatuses = map[string]bool{
	"ERROR":           true,
	"SHUTOFF":         true,
	"DELETED":         true,
	"NOT_FOUND":       true,
	"PAUSED":          true,
	"SOFT_DELETED":    true,
	"DELETE_COMPLETE": true,
}

// IsFailedResourceStatus reports whether NODE_STATUS_POLLING counts the
// engine-reported status of a node's backing resource as a failure (case and
// surrounding space ignored). This is the one list of failed statuses:
//
//   - Nova servers: ERROR, SHUTOFF, DELETED, NOT_FOUND (Senlin's rule), and
//     PAUSED and SOFT_DELETED. Senlin's polling counted the last two healthy
//     while its lifecycle events recovered them (bug F-9); here they fail
//     under polling as they do under events, where the bridge's Nova event
//     map turns pause.end and soft_delete.end into recoveries.
//   - Heat stacks: DELETE_COMPLETE and any *_FAILED state (Senlin's final
//     version never detected these, bug F-12).
//
// Every other status is healthy, in particular ACTIVE, SUSPENDED, RESCUE,
// REBUILD and BUILD (a server someone is working on is not broken).
func IsFailedResourceStatus(status string) bool {
	s := strings.ToUpper(strings.TrimSpace(status))
	return failedResourceStatuses[s] || strings.HasSuffix(s, "_FAILED")
}

// CheckNodeStatus is NODE_STATUS_POLLING over the engine-reported state of the
// node's backing resource: a failure per IsFailedResourceStatus is unhealthy,
// any other status healthy. A node without a physical resource is unhealthy
// unless it is being created. A status the engine has not reported, or last
// reported longer than maxAge before now, is unknown, not silently healthy.
// A maxAge of zero or less means DefaultStatusMaxAge.
func CheckNodeStatus(n Node, now time.Time, maxAge time.Duration) ModeResult {
	if n.PhysicalID == "" {
		if n.Status == NodeCreating {
			return ModeResult{Verdict: Healthy, Detail: "no physical resource yet, node is being created"}
		}
		return ModeResult{Verdict: Unhealthy, Detail: "node has no physical resource"}
	}
	s := strings.ToUpper(strings.TrimSpace(n.PhysicalStatus))
	if s == "" {
		return ModeResult{Verdict: Unknown, Detail: "engine reports no resource status"}
	}
	what := "resource status " + s
	if stale, detail := staleness(what, n.PhysicalStatusAt, n.UpdatedAt, now, maxAge); stale {
		return ModeResult{Verdict: Unknown, Detail: detail}
	}
	if IsFailedResourceStatus(s) {
		return ModeResult{Verdict: Unhealthy, Detail: what}
	}
	return ModeResult{Verdict: Healthy, Detail: what}
}

// CheckHypervisor is HYPERVISOR_STATUS_POLLING over the engine-reported state
// of the node's hypervisor: state "down", status "disabled" or "not_found"
// are failures. A hypervisor the engine has not reported, or last reported
// longer than maxAge before now, is unknown. A maxAge of zero or less means
// DefaultStatusMaxAge.
func CheckHypervisor(n Node, now time.Time, maxAge time.Duration) ModeResult {
	state := strings.ToLower(strings.TrimSpace(n.HypervisorState))
	status := strings.ToLower(strings.TrimSpace(n.HypervisorStatus))
	if state == "" && status == "" {
		return ModeResult{Verdict: Unknown, Detail: "engine reports no hypervisor"}
	}
	what := "hypervisor " + state + "/" + status
	if stale, detail := staleness(what, n.HypervisorAt, n.UpdatedAt, now, maxAge); stale {
		return ModeResult{Verdict: Unknown, Detail: detail}
	}
	switch {
	case state == "down":
		return ModeResult{Verdict: Unhealthy, Detail: "hypervisor state down"}
	case status == "disabled":
		return ModeResult{Verdict: Unhealthy, Detail: "hypervisor status disabled"}
	case status == "not_found":
		return ModeResult{Verdict: Unhealthy, Detail: "hypervisor not found"}
	}
	return ModeResult{Verdict: Healthy, Detail: what}
}

// staleness reports whether a value observed at is too old to judge at now,
// and says why. An observation time after now (clock skew between the
// database and this process) counts as fresh. An observation made before
// the node's last status change (changed: its UpdatedAt, such as the end of
// a recovery) is of the node before that change: a server evacuated or
// rebooted since must not be judged by what it was before. The database
// stamps both times.
func staleness(what string, at, changed, now time.Time, maxAge time.Duration) (bool, string) {
	if maxAge <= 0 {
		maxAge = DefaultStatusMaxAge
	}
	if at.IsZero() {
		return true, what + " has no observation time: the engine has not refreshed it"
	}
	if at.Before(changed) {
		return true, what + " was observed before the node's last status change, at " +
			changed.UTC().Format(time.RFC3339) + ": the engine has not observed it since"
	}
	if age := now.Sub(at); age > maxAge {
		return true, what + " is " + shortDuration(age) + " old, older than " + shortDuration(maxAge) +
			": the engine has not refreshed it"
	}
	return false, ""
}

// shortDuration prints d to the second without trailing zero units: 12m, 1h5m,
// 90s prints as 1m30s.
func shortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
