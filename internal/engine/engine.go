// Package engine is the reference engine executor: it claims READY recover
// actions from the Postgres engine contract, calls the cluster's recovery
// driver (an HTTP webhook), updates the node and finishes the action.
//
// A claim is a lease that the executor renews while it works. When an executor
// dies (crash, kill -9) its lease runs out and another executor reclaims the
// action and calls the webhook again, so no action stays RUNNING forever. A
// webhook may therefore be called more than once for one action; every call
// carries the action's id (action_id, and the ActionIDHeader) so that
// receivers can deduplicate. With a WebhookSecret every call is signed (see
// WebhookSignature), so that a receiver can tell the executor's calls from
// anyone else's and reject replays (VerifyWebhookSignature).
//
// The executor also keeps the engine-reported status of its clusters' nodes
// fresh: every StatusRefresh it reads each cluster's status URL and writes the
// physical and hypervisor status it reports (see StatusReport).
package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/clusterhealth/healthd/internal/health"
)

// leaseExpirySlack is how long after a lease's expiry the executor looks for
// the action again.
const leaseExpirySlack = 20 * time.Millisecond

// DefaultLease is the default of ENGINE_LEASE, and the claim lease of an
// Executor whose Lease is zero unless twice its webhook timeout is longer.
const DefaultLease = 60 * time.Second

// Store is the part of the engine contract the executor uses.
type Store interface {
	// ClaimReadyAction claims the oldest READY action, or RUNNING one whose
	// lease expired, for worker until now + lease.
	ClaimReadyAction(ctx context.Context, worker string, lease time.Duration) (health.Action, bool, error)
	// RenewLease extends worker's claim to now + lease; the error wraps
	// health.ErrLeaseLost when the action is no longer RUNNING under it.
	RenewLease(ctx context.Context, id, worker string, lease time.Duration) error
	// FinishClaimedAction finishes the action if it is still RUNNING under
	// worker's claim; otherwise the error wraps health.ErrLeaseLost.
	FinishClaimedAction(ctx context.Context, id, worker string, status health.ActionStatus, reason string) error
	GetCluster(ctx context.Context, id string) (health.Cluster, error)
	GetNode(ctx context.Context, id string) (health.Node, error)
	SetNodeStatus(ctx context.Context, nodeID string, status health.NodeStatus, reason string) error
	// NextLeaseExpiry returns how long until the earliest lease of a RUNNING
	// action runs out; ok is false when none is RUNNING.
	NextLeaseExpiry(ctx context.Context) (time.Duration, bool, error)
	// ListStatusClusters returns every cluster with a status URL.
	ListStatusClusters(ctx context.Context) ([]health.Cluster, error)
	// SetObservedStatus writes the observed physical and hypervisor status of
	// the cluster's nodes in one statement, observed from at (Now), and
	// returns how many it updated.
	SetObservedStatus(ctx context.Context, clusterID string, obs []health.ObservedStatus, at time.Time) (int, error)
	// Now is the store's clock, which stamps status changes.
	Now(ctx context.Context) (time.Time, error)
}

// Watcher wakes the executor when actions change; Watch("") watches all.
type Watcher interface {
	Watch(actionID string) (<-chan struct{}, func())
}

// Observer is told of each claim (RUNNING), each takeover of an abandoned
// claim and how each action ended (metrics).
type Observer interface {
	EngineAction(s health.ActionStatus)
	EngineReclaim()
}

// Recoverer recovers a node on its infrastructure itself, instead of the
// cluster's recovery webhook (internal/openstack's for Nova servers). It
// returns once the node is back, or with why it is not.
type Recoverer interface {
	Recover(ctx context.Context, cl health.Cluster, a health.Action, n health.Node) error
}

