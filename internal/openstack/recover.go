package openstack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/clusterhealth/healthd/internal/health"
)

// Recovery bounds.
const (
	// DefaultWait bounds a recovery: from the call to Nova until the server
	// is ACTIVE again.
	DefaultWait = 10 * time.Minute
	// DefaultSoftWait is how long a soft reboot may take before a hard one
	// follows.
	DefaultSoftWait = 2 * time.Minute
	// DefaultPoll is how often the server is read while waiting.
	DefaultPoll = time.Second
)

// Reboot types, as operation_params.type says them (Senlin's spelling).
const (
	RebootSoft = "SOFT"
	RebootHard = "HARD"
)

// Recoverer carries out NODE_RECOVER actions by calling Nova, and waits until
// the server is ACTIVE (success) or ERROR (failure, with Nova's fault as the
// reason). It implements engine.Recoverer.
type Recoverer struct {
	Cloud *Cloud
	// Wait, SoftWait and Poll: zero means the Default* value.
	Wait, SoftWait, Poll time.Duration
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Recover recovers the node's server (its physical_id) as the action's
// operation says: REBOOT (operation_params.type SOFT or HARD, HARD by
// default as in Senlin's health policy; a soft reboot that does not bring
// the server back within SoftWait is followed by a hard one, and a server
// that is not ACTIVE gets a hard one, which is what Nova allows) or REBUILD
// (operation_params.image, else the server's own image). An action claimed
// again after an executor died finds the server already rebooting or
// rebuilding: it waits for that instead of asking twice.
func (r Recoverer) Recover(ctx context.Context, a health.Action, n health.Node) error {
	if n.PhysicalID == "" {
		return errors.New("the node has no physical_id: no server to recover")
	}
	ctx, cancel := context.WithTimeout(ctx, orDefault(r.Wait, DefaultWait))
	defer cancel()
	c := r.Cloud.Compute
	s, err := servers.Get(ctx, c, n.PhysicalID).Extract()
	if err != nil {
		return fmt.Errorf("server %s: %w", n.PhysicalID, describe(err))
	}
	switch op := a.Params.Operation; op {
	case health.OpReboot:
		return r.reboot(ctx, s, param(a.Params.OperationParams, "type"))
	case health.OpRebuild:
		if busy(s.TaskState, "rebuild") {
			return r.waitActive(ctx, s.ID, "the rebuild already under way")
		}
		image := param(a.Params.OperationParams, "image")
		if image == "" {
			image, _ = s.Image["id"].(string)
		}
		if image == "" {
			return fmt.Errorf("server %s: no image to rebuild from (it boots from a volume; give operation_params.image)", s.ID)
		}
		if _, err := servers.Rebuild(ctx, c, s.ID, servers.RebuildOpts{ImageRef: image}).Extract(); err != nil {
			return fmt.Errorf("rebuild server %s: %w", s.ID, describe(err))
		}
		return r.waitActive(ctx, s.ID, "rebuild")
	default:
		return fmt.Errorf("operation %s: the openstack driver does REBOOT and REBUILD so far", op)
	}
}

func (r Recoverer) reboot(ctx context.Context, s *servers.Server, kind string) error {
	c := r.Cloud.Compute
	if busy(s.TaskState, "reboot") {
		return r.waitActive(ctx, s.ID, "the reboot already under way")
	}
	kind = strings.ToUpper(kind)
	switch kind {
	case "":
		kind = RebootHard
	case RebootSoft, RebootHard:
	default:
		return fmt.Errorf("operation_params.type: must be SOFT or HARD, got %q", kind)
	}
	if kind == RebootSoft && s.Status == "ACTIVE" {
		if err := servers.Reboot(ctx, c, s.ID, servers.RebootOpts{Type: servers.SoftReboot}).ExtractErr(); err != nil {
			return fmt.Errorf("soft reboot server %s: %w", s.ID, describe(err))
		}
		sctx, cancel := context.WithTimeout(ctx, orDefault(r.SoftWait, DefaultSoftWait))
		err := r.waitActive(sctx, s.ID, "soft reboot")
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		// Nova lets a hard reboot replace a soft one that hangs.
	}
	if err := servers.Reboot(ctx, c, s.ID, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr(); err != nil {
		return fmt.Errorf("hard reboot server %s: %w", s.ID, describe(err))
	}
	return r.waitActive(ctx, s.ID, "hard reboot")
}

// waitActive waits until the server is ACTIVE with no task under way, or
// fails when it is ERROR or gone.
func (r Recoverer) waitActive(ctx context.Context, id, what string) error {
	tick := time.NewTicker(orDefault(r.Poll, DefaultPoll))
	defer tick.Stop()
	for {
		s, err := servers.Get(ctx, r.Cloud.Compute, id).Extract()
		switch {
		case err != nil && ctx.Err() == nil && gophercloud.ResponseCodeIs(err, 404):
			return fmt.Errorf("%s: server %s is gone", what, id)
		case err == nil && s.Status == "ACTIVE" && s.TaskState == "":
			return nil
		case err == nil && s.Status == "ERROR":
			msg := s.Fault.Message
			if msg == "" {
				msg = "no fault message"
			}
			return fmt.Errorf("%s: server %s is ERROR: %s", what, id, msg)
		}
		select {
		case <-ctx.Done():
			last := "unknown"
			if s != nil {
				last = s.Status
			}
			return fmt.Errorf("%s: server %s not ACTIVE in time (still %s): %w", what, id, last, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// busy reports whether a task of the kind (reboot, rebuild) is under way.
func busy(taskState, kind string) bool {
	return strings.HasPrefix(taskState, kind)
}

// param reads a string operation parameter.
func param(p map[string]any, key string) string {
	s, _ := p[key].(string)
	return s
}

// describe keeps Nova's own message of a failed call, without the request
// it answered (whose URL may carry nothing secret, but is noise).
func describe(err error) error {
	var e gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &e) {
		body := strings.TrimSpace(string(e.Body))
		if len(body) > 300 {
			body = body[:300] + "..."
		}
		return fmt.Errorf("nova answered %d: %s", e.Actual, body)
	}
	return err
}
