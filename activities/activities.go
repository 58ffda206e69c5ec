package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

// Error types of non-retryable application errors. They are wire contracts:
// the workflow matches on them.
const (
	// ErrTypeBadInput: the input cannot be acted on; retrying will not help.
	ErrTypeBadInput = "BadInput"
	// ErrTypeNodeNotFound: the node to recover does not exist in the cluster.
	ErrTypeNodeNotFound = "NodeNotFound"
	// ErrTypeActionNotFound: the action to wait for does not exist.
	ErrTypeActionNotFound = "ActionNotFound"
	// ErrTypeNodeURLUnhealthy: a poll-URL confirmation attempt failed again.
	// It is retryable on purpose: the RetryPolicy is Senlin's URL retry.
	ErrTypeNodeURLUnhealthy = "NodeURLUnhealthy"
	// ErrTypeSweepTooLarge: the cluster's sweep result is too large for a
	// Temporal payload; the cluster must be split.
	ErrTypeSweepTooLarge = "SweepTooLarge"
)

// Activities are the ClusterHealth activities.
type Activities struct {
	Store   Store
	Watcher ActionWatcher
	Prober  URLProber
	Clock   Clock
	// SweepConcurrency bounds the poll-URL requests of one sweep.
	SweepConcurrency int
	// Sweeps, when set, bounds the sweeps that probe at the same time in
	// this worker; the others wait their turn, first come first served,
	// heartbeating. nil: no bound. Rounds that fall due together would
	// otherwise all probe at once and share the probes fairly, so that every
	// one of them finished late; one after another, most finish at once.
	Sweeps *semaphore.Weighted
	// PollInterval is the fallback poll of WaitForAction when no notification
	// arrives (Senlin polls every 2 s).
	PollInterval time.Duration
	// MaxResultBytes bounds the encoded result of CheckCluster; zero means
	// DefaultMaxResultBytes.
	MaxResultBytes int

	// insecure holds the clusters whose poll URLs are checked without TLS
	// verification, warned about once each.
	insecure sync.Map
}

// DefaultMaxResultBytes keeps a sweep result below the 2 MB that a Temporal
// server accepts for one payload by default (limit.blobSize.error), with room
// to spare. A node costs about 250 bytes, so a round carries clusters of up to
// about 6,000 nodes.
const DefaultMaxResultBytes = 1_500_000

func (a *Activities) now() time.Time {
	if a.Clock != nil {
		return a.Clock.Now()
	}
	return time.Now()
}

// CheckClusterInput is the input of CheckCluster.
type CheckClusterInput struct {
	ClusterID   string                 `json:"cluster_id"`
	Modes       []health.DetectionMode `json:"modes"`
	Conditional health.Conditional     `json:"conditional"`
	// StatusMaxAge is how old an engine-reported physical or hypervisor
	// status may be and still be judged (the registration's StatusMaxAge);
	// older ones are unknown. Zero means health.DefaultStatusMaxAge.
	StatusMaxAge time.Duration `json:"status_max_age,omitempty"`
	// Exceptions asks for a result that names only the nodes that are not
	// plainly healthy, changed verdict, or are in Watch, with a summary of
	// the rest; every node's check goes to the store. Without it (runs
	// recorded before) the result names every node.
	Exceptions bool `json:"exceptions,omitempty"`
	// Grace is the registration's grace period, for the verdicts the sweep
	// reaches itself.
	Grace time.Duration `json:"grace,omitempty"`
	// Watch lists the nodes the workflow remembers: each is in the result
	// whatever its verdict, or in Gone.
	Watch []string `json:"watch,omitempty"`
}

// NodeCheck is the sweep result of one node.
type NodeCheck struct {
	ID         string              `json:"id"`
	Name       string              `json:"name"`
	Status     health.NodeStatus   `json:"status"`
	PhysicalID string              `json:"physical_id,omitempty"`
	LastUpdate time.Time           `json:"last_update"`
	Results    []health.ModeResult `json:"results,omitempty"`
	// Verdict and Reason are the node's final verdict (triage.Judge) when
	// the sweep judged it, which it does for every node of a sweep with
	// Exceptions but those whose poll URL is still to be confirmed; InGrace
	// says its checks failed within its grace period. The workflow judges
	// only the nodes the sweep did not.
	Verdict health.Verdict `json:"verdict,omitempty"`
	Reason  string         `json:"reason,omitempty"`
	InGrace bool           `json:"in_grace,omitempty"`
}

