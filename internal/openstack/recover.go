package openstack

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	computeservices "github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"

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
// that is not ACTIVE gets a hard one, which is what Nova allows), REBUILD
// (operation_params.image, else the server's own image) or RECREATE (see
// recreate). An action claimed
// again after an executor died finds the server already rebooting or
// rebuilding: it waits for that instead of asking twice.
//
// It acts only on the nodes of clusters of Nova servers (profile
// ProfilePrefix), and only on a server of the cluster's own project: a
// physical_id never points it at another tenant's server.
func (r Recoverer) Recover(ctx context.Context, cl health.Cluster, a health.Action, n health.Node) error {
	if !strings.HasPrefix(cl.ProfileType, ProfilePrefix) {
		return fmt.Errorf("cluster %s is not one of Nova servers (profile type %q): the openstack driver leaves it alone", cl.ID, cl.ProfileType)
	}
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
	if s.TenantID != cl.Project {
		return fmt.Errorf("server %s is not of the cluster's project %q: not recovered", s.ID, cl.Project)
	}
	// A server whose compute host is down cannot be rebooted or rebuilt
	// there: it is evacuated to another host, whatever the operation, once
	// the host is fenced when the policy says COMPUTE.
	if svc, down := r.hostDown(ctx, s.Host); down {
		return r.evacuate(ctx, s, svc, a.Params)
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
	case health.OpRecreate:
		m, err := ParseMembers("members", cl.Members)
		if err != nil {
			return err
		}
		if m.Kind == ByHeatStack {
			return fmt.Errorf("RECREATE: server %s is a resource of Heat stack %s, which would go on naming the deleted server; REBOOT or REBUILD it, or let Heat replace it (mark it unhealthy and update the stack)", s.ID, m.StackName)
		}
		return r.recreate(ctx, s, n, m, a.Params)
	default:
		return fmt.Errorf("operation %s: the openstack driver does REBOOT, REBUILD and RECREATE so far", op)
	}
}

// FenceCompute is the policy's fencing that fences a compute host before
// its servers are evacuated (Senlin's fencing: [COMPUTE], which Senlin
// parsed and never acted on).
const FenceCompute = "COMPUTE"

// hostDown looks up the compute service of a server's host (an admin's
// view: empty for other credentials, which then never evacuate) and
// reports whether it is down.
func (r Recoverer) hostDown(ctx context.Context, host string) (computeservices.Service, bool) {
	if host == "" {
		return computeservices.Service{}, false
	}
	pages, err := computeservices.List(r.Cloud.Compute, computeservices.ListOpts{Binary: "nova-compute", Host: host}).AllPages(ctx)
	if err != nil {
		return computeservices.Service{}, false
	}
	list, err := computeservices.ExtractServices(pages)
	if err != nil || len(list) != 1 {
		return computeservices.Service{}, false
	}
	return list[0], list[0].State == "down" || list[0].ForcedDown
}

// forceDown sets a compute service's forced_down (the SDK's UpdateOpts
// cannot send false, nor true together with nothing else it omits).
type forceDown bool

func (f forceDown) ToServiceUpdateMap() (map[string]any, error) {
	return map[string]any{"forced_down": bool(f)}, nil
}

// evacuate rebuilds the server on another host, as Masakari's host recovery
// does: with the policy's COMPUTE fencing, the host's compute service is
// first forced down and disabled with a reason (so that nothing is
// scheduled there and the host cannot come back and run the server
// twice); then Nova is asked to evacuate, and the server must be ACTIVE on
// another host. Asked again after an executor died, an evacuation under way
// is waited for.
func (r Recoverer) evacuate(ctx context.Context, s *servers.Server, svc computeservices.Service, p health.RecoverParams) error {
	c := r.Cloud.Compute
	if slices.Contains(p.Fencing, FenceCompute) {
		if !svc.ForcedDown {
			if _, err := computeservices.Update(ctx, c, svc.ID, forceDown(true)).Extract(); err != nil {
				return fmt.Errorf("fence host %s: force its compute service down: %w", svc.Host, describe(err))
			}
		}
		if svc.Status != "disabled" {
			reason := fmt.Sprintf("fenced by healthd before evacuating server %s", s.ID)
			if _, err := computeservices.Update(ctx, c, svc.ID, computeservices.UpdateOpts{Status: computeservices.ServiceDisabled,
				DisabledReason: reason}).Extract(); err != nil {
				return fmt.Errorf("fence host %s: disable its compute service: %w", svc.Host, describe(err))
			}
		}
	}
	if !busy(s.TaskState, "rebuild") {
		// gophercloud's EvacuateOpts always sends onSharedStorage, which
		// Nova refuses from microversion 2.14: the body is built here.
		_, err := c.Post(ctx, c.ServiceURL("servers", s.ID, "action"), map[string]any{"evacuate": map[string]any{}}, nil,
			&gophercloud.RequestOpts{OkCodes: []int{200, 202}})
		if err != nil {
			return fmt.Errorf("evacuate server %s from host %s: %w", s.ID, svc.Host, describe(err))
		}
	}
	// Nova answers the call before the server's task shows: the server
	// reads ACTIVE on the old host for a moment. The evacuation is done
	// when it is ACTIVE on another host.
	return r.waitUntil(ctx, s.ID, "evacuate from host "+svc.Host, func(s *servers.Server) bool { return s.Host != svc.Host })
}

// MetaReplaces marks the server a RECREATE made with the ID of the one it
// replaces, so that an action claimed again after an executor died finds it
// instead of making a second.
const MetaReplaces = "healthd_replaces"