// Executor runs recover actions.
type Executor struct {
	// Recoverer, when set, carries out every action instead of the
	// clusters' recovery webhooks.
	Recoverer Recoverer
	Store     Store
	Watcher   Watcher
	// HTTP calls the recovery webhooks; its Timeout bounds one call.
	HTTP     *http.Client
	Logger   *zap.Logger
	Observer Observer
	// Workers is how many actions run at the same time.
	Workers int
	// ID names this executor in claimed actions.
	ID string
	// PollInterval is the fallback claim poll when no notification arrives. It
	// is also how often the executor looks for expired leases (a lease running
	// out sends no notification).
	PollInterval time.Duration
	// Lease is how long a claim holds without renewal: after an executor dies,
	// its actions wait this long before another executor reclaims them. While
	// an action runs the executor renews its lease every Lease/3; when a
	// renewal reports the lease lost (the action was reclaimed or finished by
	// someone else), or the lease runs out before a renewal succeeds, the
	// executor cancels the webhook call and leaves the action alone.
	//
	// Keep the webhook timeout (HTTP.Timeout) below the lease: then one call
	// fits in one lease even when renewals fail, and a webhook that hangs
	// holds its action no longer than the timeout (without a timeout, renewals
	// would hold it forever). Run warns when it is not. Zero means
	// DefaultLease, or twice the webhook timeout when that is longer.
	Lease time.Duration
	// WebhookSecret signs every recover webhook call: the SignatureHeader
	// carries the HMAC-SHA256 of the call's time and body under it (see
	// WebhookSignature). Empty means unsigned calls. It is never logged.
	WebhookSecret string
	// StatusRefresh is how often the executor reads the status URL of every
	// cluster that has one and writes what it reports into the cluster's
	// nodes (see StatusReport). Zero means DefaultStatusRefresh; a negative
	// value turns the refresh off.
	StatusRefresh time.Duration
}

// WebhookRequest is the body POSTed to a cluster's recovery webhook.
type WebhookRequest struct {
	ActionID        string         `json:"action_id"`
	ClusterID       string         `json:"cluster_id"`
	NodeID          string         `json:"node_id"`
	NodeName        string         `json:"node_name"`
	PhysicalID      string         `json:"physical_id,omitempty"`
	Operation       string         `json:"operation"`
	OperationParams map[string]any `json:"operation_params,omitempty"`
	// Fencing lists what the engine must fence before it recovers the node
	// (the policy's recovery.fencing, for example COMPUTE).
	Fencing       []string `json:"fencing,omitempty"`
	DeleteTimeout int      `json:"delete_timeout"`
	ForceRecreate bool     `json:"force_recreate"`
}

// lease is the effective claim lease.
func (e *Executor) lease() time.Duration {
	if e.Lease > 0 {
		return e.Lease
	}
	l := DefaultLease
	if e.HTTP != nil && 2*e.HTTP.Timeout > l {
		l = 2 * e.HTTP.Timeout
	}
	return l
}

// Run executes actions until ctx ends. It then claims no more actions, lets
// the ones already claimed finish (their webhook calls are bounded by the HTTP
// client's timeout) and returns.
func (e *Executor) Run(ctx context.Context) error {
	lease := e.lease()
	if timeout := e.HTTP.Timeout; timeout <= 0 || timeout >= lease {
		e.Logger.Warn("the recover webhook timeout should be below the action lease",
			zap.Duration("webhook_timeout", timeout), zap.Duration("lease", lease))
	}
	wake, stop := e.Watcher.Watch("")
	defer stop()
	poll := e.PollInterval
	if poll <= 0 {
		poll = 5 * time.Second
	}
	// One waker fans a notification out to every worker: on a notification,
	// when the earliest lease of a RUNNING action runs out (an executor that
	// died leaves its action to be taken over then, and nothing notifies
	// that), and every poll interval.
	kick := make(chan struct{}, max(1, e.Workers))
	go func() {
		t := time.NewTimer(poll)
		defer t.Stop()
		for {
			wait := poll
			// A lease already expired is taken over by the next worker that
			// looks for work; busy workers look as soon as they are done.
			if d, ok, err := e.Store.NextLeaseExpiry(ctx); err == nil && ok && d > 0 {
				// A little after, so that the database sees it expired.
				wait = min(wait, d+leaseExpirySlack)
			}
			t.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-wake:
			case <-t.C:
			}
			for range cap(kick) {
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		}
	}()
	var wg sync.WaitGroup
	wg.Go(func() { e.refreshStatus(ctx) })
	for i := range max(1, e.Workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.work(ctx, fmt.Sprintf("%s/%d", e.ID, i), kick)
		}()
	}
	wg.Wait()
	return nil
}