// CheckClusterResult is the result of CheckCluster.
type CheckClusterResult struct {
	// ClusterMissing is set when the cluster record does not exist.
	ClusterMissing bool           `json:"cluster_missing,omitempty"`
	Cluster        health.Cluster `json:"cluster"`
	Nodes          []NodeCheck    `json:"nodes"`
	CheckedAt      time.Time      `json:"checked_at"`
	// Took is how long the sweep took, by the activities' clock: the
	// workflow runs the next sweep as a local activity when it is short.
	Took time.Duration `json:"took,omitempty"`
	// Summary counts the sweep's verdicts of every node when the input asked
	// for Exceptions; Nodes then holds only the exceptions.
	Summary *health.SweepSummary `json:"summary,omitempty"`
	// Gone lists the watched nodes that are no longer members.
	Gone []string `json:"gone,omitempty"`
}

// CheckCluster lists the cluster's nodes and runs the polling modes over the
// ACTIVE ones in policy order, with Senlin's short-circuit (health.Evaluate),
// poll-URL requests in parallel (bounded), heartbeating every
// SweepHeartbeatInterval. An unhealthy node is a result, not an error; an
// error means the sweep itself could not run.
func (a *Activities) CheckCluster(ctx context.Context, in CheckClusterInput) (CheckClusterResult, error) {
	if in.ClusterID == "" {
		return CheckClusterResult{}, temporal.NewNonRetryableApplicationError("cluster_id is empty", ErrTypeBadInput, nil)
	}
	begin := a.now()
	var checked atomic.Int64 // nodes looked at: the heartbeats' progress
	stop := heartbeat(ctx, SweepHeartbeatInterval, func() any { return checked.Load() })
	defer stop()
	if a.Sweeps != nil {
		if err := a.Sweeps.Acquire(ctx, 1); err != nil {
			return CheckClusterResult{}, fmt.Errorf("check cluster: waiting for a sweep slot: %w", err)
		}
		defer a.Sweeps.Release(1)
	}
	cl, err := a.Store.GetCluster(ctx, in.ClusterID)
	if errors.Is(err, health.ErrNotFound) {
		return CheckClusterResult{ClusterMissing: true, CheckedAt: a.now()}, nil
	}
	if err != nil {
		return CheckClusterResult{}, fmt.Errorf("check cluster: %w", err)
	}
	nodes, err := a.Store.ListNodes(ctx, in.ClusterID)
	if err != nil {
		return CheckClusterResult{}, fmt.Errorf("check cluster: %w", err)
	}
	a.warnInsecure(ctx, in)
	var prev map[string]health.CheckRecord
	if in.Exceptions {
		if prev, err = a.Store.NodeExceptions(ctx, in.ClusterID); err != nil {
			return CheckClusterResult{}, fmt.Errorf("check cluster: %w", err)
		}
	}
	res := CheckClusterResult{Cluster: cl, Nodes: make([]NodeCheck, len(nodes))}
	// The poll URL template is read once for the sweep, not once a node.
	var tmpl health.PollTemplate
	for _, m := range in.Modes {
		if m.Type == health.NodeStatusPollURL {
			tmpl = m.Template()
		}
	}
	var g errgroup.Group
	g.SetLimit(max(1, a.SweepConcurrency))
	for i, n := range nodes {
		if ctx.Err() != nil {
			break // the result is discarded below: start no more probes
		}
		res.Nodes[i] = NodeCheck{ID: n.ID, Name: n.Name, Status: n.Status, PhysicalID: n.PhysicalID, LastUpdate: n.LastUpdate()}
		if n.Status != health.NodeActive {
			checked.Add(1)
			continue // skipped: only ACTIVE nodes are judged
		}
		// Go waits while SweepConcurrency probes run; the node's verdict is a
		// result, never the group's error.
		g.Go(func() error {
			defer checked.Add(1)
			res.Nodes[i].Results = triage.Evaluate(in.Conditional, in.Modes, func(m health.DetectionMode) health.ModeResult {
				return a.runMode(ctx, m, tmpl, n, in.StatusMaxAge)
			})
			return nil
		})
	}
	_ = g.Wait() // every function returns nil
	res.CheckedAt = a.now()
	res.Took = res.CheckedAt.Sub(begin)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if in.Exceptions {
		if err := a.keepExceptions(ctx, in, &res, prev); err != nil {
			return CheckClusterResult{}, fmt.Errorf("check cluster: %w", err)
		}
	}
	// Temporal would refuse a result above its payload limit and the round
	// would fail with a generic error after retries: say what is wrong once.
	limit := a.MaxResultBytes
	if limit <= 0 {
		limit = DefaultMaxResultBytes
	}
	if b, err := json.Marshal(res); err == nil && len(b) > limit {
		return CheckClusterResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"the sweep result of cluster %s is %d bytes for %d nodes, above the %d bytes a round can carry "+
				"(Temporal refuses payloads above 2 MB by default); split the cluster", in.ClusterID, len(b), len(res.Nodes), limit),
			ErrTypeSweepTooLarge, nil)
	}
	return res, nil
}