// recreate makes a new server like the old one (name, flavor, image, key,
// metadata, server group, and no network when it had none, else
// operation_params.networks) and, once it is ACTIVE, deletes the old one:
// the node's cluster_node_id metadata moves with it (set to the node's ID
// when the old server had none), so the next refresh gives the node its new
// physical_id. The new server comes first, so that a crash between the two
// never leaves the node with no server and nothing to make one from.
func (r Recoverer) recreate(ctx context.Context, old *servers.Server, n health.Node, m Members, p health.RecoverParams) error {
	c := r.Cloud.Compute
	made, err := r.replacement(ctx, old)
	if err != nil {
		return err
	}
	if made == "" {
		// The flavor's ID is in a server's body only up to microversion 2.46.
		c46 := *c
		c46.Microversion = "2.46"
		full, err := servers.Get(ctx, &c46, old.ID).Extract()
		if err != nil {
			return fmt.Errorf("server %s: %w", old.ID, describe(err))
		}
		flavor, _ := full.Flavor["id"].(string)
		image, _ := old.Image["id"].(string)
		if image == "" {
			image = param(p.OperationParams, "image")
		}
		if flavor == "" || image == "" {
			return fmt.Errorf("server %s: no flavor or image to recreate it from (a server booted from a volume needs operation_params.image)", old.ID)
		}
		var networks any = "none"
		if len(old.Addresses) > 0 {
			ids, _ := p.OperationParams["networks"].([]any)
			var nets []servers.Network
			for _, id := range ids {
				if s, ok := id.(string); ok && s != "" {
					nets = append(nets, servers.Network{UUID: s})
				}
			}
			if len(nets) == 0 {
				return fmt.Errorf("server %s has networks: RECREATE needs operation_params.networks (the network IDs to attach)", old.ID)
			}
			networks = nets
		}
		meta := map[string]string{MetaReplaces: old.ID, MetaNodeID: n.ID}
		for k, v := range old.Metadata {
			if k != MetaReplaces {
				meta[k] = v
			}
		}
		// The new server joins the old one's server group (the cluster's,
		// when it is chosen by one and Nova is too old to say).
		var hints servers.SchedulerHintOptsBuilder
		groups := serverGroups(ctx, c, old.ID)
		if len(groups) == 0 && m.Kind == ByServerGroup {
			groups = []string{m.Group}
		}
		if len(groups) > 0 {
			hints = servers.SchedulerHintOpts{Group: groups[0]}
		}
		var opts servers.CreateOptsBuilder = servers.CreateOpts{Name: old.Name, ImageRef: image, FlavorRef: flavor,
			Networks: networks, Metadata: meta}
		if old.KeyName != "" {
			opts = keypairs.CreateOptsExt{CreateOptsBuilder: opts, KeyName: old.KeyName}
		}
		created, err := servers.Create(ctx, c, opts, hints).Extract()
		if err != nil {
			return fmt.Errorf("create a server to replace %s: %w", old.ID, describe(err))
		}
		made = created.ID
	}
	if err := r.waitActive(ctx, made, "recreate"); err != nil {
		// A replacement that failed (ERROR, or not ACTIVE in time) is
		// deleted, so that failed recoveries do not pile up servers that
		// claim the node; the old server stays, and the next recovery
		// makes a new one. When the executor itself was stopped (its
		// lease lost, the process ending), the replacement is left to the
		// executor that takes the action over, which waits for it.
		if errors.Is(ctx.Err(), context.Canceled) {
			return err
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := servers.Delete(dctx, c, made).ExtractErr(); derr != nil && !gophercloud.ResponseCodeIs(derr, 404) {
			return fmt.Errorf("%w; deleting the failed replacement %s failed too: %v", err, made, describe(derr))
		}
		return fmt.Errorf("%w; the failed replacement %s was deleted, server %s is left as it was", err, made, old.ID)
	}
	if err := servers.Delete(ctx, c, old.ID).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, 404) {
		return fmt.Errorf("recreate: server %s is ACTIVE, but deleting the old one %s failed: %w", made, old.ID, describe(err))
	}
	return nil
}

// replacement finds a server an earlier attempt made to replace old.
func (r Recoverer) replacement(ctx context.Context, old *servers.Server) (string, error) {
	pages, err := servers.List(r.Cloud.Compute, servers.ListOpts{Name: "^" + regexp.QuoteMeta(old.Name) + "$"}).AllPages(ctx)
	if err != nil {
		return "", fmt.Errorf("list servers named %s: %w", old.Name, describe(err))
	}
	list, err := servers.ExtractServers(pages)
	if err != nil {
		return "", err
	}
	for _, s := range list {
		if s.ID != old.ID && s.Metadata[MetaReplaces] == old.ID {
			return s.ID, nil
		}
	}
	return "", nil
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
	return r.waitUntil(ctx, id, what, nil)
}

// waitUntil is waitActive that also waits for done (nil: nothing more) to
// hold of the ACTIVE server.
func (r Recoverer) waitUntil(ctx context.Context, id, what string, done func(*servers.Server) bool) error {
	tick := time.NewTicker(orDefault(r.Poll, DefaultPoll))
	defer tick.Stop()
	var last *servers.Server // the last server read, for the error
	for {
		s, err := servers.Get(ctx, r.Cloud.Compute, id).Extract()
		if err == nil {
			last = s
		}
		switch {
		case err != nil && ctx.Err() == nil && gophercloud.ResponseCodeIs(err, 404):
			return fmt.Errorf("%s: server %s is gone", what, id)
		case err == nil && s.Status == "ACTIVE" && s.TaskState == "" && (done == nil || done(s)):
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
			seen := "unknown"
			if last != nil {
				seen = last.Status + " on host " + last.Host
			}
			return fmt.Errorf("%s: not done in time: server %s is still %s: %w", what, id, seen, context.Cause(ctx))
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