func (e *Executor) work(ctx context.Context, worker string, kick <-chan struct{}) {
	lease := e.lease()
	for ctx.Err() == nil {
		// The lease is measured from before the claim was asked for, so the
		// executor never thinks it holds a claim longer than the database does.
		claimed := time.Now()
		a, ok, err := e.Store.ClaimReadyAction(ctx, worker, lease)
		if err != nil && ctx.Err() == nil {
			e.Logger.Warn("cannot claim actions", zap.Error(err))
		}
		if ok {
			e.execute(ctx, worker, a, claimed, lease)
			continue
		}
		select {
		case <-ctx.Done():
		case <-kick:
		}
	}
}

func (e *Executor) execute(ctx context.Context, worker string, a health.Action, claimed time.Time, lease time.Duration) {
	log := e.Logger.With(zap.String("action_id", a.ID), zap.String("cluster_id", a.ClusterID),
		zap.String("node_id", a.NodeID), zap.String("operation", string(a.Params.Operation)),
		zap.String("worker", worker), zap.Int("attempts", a.Attempts))
	if e.Observer != nil {
		e.Observer.EngineAction(health.ActionRunning)
	}
	if a.Attempts > 1 {
		log.Warn("reclaimed action abandoned by "+a.AbandonedBy, zap.String("abandoned_by", a.AbandonedBy))
		if e.Observer != nil {
			e.Observer.EngineReclaim()
		}
	}
	// A claimed action is carried through to its end even when shutdown begins
	// meanwhile: the webhook call in flight finishes (bounded by the HTTP
	// client's timeout) and the action is finished, rather than failed by the
	// shutdown. Run returns once every claimed action is finished.
	fctx := context.WithoutCancel(ctx)
	// lctx ends when the lease is lost; everything done for the action uses it.
	lctx, release := e.holdLease(fctx, log, a.ID, worker, claimed, lease)
	finish := func(st health.ActionStatus, nodeStatus health.NodeStatus, reason, nodeReason string) {
		expiry, err := release()
		if err != nil {
			// holdLease already warned.
			log.Info("lease lost; leaving the action to its new owner", zap.Error(err))
			return
		}
		// The database may not answer now (it restarts while the webhook
		// call ran): the writes are tried again while the claim holds, so
		// that the outcome of a call made is recorded, rather than the
		// action left RUNNING for its next claimer to call the webhook again.
		//
		// Check that the action is still ours before touching the node: an
		// executor that lost its lease must not overwrite the new owner's work.
		if nodeStatus != "" {
			start := time.Now()
			err := retryStore(fctx, expiry, log, "confirm the lease", func(c context.Context) error {
				return e.Store.RenewLease(c, a.ID, worker, lease)
			})
			switch {
			case errors.Is(err, health.ErrLeaseLost):
				log.Warn("lease lost; leaving the action to its new owner", zap.Error(err))
				return
			case err != nil:
				log.Warn("cannot confirm the lease", zap.Error(err))
			default:
				expiry = start.Add(lease)
			}
			if err := retryStore(fctx, expiry, log, "update node status", func(c context.Context) error {
				return e.Store.SetNodeStatus(c, a.NodeID, nodeStatus, nodeReason)
			}); err != nil {
				log.Warn("cannot update node status", zap.Error(err))
			}
		}
		if err := retryStore(fctx, expiry, log, "finish the action", func(c context.Context) error {
			return e.Store.FinishClaimedAction(c, a.ID, worker, st, reason)
		}); err != nil {
			if errors.Is(err, health.ErrLeaseLost) {
				log.Warn("lease lost; leaving the action to its new owner", zap.Error(err))
			} else {
				log.Error("cannot finish action", zap.Error(err))
			}
			return
		}
		if e.Observer != nil {
			e.Observer.EngineAction(st)
		}
		log.Info("recover action finished", zap.String("status", string(st)), zap.String("reason", reason))
	}
	// A read that fails is tried again for up to a lease, so that a database
	// restart does not fail the action. When the claim is lost meanwhile (the
	// renewals failed too: the database stayed away for a whole lease), the
	// action is left to be claimed again rather than failed for it.
	readUntil := claimed.Add(lease)
	cl, err := readStore(lctx, readUntil, log, "read the cluster", func(c context.Context) (health.Cluster, error) {
		return e.Store.GetCluster(c, a.ClusterID)
	})
	if err != nil && !errors.Is(err, health.ErrLeaseLost) {
		finish(health.ActionFailed, health.NodeError, "Node recover failed: "+err.Error(), "Recovery failed")
		return
	}
	var node health.Node
	if err == nil {
		node, err = readStore(lctx, readUntil, log, "read the node", func(c context.Context) (health.Node, error) {
			return e.Store.GetNode(c, a.NodeID)
		})
		if err != nil && !errors.Is(err, health.ErrLeaseLost) {
			finish(health.ActionFailed, "", "Node recover failed: "+err.Error(), "")
			return
		}
	}
	if err != nil {
		_, _ = release()
		log.Warn("the database did not answer while the claim held; leaving the action to be claimed again", zap.Error(err))
		return
	}
	if cl.RecoverWebhook == "" && e.Recoverer == nil {
		finish(health.ActionFailed, health.NodeError, "Node recover failed: cluster has no recover webhook", "Recovery failed")
		return
	}
	if err := e.Store.SetNodeStatus(lctx, a.NodeID, health.NodeRecovering, "Recovery in progress"); err != nil {
		log.Warn("cannot mark node recovering", zap.Error(err))
	}
	log.Info("recovering node", zap.String("node", node.Name))
	if e.Recoverer != nil {
		if err := e.Recoverer.Recover(lctx, cl, a, node); err != nil {
			finish(health.ActionFailed, health.NodeError, "Node recover failed: "+err.Error(), "Recovery failed")
			return
		}
		finish(health.ActionSucceeded, health.NodeActive, "Node recovered successfully.", "Recovery succeeded")
		return
	}
	if err := e.callWebhook(lctx, cl.RecoverWebhook, WebhookRequest{
		ActionID: a.ID, ClusterID: a.ClusterID, NodeID: a.NodeID, NodeName: node.Name, PhysicalID: node.PhysicalID,
		Operation: string(a.Params.Operation), OperationParams: a.Params.OperationParams,
		Fencing: a.Params.Fencing, DeleteTimeout: a.Params.DeleteTimeout, ForceRecreate: a.Params.ForceRecreate,
	}); err != nil {
		finish(health.ActionFailed, health.NodeError, "Node recover failed: "+err.Error(), "Recovery failed")
		return
	}
	finish(health.ActionSucceeded, health.NodeActive, "Node recovered successfully.", "Recovery succeeded")
}