// warnInsecure says once per cluster (in this process) that its poll URLs are
// checked without TLS verification: on by default, off only on purpose.
func (a *Activities) warnInsecure(ctx context.Context, in CheckClusterInput) {
	for _, m := range in.Modes {
		if m.Type != health.NodeStatusPollURL || m.PollURLSSLVerify {
			continue
		}
		if _, warned := a.insecure.LoadOrStore(in.ClusterID, true); !warned {
			activity.GetLogger(ctx).Warn("poll URL TLS verification is off for this cluster (poll_url_ssl_verify: false): "+
				"its nodes' certificates are not checked", "cluster_id", in.ClusterID)
		}
		return
	}
}

// keepExceptions reduces a sweep's result to the nodes the workflow must see
// (not plainly healthy, changed since the last sweep, or watched) and a
// summary, and stores every node's check: the records of the exceptions
// replace the cluster's previous ones in one write.
func (a *Activities) keepExceptions(ctx context.Context, in CheckClusterInput, res *CheckClusterResult, prev map[string]health.CheckRecord) error {
	now := res.CheckedAt
	watch := make(map[string]bool, len(in.Watch))
	for _, id := range in.Watch {
		watch[id] = true
	}
	sum := health.SweepSummary{At: now}
	var recs []health.CheckRecord
	exceptions := res.Nodes[:0:0]
	for _, n := range res.Nodes {
		j := triage.JudgeNode(in.Conditional, in.Grace, n.Status, n.Results, n.LastUpdate, now)
		sum.Count(j.Verdict)
		old, had := prev[n.ID]
		if j.Shown() {
			rec := health.CheckRecord{NodeID: n.ID, Verdict: j.Verdict, Reason: j.Reason, Since: now, CheckedAt: now}
			if had && old.Verdict == j.Verdict {
				rec.Since = old.Since
			}
			recs = append(recs, rec)
		}
		if j.Shown() || had || watch[n.ID] {
			if !j.Suspect {
				n.Verdict, n.Reason, n.InGrace = j.Verdict, j.Reason, j.InGrace
			}
			exceptions = append(exceptions, n)
		}
		delete(watch, n.ID)
	}
	for _, id := range in.Watch {
		if watch[id] {
			res.Gone = append(res.Gone, id)
		}
	}
	res.Nodes, res.Summary = exceptions, &sum
	return a.Store.RecordSweep(ctx, in.ClusterID, sum, recs)
}

// SweepHeartbeatInterval is how often CheckCluster records a heartbeat,
// whatever its probes are doing: the sweep's HeartbeatTimeout is a few times
// this.
const SweepHeartbeatInterval = 5 * time.Second

