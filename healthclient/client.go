// Package healthclient is the Go client of the cluster health manager: engines
// and the starter CLI register clusters with it, signal their ClusterHealth
// workflows and read their status, without knowing the workflow's wire
// contract.
//
//	pol, err := healthclient.ParsePolicy(spec, healthclient.DefaultLimits)
//	c, err := client.DialContext(ctx, client.Options{HostPort: addr})
//	hc := healthclient.New(c)
//	runID, err := hc.Register(ctx, pol.Registration(clusterID), healthclient.RegisterOptions{})
//
// The package names every type its methods take and return, here or in
// package workflows, so its callers need no internal package of this module:
// see [ParsePolicy], [Registration] and the example of [Client.Register].
//
// Every method that targets one registered cluster (all but Register) returns
// an error wrapping [ErrNotRegistered] when the cluster has no running
// workflow. Every method refuses, before it sends anything and with an error
// wrapping [ErrInvalid] that names the field, a cluster ID outside
// health.ClusterIDRule and a signal or update with a field missing, too long
// or out of range.
package healthclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/workflows"
)

// ErrNotRegistered is wrapped by the errors of operations on a cluster that
// has no running ClusterHealth workflow: it was never registered, or it was
// unregistered.
var ErrNotRegistered = errors.New("cluster is not registered")

// Client registers clusters and signals and queries their ClusterHealth
// workflows through a Temporal client. It is safe for concurrent use.
type Client struct {
	c client.Client
}

// New returns a Client using c, which the caller keeps and closes.
func New(c client.Client) *Client {
	return &Client{c: c}
}

// RegisterOptions tune Register.
type RegisterOptions struct {
	// Disabled starts the workflow with checks off; an Enable starts them. It
	// applies only when Register starts the workflow: a running workflow keeps
	// its enabled state.
	Disabled bool
	// TaskQueue is the task queue the health workers poll; empty means
	// workflows.TaskQueue.
	TaskQueue string
}

// Register starts watching a cluster, or hands a running workflow the new
// registration. It is idempotent: one call starts the cluster's workflow with
// the registration as input and an update signal, any later call only
// signals the running workflow, so registering twice never runs two
// workflows. A cluster unregistered earlier gets a new run. It returns the ID
// of the run that received the registration.
//
// The registration is checked with the policy rules that need no configured
// limits (Registration.Validate with zero limits, the cluster ID's rule
// included); checking the interval minimum is the caller's business, as
// ParsePolicy does. A refused registration wraps ErrInvalid.
func (c *Client) Register(ctx context.Context, reg Registration, opts RegisterOptions) (string, error) {
	if err := checkClusterID(reg.ClusterID); err != nil {
		return "", fmt.Errorf("register cluster: %w", err)
	}
	if err := checkRegistration(reg); err != nil {
		return "", fmt.Errorf("register cluster %s: %w", reg.ClusterID, err)
	}
	queue := opts.TaskQueue
	if queue == "" {
		queue = workflows.TaskQueue
	}
	id := workflows.WorkflowID(reg.ClusterID)
	run, err := c.c.SignalWithStartWorkflow(ctx, id, workflows.SignalUpdate, workflows.UpdateSignal{Registration: reg},
		client.StartWorkflowOptions{
			ID:        id,
			TaskQueue: queue,
			// A finished run (unregistered, or ended because the cluster vanished)
			// does not block a new registration; a running one is signalled.
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			TypedSearchAttributes:    initialSearchAttributes(reg, opts.Disabled),
			StaticSummary:            "health of cluster " + reg.ClusterID + ": " + reg.Summary(),
		},
		workflows.WorkflowName, workflows.Input{Registration: reg, Disabled: opts.Disabled})
	if err != nil {
		return "", fmt.Errorf("register cluster %s: %w", reg.ClusterID, err)
	}
	return run.GetRunID(), nil
}

// initialSearchAttributes are the search attributes of a new run until its
// first workflow task publishes its own: a fleet listing sees the cluster at
// once.
func initialSearchAttributes(reg health.Registration, disabled bool) temporal.SearchAttributes {
	state := workflows.StateUnknown // no round has run yet
	switch {
	case disabled:
		state = workflows.StateDisabled
	case !reg.Polling():
		state = workflows.StateEvents
	}
	return temporal.NewSearchAttributes(
		workflows.SAClusterID.ValueSet(reg.ClusterID),
		workflows.SAHealthEnabled.ValueSet(!disabled),
		workflows.SAHealthState.ValueSet(state),
		workflows.SAUnhealthyNodes.ValueSet(0),
	)
}