// holdLease keeps worker's claim on the action while the executor works on
// it: it renews the lease every lease/3 (sooner after a failed renewal). The
// returned context ends, with a cause wrapping health.ErrLeaseLost, when the
// store reports the lease lost or when the lease runs out (measured from
// claimed, the start of the claim) before a renewal succeeds; it also ends with
// ctx. release stops the renewals and returns when the lease runs out, as far
// as the executor knows (measured from the start of the last renewal that
// succeeded), and the lease-lost cause, if any.
func (e *Executor) holdLease(ctx context.Context, log *zap.Logger, id, worker string, claimed time.Time,
	lease time.Duration) (lctx context.Context, release func() (expiry time.Time, lost error)) {
	lctx, cancel := context.WithCancelCause(ctx)
	quit, done := make(chan struct{}), make(chan struct{})
	expiry := claimed.Add(lease) // written by the renewals until done is closed
	go func() {
		defer close(done)
		// Renewals outlive shutdown like finishing does: the action is ours
		// until it is finished.
		rctx := context.WithoutCancel(ctx)
		expired := time.NewTimer(time.Until(expiry))
		defer expired.Stop()
		renew := time.NewTimer(lease / 3)
		defer renew.Stop()
		for {
			select {
			case <-quit:
				return
			case <-expired.C:
				err := fmt.Errorf("%w: the lease of %v ran out before it could be renewed", health.ErrLeaseLost, lease)
				log.Warn("lease lost; stopping the action", zap.Error(err))
				cancel(err)
				return
			case <-renew.C:
			}
			start := time.Now()
			c, stop := context.WithDeadline(rctx, expiry)
			err := e.Store.RenewLease(c, id, worker, lease)
			stop()
			switch {
			case err == nil:
				expiry = start.Add(lease)
				expired.Reset(time.Until(expiry))
				renew.Reset(lease / 3)
			case errors.Is(err, health.ErrLeaseLost):
				log.Warn("lease lost; stopping the action", zap.Error(err))
				cancel(err)
				return
			default:
				log.Warn("cannot renew the action lease", zap.Error(err))
				renew.Reset(lease / 10)
			}
		}
	}()
	return lctx, func() (time.Time, error) {
		close(quit)
		<-done
		var lost error
		if cause := context.Cause(lctx); errors.Is(cause, health.ErrLeaseLost) {
			lost = cause
		}
		cancel(nil)
		return expiry, lost
	}
}

