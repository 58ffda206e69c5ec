// Package engine is the reference engine executor: it claims READY recover
// actions from the Postgres engine contract, calls the cluster's recovery
// driver (an HTTP webhook), updates the node and finishes the action.
package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/clusterhealth/healthd/internal/health"
)

// Store is the part of the engine contract the executor uses.
type Store interface {
	ClaimReadyAction(ctx context.Context, worker string) (health.Action, bool, error)
	FinishAction(ctx context.Context, id string, status health.ActionStatus, reason string) error
	GetCluster(ctx context.Context, id string) (health.Cluster, error)
	GetNode(ctx context.Context, id string) (health.Node, error)
	SetNodeStatus(ctx context.Context, nodeID string, status health.NodeStatus, reason string) error
}

// Watcher wakes the executor when actions change; Watch("") watches all.
type Watcher interface {
	Watch(actionID string) (<-chan struct{}, func())
}

// Observer is told how each action ended (metrics).
type Observer interface {
	EngineAction(s health.ActionStatus)
}

// Executor runs recover actions.
type Executor struct {
	Store   Store
	Watcher Watcher
	// HTTP calls the recovery webhooks; its Timeout bounds one call.
	HTTP     *http.Client
	Logger   *zap.Logger
	Observer Observer
	// Workers is how many actions run at the same time.
	Workers int
	// ID names this executor in claimed actions.
	ID string
	// PollInterval is the fallback claim poll when no notification arrives.
	PollInterval time.Duration
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
	DeleteTimeout   int            `json:"delete_timeout"`
	ForceRecreate   bool           `json:"force_recreate"`
}

// Run executes actions until ctx ends.
func (e *Executor) Run(ctx context.Context) error {
	wake, stop := e.Watcher.Watch("")
	defer stop()
	poll := e.PollInterval
	if poll <= 0 {
		poll = 5 * time.Second
	}
	// One waker fans a notification out to every worker.
	kick := make(chan struct{}, max(1, e.Workers))
	go func() {
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
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
	for ctx.Err() == nil {
		a, ok, err := e.Store.ClaimReadyAction(ctx, worker)
		if err != nil && ctx.Err() == nil {
			e.Logger.Warn("cannot claim actions", zap.Error(err))
		}
		if ok {
			e.execute(ctx, a)
			continue
		}
		select {
		case <-ctx.Done():
		case <-kick:
		}
	}
}

func (e *Executor) execute(ctx context.Context, a health.Action) {
	log := e.Logger.With(zap.String("action_id", a.ID), zap.String("cluster_id", a.ClusterID),
		zap.String("node_id", a.NodeID), zap.String("operation", string(a.Params.Operation)))
	// Finishing must survive shutdown: the action is ours until it is finished.
	fctx := context.WithoutCancel(ctx)
	finish := func(st health.ActionStatus, nodeStatus health.NodeStatus, reason, nodeReason string) {
		if err := e.Store.SetNodeStatus(fctx, a.NodeID, nodeStatus, nodeReason); err != nil {
			log.Warn("cannot update node status", zap.Error(err))
		}
		if err := e.Store.FinishAction(fctx, a.ID, st, reason); err != nil {
			log.Error("cannot finish action", zap.Error(err))
			return
		}
		if e.Observer != nil {
			e.Observer.EngineAction(st)
		}
		log.Info("recover action finished", zap.String("status", string(st)), zap.String("reason", reason))
	}
	cl, err := e.Store.GetCluster(ctx, a.ClusterID)
	if err != nil {
		finish(health.ActionFailed, health.NodeError, "Node recover failed: "+err.Error(), "Recovery failed")
		return
	}
	node, err := e.Store.GetNode(ctx, a.NodeID)
	if err != nil {
		e.finishOnly(fctx, log, a, health.ActionFailed, "Node recover failed: "+err.Error())
		return
	}
	if cl.RecoverWebhook == "" {
		finish(health.ActionFailed, health.NodeError, "Node recover failed: cluster has no recover webhook", "Recovery failed")
		return
	}
	if err := e.Store.SetNodeStatus(ctx, a.NodeID, health.NodeRecovering, "Recovery in progress"); err != nil {
		log.Warn("cannot mark node recovering", zap.Error(err))
	}
	log.Info("recovering node", zap.String("node", node.Name))
	if err := e.callWebhook(ctx, cl.RecoverWebhook, WebhookRequest{
		ActionID: a.ID, ClusterID: a.ClusterID, NodeID: a.NodeID, NodeName: node.Name, PhysicalID: node.PhysicalID,
		Operation: string(a.Params.Operation), OperationParams: a.Params.OperationParams,
		DeleteTimeout: a.Params.DeleteTimeout, ForceRecreate: a.Params.ForceRecreate,
	}); err != nil {
		finish(health.ActionFailed, health.NodeError, "Node recover failed: "+err.Error(), "Recovery failed")
		return
	}
	finish(health.ActionSucceeded, health.NodeActive, "Node recovered successfully.", "Recovery succeeded")
}

func (e *Executor) finishOnly(ctx context.Context, log *zap.Logger, a health.Action, st health.ActionStatus, reason string) {
	if err := e.Store.FinishAction(ctx, a.ID, st, reason); err != nil {
		log.Error("cannot finish action", zap.Error(err))
	}
}

func (e *Executor) callWebhook(ctx context.Context, url string, body WebhookRequest) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode webhook request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("call recover webhook: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("recover webhook answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