// Update replaces the registration of a registered cluster; the workflow keeps
// its state (enabled or not, verdicts, recoveries in flight).
func (c *Client) Update(ctx context.Context, reg Registration) error {
	return c.signal(ctx, "update", reg.ClusterID, workflows.SignalUpdate, workflows.UpdateSignal{Registration: reg}, checkRegistration(reg))
}

// Unregister ends the cluster's workflow cleanly: checks stop, recoveries
// already requested are left to the engine.
func (c *Client) Unregister(ctx context.Context, clusterID string, s workflows.UnregisterSignal) error {
	return c.signal(ctx, "unregister", clusterID, workflows.SignalUnregister, s, checkUnregister(s))
}

// Enable turns the cluster's checks on; the first round runs at once.
func (c *Client) Enable(ctx context.Context, clusterID string, s workflows.EnableSignal) error {
	return c.signal(ctx, "enable", clusterID, workflows.SignalEnable, s, checkEnable(s))
}

// Disable turns the cluster's checks off, for s.ForSeconds when positive
// (at most health.MaxPauseSeconds, a year).
func (c *Client) Disable(ctx context.Context, clusterID string, s workflows.DisableSignal) error {
	return c.signal(ctx, "disable", clusterID, workflows.SignalDisable, s, checkDisable(s))
}

// Recover asks the cluster's workflow to recover one node. The workflow
// ignores the request while checks are disabled, for a node already
// recovering, for a message ID it has already seen, for a notification of
// another project, and for a nova or heat notification to a cluster whose
// policy has no LIFECYCLE_EVENTS; its decision core may also hold it back
// (max_unhealthy, a cap, the budget, maintenance; see Status.Decisions).
// A signal that fails RecoverSignal.Validate is refused with ErrInvalid.
func (c *Client) Recover(ctx context.Context, clusterID string, s RecoverSignal) error {
	return c.signal(ctx, "recover node of", clusterID, workflows.SignalRecover, s, checkRecover(s))
}

// NodeBack tells the cluster's workflow that a node is back: its server is
// active again, or, from an engine, the node itself works (not only the
// recovery action ended). For a cluster without polling rounds it ends the
// node's failure, so that it no longer counts toward max_unhealthy; rounds
// judge the others. The signal is checked as Recover's is.
func (c *Client) NodeBack(ctx context.Context, clusterID string, s RecoverSignal) error {
	return c.signal(ctx, "node back in", clusterID, workflows.SignalNodeBack, s, checkRecover(s))
}

// signal sends one signal to the cluster's running workflow, unless the
// cluster ID or the signal's own check (checkErr) refuses it.
func (c *Client) signal(ctx context.Context, op, clusterID, name string, arg any, checkErr error) error {
	if err := checkClusterID(clusterID); err != nil {
		return fmt.Errorf("%s cluster: %w", op, err)
	}
	if checkErr != nil {
		return fmt.Errorf("%s cluster %s: %w", op, clusterID, checkErr)
	}
	err := c.c.SignalWorkflow(ctx, workflows.WorkflowID(clusterID), "", name, arg)
	if err != nil {
		return fmt.Errorf("%s cluster %s: %w", op, clusterID, notRegistered(err))
	}
	return nil
}