// callWebhook POSTs body to the webhook at rawURL, signed when the executor
// has a WebhookSecret. Its errors end up in the action's reason, hence in the
// workflow's history and status and in health_events: they never quote the
// URL, which may carry credentials in its userinfo or query.
func (e *Executor) callWebhook(ctx context.Context, rawURL string, body WebhookRequest) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode webhook request: %w", err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return errors.New("recover_webhook: not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("recover_webhook: scheme %q: want http or https", u.Scheme)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(b))
	if err != nil {
		return errors.New("recover_webhook: cannot build a request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(ActionIDHeader, body.ActionID)
	if e.WebhookSecret != "" {
		req.Header.Set(SignatureHeader, WebhookSignature(ClusterWebhookKey(e.WebhookSecret, body.ClusterID), time.Now(), b))
	}
	resp, err := e.HTTP.Do(req)
	if err != nil {
		// A *url.Error quotes the URL: keep only its cause.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("call recover webhook: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		if x := excerpt(msg); x != "" {
			return fmt.Errorf("recover webhook answered %d %s: %s", resp.StatusCode, http.StatusText(resp.StatusCode), x)
		}
		return fmt.Errorf("recover webhook answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}

// maxExcerpt bounds what of a failed webhook call's answer reaches the
// action's reason (the history, the status, health_events).
const maxExcerpt = 80

// excerpt is the start of a receiver's answer, safe to record: valid UTF-8,
// no control characters, white space collapsed, at most maxExcerpt bytes.
func excerpt(b []byte) string {
	var sb strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(string(b), "?") {
		switch {
		case unicode.IsSpace(r):
			space = sb.Len() > 0
			continue
		case unicode.IsControl(r) || !unicode.IsPrint(r):
			r = '?'
		}
		n := utf8.RuneLen(r)
		if space {
			n++
		}
		if sb.Len()+n > maxExcerpt {
			sb.WriteString("...")
			break
		}
		if space {
			sb.WriteByte(' ')
			space = false
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