// heartbeat records a heartbeat with progress() now and then every interval
// until stop is called or ctx ends, from a goroutine of its own, so that an
// activity heartbeats while it waits on slow calls as well as between them.
// stop returns once no heartbeat is being recorded.
func heartbeat(ctx context.Context, every time.Duration, progress func() any) (stop func()) {
	activity.RecordHeartbeat(ctx, progress())
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, progress())
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// runMode runs one detection mode on a node; tmpl is the mode's poll URL
// template, read once for the sweep.
func (a *Activities) runMode(ctx context.Context, m health.DetectionMode, tmpl health.PollTemplate, n health.Node, maxAge time.Duration) health.ModeResult {
	switch m.Type {
	case health.NodeStatusPolling:
		return health.CheckNodeStatus(n, a.now(), maxAge)
	case health.HypervisorStatusPolling:
		return health.CheckHypervisor(n, a.now(), maxAge)
	case health.NodeStatusPollURL:
		u, err := tmpl.For(n.Name)
		if err != nil {
			// The node's name would send the probe elsewhere: nothing is
			// learnt of the node, so the check is unknown, never unhealthy.
			return health.ModeResult{Verdict: health.Unknown, Detail: err.Error()}
		}
		p := a.Prober.Probe(ctx, n.ClusterID, u, m)
		switch {
		case p.ConfigError:
			return health.ModeResult{Verdict: health.Unknown, Detail: p.Detail}
		case p.Healthy:
			return health.ModeResult{Verdict: health.Healthy, Detail: p.Detail}
		case m.Attempts() > 1:
			return health.ModeResult{Verdict: health.Unhealthy, Suspect: true, Detail: p.Detail}
		}
		return health.ModeResult{Verdict: health.Unhealthy, Detail: p.Detail}
	}
	return health.ModeResult{Verdict: health.Unknown, Detail: "detection type " + string(m.Type) + " is not polled"}
}

// ConfirmNodeURLInput is the input of ConfirmNodeURL.
type ConfirmNodeURLInput struct {
	ClusterID string               `json:"cluster_id"`
	NodeID    string               `json:"node_id"`
	NodeName  string               `json:"node_name"`
	Mode      health.DetectionMode `json:"mode"`
}

// ConfirmNodeURLResult is the result of ConfirmNodeURL.
type ConfirmNodeURLResult struct {
	Detail string `json:"detail"`
}

// ConfirmNodeURL makes one more poll-URL attempt for a node that failed the
// sweep. A failed attempt is returned as a retryable NodeURLUnhealthy error so
// the activity's RetryPolicy (Senlin's retry limit and interval) drives the
// remaining attempts and each one shows in the Temporal UI.
func (a *Activities) ConfirmNodeURL(ctx context.Context, in ConfirmNodeURLInput) (ConfirmNodeURLResult, error) {
	u, err := in.Mode.URLFor(in.NodeName)
	if err != nil {
		return ConfirmNodeURLResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadInput, err)
	}
	p := a.Prober.Probe(ctx, in.ClusterID, u, in.Mode)
	if p.Healthy {
		return ConfirmNodeURLResult{Detail: p.Detail}, nil
	}
	// Benign: an unhealthy node is expected, not an alert about the worker.
	return ConfirmNodeURLResult{}, temporal.NewApplicationErrorWithOptions(p.Detail, ErrTypeNodeURLUnhealthy,
		temporal.ApplicationErrorOptions{Category: temporal.ApplicationErrorCategoryBenign})
}

// RecoverNodeInput is the input of RecoverNode.
type RecoverNodeInput struct {
	ClusterID string `json:"cluster_id"`
	NodeID    string `json:"node_id"`
	// Key is the idempotency key: cluster, registration epoch, node and
	// incident sequence number.
	Key    string               `json:"key"`
	Params health.RecoverParams `json:"params"`
	// ExpectPhysicalID, when set, makes the request a no-op if the node's
	// physical resource changed since the event that asked for it (an event
	// about a resource the engine already replaced).
	ExpectPhysicalID string `json:"expect_physical_id,omitempty"`
}