// Status asks the cluster's running workflow for its status. A workflow that
// is not running (unregistered) answers with ErrNotRegistered.
func (c *Client) Status(ctx context.Context, clusterID string) (workflows.Status, error) {
	if err := checkClusterID(clusterID); err != nil {
		return workflows.Status{}, fmt.Errorf("status of cluster: %w", err)
	}
	resp, err := c.c.QueryWorkflowWithOptions(ctx, &client.QueryWorkflowWithOptionsRequest{
		WorkflowID:           workflows.WorkflowID(clusterID),
		QueryType:            workflows.QueryStatus,
		QueryRejectCondition: enumspb.QUERY_REJECT_CONDITION_NOT_OPEN,
	})
	if err != nil {
		return workflows.Status{}, fmt.Errorf("status of cluster %s: %w", clusterID, notRegistered(err))
	}
	if resp.QueryRejected != nil {
		return workflows.Status{}, fmt.Errorf("status of cluster %s: %w (its workflow is %s)", clusterID, ErrNotRegistered,
			strings.ToLower(strings.TrimPrefix(resp.QueryRejected.GetStatus().String(), "WorkflowExecutionStatus")))
	}
	var st workflows.Status
	if err := resp.QueryResult.Get(&st); err != nil {
		return workflows.Status{}, fmt.Errorf("status of cluster %s: decode: %w", clusterID, err)
	}
	return st, nil
}

// notRegistered turns the server's NotFound into ErrNotRegistered, keeping the
// server's message.
func notRegistered(err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%w (%s)", ErrNotRegistered, nf.Message)
	}
	return err
}

// ListFilter narrows List; the zero value lists every registered cluster.
type ListFilter struct {
	// State keeps the clusters in this health state (workflows.StateHealthy, ...).
	State string
	// Enabled, when set, keeps the clusters whose checks are on (true) or off.
	Enabled *bool
}

// ListEntry is one registered cluster, as the visibility store sees it.
type ListEntry struct {
	ClusterID      string    `json:"cluster_id"`
	RunID          string    `json:"run_id"`
	State          string    `json:"state"`
	Enabled        bool      `json:"enabled"`
	UnhealthyNodes int64     `json:"unhealthy_nodes"`
	StartTime      time.Time `json:"start_time"`
}

// listPageSize is the page size of the visibility queries of List.
const listPageSize = 500

// List returns the registered clusters (the running ClusterHealth workflows)
// matching f, ordered as the visibility store returns them. Visibility is
// eventually consistent: a cluster registered a moment ago may be missing.
func (c *Client) List(ctx context.Context, f ListFilter) ([]ListEntry, error) {
	q := ListQuery(f)
	var out []ListEntry
	var token []byte
	for {
		resp, err := c.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: q, PageSize: listPageSize, NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list clusters (%s): %w", q, err)
		}
		for _, e := range resp.GetExecutions() {
			entry, err := listEntry(e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), e.GetSearchAttributes().GetIndexedFields())
			if err != nil {
				return nil, fmt.Errorf("list clusters: %w", err)
			}
			entry.StartTime = e.GetStartTime().AsTime()
			out = append(out, entry)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return out, nil
		}
	}
}

// ListQuery is the visibility query List runs for f.
func ListQuery(f ListFilter) string {
	q := fmt.Sprintf("WorkflowType = %s AND ExecutionStatus = 'Running'", quote(workflows.WorkflowName))
	if f.State != "" {
		q += fmt.Sprintf(" AND %s = %s", workflows.SAHealthState.GetName(), quote(f.State))
	}
	if f.Enabled != nil {
		q += fmt.Sprintf(" AND %s = %t", workflows.SAHealthEnabled.GetName(), *f.Enabled)
	}
	return q
}

// quote makes s a string literal of the visibility query language.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// listEntry decodes one execution's search attributes. The cluster ID falls
// back to the one in the workflow ID.
func listEntry(workflowID, runID string, fields map[string]*commonpb.Payload) (ListEntry, error) {
	e := ListEntry{RunID: runID}
	dc := converter.GetDefaultDataConverter()
	decode := func(name string, v any) error {
		p, ok := fields[name]
		if !ok {
			return nil
		}
		if err := dc.FromPayload(p, v); err != nil {
			return fmt.Errorf("workflow %s: search attribute %s: %w", workflowID, name, err)
		}
		return nil
	}
	if err := errors.Join(
		decode(workflows.SAClusterID.GetName(), &e.ClusterID),
		decode(workflows.SAHealthState.GetName(), &e.State),
		decode(workflows.SAHealthEnabled.GetName(), &e.Enabled),
		decode(workflows.SAUnhealthyNodes.GetName(), &e.UnhealthyNodes),
	); err != nil {
		return ListEntry{}, err
	}
	if e.ClusterID == "" {
		e.ClusterID, _ = workflows.ClusterIDFromWorkflowID(workflowID)
	}
	return e, nil
}
