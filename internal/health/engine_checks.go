package health

import "strings"

// CheckNodeStatus is NODE_STATUS_POLLING over the engine-reported state of the
// node's backing resource. For Nova servers ERROR, SHUTOFF and DELETED are
// failures (Senlin's rule); for Heat stacks any *_FAILED state or
// DELETE_COMPLETE is a failure (Senlin's final version never detected these,
// bug F-12). A node without a physical resource is unhealthy unless it is
// being created. A node whose resource state the engine has not reported is
// unknown, not silently healthy.
func CheckNodeStatus(n Node) ModeResult {
	if n.PhysicalID == "" {
		if n.Status == NodeCreating {
			return ModeResult{Verdict: Healthy, Detail: "no physical resource yet, node is being created"}
		}
		return ModeResult{Verdict: Unhealthy, Detail: "node has no physical resource"}
	}
	s := strings.ToUpper(strings.TrimSpace(n.PhysicalStatus))
	switch {
	case s == "":
		return ModeResult{Verdict: Unknown, Detail: "engine reports no resource status"}
	case s == "ERROR", s == "SHUTOFF", s == "DELETED", s == "NOT_FOUND",
		s == "DELETE_COMPLETE", strings.HasSuffix(s, "_FAILED"):
		return ModeResult{Verdict: Unhealthy, Detail: "resource status " + s}
	}
	return ModeResult{Verdict: Healthy, Detail: "resource status " + s}
}

// CheckHypervisor is HYPERVISOR_STATUS_POLLING over the engine-reported state
// of the node's hypervisor: state "down" or status "disabled" are failures.
func CheckHypervisor(n Node) ModeResult {
	state := strings.ToLower(strings.TrimSpace(n.HypervisorState))
	status := strings.ToLower(strings.TrimSpace(n.HypervisorStatus))
	switch {
	case state == "down":
		return ModeResult{Verdict: Unhealthy, Detail: "hypervisor state down"}
	case status == "disabled":
		return ModeResult{Verdict: Unhealthy, Detail: "hypervisor status disabled"}
	case status == "not_found":
		return ModeResult{Verdict: Unhealthy, Detail: "hypervisor not found"}
	case state == "" && status == "":
		return ModeResult{Verdict: Unknown, Detail: "engine reports no hypervisor"}
	}
	return ModeResult{Verdict: Healthy, Detail: "hypervisor " + state + "/" + status}
}