// RecoverNodeResult is the result of RecoverNode.
type RecoverNodeResult struct {
	ActionID string `json:"action_id,omitempty"`
	Created  bool   `json:"created"`
	// Skipped explains why no action was requested, when none was.
	Skipped string `json:"skipped,omitempty"`
	// Joined is set when the node already had an active recovery requested
	// under another key (an earlier incident whose action still runs): the
	// result names that action instead of a new one.
	Joined bool `json:"joined,omitempty"`
	// Nodes is the cluster's node count when the request was made.
	Nodes int `json:"nodes,omitempty"`
}

// RecoverNode asks the engine to recover a node by inserting a NODE_RECOVER
// action; the idempotency key makes a retried or replayed request return the
// same action instead of creating another.
func (a *Activities) RecoverNode(ctx context.Context, in RecoverNodeInput) (RecoverNodeResult, error) {
	if in.Key == "" || in.NodeID == "" || in.ClusterID == "" {
		return RecoverNodeResult{}, temporal.NewNonRetryableApplicationError("cluster_id, node_id and key are required", ErrTypeBadInput, nil)
	}
	nodes, err := a.Store.ListNodes(ctx, in.ClusterID)
	if err != nil {
		return RecoverNodeResult{}, fmt.Errorf("recover node: %w", err)
	}
	var node *health.Node
	for i := range nodes {
		if nodes[i].ID == in.NodeID {
			node = &nodes[i]
		}
	}
	if node == nil {
		return RecoverNodeResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("node %s is not a member of cluster %s", in.NodeID, in.ClusterID), ErrTypeNodeNotFound, nil)
	}
	if why, stale := triage.StaleEvent(in.ExpectPhysicalID, node.PhysicalID); stale {
		return RecoverNodeResult{Skipped: why}, nil
	}
	act, created, err := a.Store.CreateRecoverAction(ctx, in.Key, in.ClusterID, in.NodeID, in.Params)
	if err != nil {
		return RecoverNodeResult{}, fmt.Errorf("recover node: %w", err)
	}
	return RecoverNodeResult{ActionID: act.ID, Created: created, Joined: act.IdempotencyKey != in.Key, Nodes: len(nodes)}, nil
}

// WaitForActionInput is the input of WaitForAction.
type WaitForActionInput struct {
	ActionID string `json:"action_id"`
	// Deadline bounds the wait (the registration's wait bound after the
	// request); it is absolute so that a retried attempt keeps the original
	// bound.
	Deadline time.Time `json:"deadline"`
}

// WaitForActionResult is the result of WaitForAction.
type WaitForActionResult struct {
	Status   health.ActionStatus `json:"status"`
	Reason   string              `json:"reason,omitempty"`
	TimedOut bool                `json:"timed_out,omitempty"`
	// FinishedAt is when the action ended (its last update), when it did.
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// activityDeadlineMargin is how long before its own Temporal deadline a wait
// returns what it knows, so that the answer is not lost to the timeout.
const activityDeadlineMargin = 5 * time.Second

// WaitForAction waits until the action is SUCCEEDED, FAILED or CANCELLED, or
// the deadline passes (then the action is left running). A RUNNING action
// whose executor still holds a live lease is not timed out at the deadline:
// the wait goes on while the lease lasts (as far as the activity's own
// timeout allows), so that a wait is never shorter than the engine's lease
// can need. It wakes on the engine's notifications and polls as a fallback,
// heartbeating meanwhile.
func (a *Activities) WaitForAction(ctx context.Context, in WaitForActionInput) (WaitForActionResult, error) {
	if in.ActionID == "" {
		return WaitForActionResult{}, temporal.NewNonRetryableApplicationError("action_id is empty", ErrTypeBadInput, nil)
	}
	var wake <-chan struct{}
	if a.Watcher != nil {
		ch, stop := a.Watcher.Watch(in.ActionID)
		defer stop()
		wake = ch
	}
	poll := a.PollInterval
	if poll <= 0 {
		poll = 2 * time.Second
	}
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	var own time.Time // the activity's own deadline, when it runs under Temporal
	if activity.IsActivity(ctx) {
		own = activity.GetInfo(ctx).Deadline
	}
	for {
		act, err := a.Store.GetAction(ctx, in.ActionID)
		if errors.Is(err, health.ErrNotFound) {
			return WaitForActionResult{}, temporal.NewNonRetryableApplicationError("action "+in.ActionID+" does not exist", ErrTypeActionNotFound, err)
		}
		if err != nil {
			return WaitForActionResult{}, fmt.Errorf("wait for action: %w", err)
		}
		if act.Status.Terminal() {
			return WaitForActionResult{Status: act.Status, Reason: act.Reason, FinishedAt: act.UpdatedAt}, nil
		}
		now := a.now()
		until := in.Deadline
		if act.Status == health.ActionRunning && act.LeaseUntil.After(until) {
			until = act.LeaseUntil // the executor is alive and may still finish
		}
		if !own.IsZero() && own.Add(-activityDeadlineMargin).Before(until) {
			until = own.Add(-activityDeadlineMargin)
		}
		left := until.Sub(now)
		if left <= 0 {
			return WaitForActionResult{Status: act.Status, Reason: act.Reason, TimedOut: true}, nil
		}
		activity.RecordHeartbeat(ctx, act.Status)
		deadline := time.NewTimer(left)
		select {
		case <-ctx.Done():
			deadline.Stop()
			return WaitForActionResult{}, ctx.Err()
		case <-wake:
		case <-ticker.C:
		case <-deadline.C:
		}
		deadline.Stop()
	}
}

// RecordHealthEvents appends verdict changes to the durable incident timeline.
func (a *Activities) RecordHealthEvents(ctx context.Context, events []health.HealthEvent) error {
	if len(events) == 0 {
		return nil
	}
	if err := a.Store.AddHealthEvents(ctx, events); err != nil {
		return fmt.Errorf("record health events: %w", err)
	}
	return nil
}

// MaxMemberQuery bounds the node IDs of one MemberNodes call.
const MaxMemberQuery = 4096

// MemberNodesInput asks which of the node IDs are nodes of the cluster.
type MemberNodesInput struct {
	ClusterID string   `json:"cluster_id"`
	NodeIDs   []string `json:"node_ids"`
}

// MemberNodesResult is the result of MemberNodes.
type MemberNodesResult struct {
	// Members are those of the IDs asked about that are nodes of the
	// cluster.
	Members []string `json:"members,omitempty"`
}

// MemberNodes says which of the node IDs that recover requests (or the
// workflow's memory) name are nodes of the cluster in the engine contract:
// a request for any other is dropped before the decision core counts it
// (the workflow runs it as a local activity, one statement).
func (a *Activities) MemberNodes(ctx context.Context, in MemberNodesInput) (MemberNodesResult, error) {
	if in.ClusterID == "" || len(in.NodeIDs) > MaxMemberQuery {
		return MemberNodesResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("cluster_id empty or more than %d node IDs", MaxMemberQuery), ErrTypeBadInput, nil)
	}
	members, err := a.Store.MemberNodes(ctx, in.ClusterID, in.NodeIDs)
	if err != nil {
		return MemberNodesResult{}, fmt.Errorf("member nodes: %w", err)
	}
	return MemberNodesResult{Members: members}, nil
}

// DescribeCluster returns the cluster record; a missing cluster is an empty
// result with Missing set, not an error.
func (a *Activities) DescribeCluster(ctx context.Context, clusterID string) (DescribeClusterResult, error) {
	cl, err := a.Store.GetCluster(ctx, clusterID)
	if errors.Is(err, health.ErrNotFound) {
		return DescribeClusterResult{Missing: true}, nil
	}
	if err != nil {
		return DescribeClusterResult{}, fmt.Errorf("describe cluster: %w", err)
	}
	nodes, err := a.Store.ListNodes(ctx, clusterID)
	if err != nil {
		return DescribeClusterResult{}, fmt.Errorf("describe cluster: %w", err)
	}
	return DescribeClusterResult{Cluster: cl, Nodes: len(nodes)}, nil
}

// DescribeClusterResult is the result of DescribeCluster.
type DescribeClusterResult struct {
	Cluster health.Cluster `json:"cluster"`
	Missing bool           `json:"missing,omitempty"`
	// Nodes is the cluster's node count: what max_unhealthy is measured
	// against before a round has counted them.
	Nodes int `json:"nodes,omitempty"`
}
