package openstack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	computeservices "github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/gophercloud/gophercloud/v2/pagination"
	"go.uber.org/zap"

	"github.com/clusterhealth/healthd/internal/health"
)

// ProfilePrefix marks the clusters of Nova servers (Senlin's profile type
// os.nova.server-1.0): the clusters this driver keeps.
const ProfilePrefix = "os.nova.server"

// The server metadata Senlin tags its servers with: a server carrying the
// cluster's ID is one of its nodes, named by its node ID, so that a cluster
// Senlin made is adopted as it is.
const (
	MetaClusterID = "cluster_id"
	MetaNodeID    = "cluster_node_id"
)

// DefaultRefresh is how often the Syncer reads Nova: well below the shortest
// time a node's status stays fresh (health.Registration.StatusMaxAge).
const DefaultRefresh = 15 * time.Second

// Store is the part of the engine contract the Syncer writes.
type Store interface {
	ListClustersByProfile(ctx context.Context, prefix string) ([]health.Cluster, error)
	ListNodes(ctx context.Context, clusterID string) ([]health.Node, error)
	GetNode(ctx context.Context, id string) (health.Node, error)
	UpsertNode(ctx context.Context, n health.Node) error
	SetNodeResource(ctx context.Context, clusterID, nodeID, name, physicalID string) error
	DeleteNode(ctx context.Context, clusterID, id string) error
	SetObservedStatus(ctx context.Context, clusterID string, obs []health.ObservedStatus, at time.Time) (int, error)
	Now(ctx context.Context) (time.Time, error)
}

// Syncer keeps the nodes of the clusters of Nova servers current: every
// Refresh it reads the servers of the project in one paginated list (never a
// call per node) and the compute services in one more, and, for each cluster
// whose profile type starts with ProfilePrefix, makes a node of each server
// that carries the cluster's ID in its metadata, drops the nodes whose
// server no longer does, and writes each node's server status and its
// hypervisor's state and status, which NODE_STATUS_POLLING and
// HYPERVISOR_STATUS_POLLING judge.
//
// Server metadata and names are the tenant's to write: a server of another
// project than the cluster's is never a member, a node ID that breaks the ID
// rule or that another cluster already has is refused (logged), and a name
// is bounded.
type Syncer struct {
	Cloud  *Cloud
	Store  Store
	Logger *zap.Logger
	// Refresh: zero means DefaultRefresh.
	Refresh time.Duration
	// AllProjects lists the servers of every project (an admin's
	// credentials), not only the credentials' own project's.
	AllProjects bool
}

// Run refreshes at once and then every Refresh until ctx ends.
func (s *Syncer) Run(ctx context.Context) error {
	t := time.NewTicker(orDefault(s.Refresh, DefaultRefresh))
	defer t.Stop()
	failing := false
	for {
		stats, err := s.Sync(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			s.Logger.Warn("openstack refresh failed; the nodes' status ages until it works again", zap.Error(err))
			failing = true
		case err == nil && failing:
			s.Logger.Info("openstack refresh works again", zap.Int("clusters", stats.Clusters), zap.Int("servers", stats.Servers))
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SyncStats says what one refresh saw and did.
type SyncStats struct {
	Clusters, Servers      int
	Added, Removed, Marked int
	// Calls counts the API calls it made.
	Calls int
}

// Sync refreshes every cluster of Nova servers once.
func (s *Syncer) Sync(ctx context.Context) (SyncStats, error) {
	var st SyncStats
	clusters, err := s.Store.ListClustersByProfile(ctx, ProfilePrefix)
	if err != nil {
		return st, err
	}
	st.Clusters = len(clusters)
	if len(clusters) == 0 {
		return st, nil
	}
	// What the pass reads is of this moment, by the store's clock: a
	// recovery that ends while the pass is under way (a server evacuated
	// after it was listed) makes it stale, however late it is written.
	at, err := s.Store.Now(ctx)
	if err != nil {
		return st, err
	}
	byCluster := map[string][]servers.Server{}
	byID := map[string]servers.Server{}
	more := false // the last page had a next link: one more (empty) page was read
	err = servers.List(s.Cloud.Compute, servers.ListOpts{AllTenants: s.AllProjects}).EachPage(ctx,
		func(_ context.Context, page pagination.Page) (bool, error) {
			st.Calls++
			if p, ok := page.(servers.ServerPage); ok {
				next, _ := p.NextPageURL()
				more = next != ""
			}
			list, err := servers.ExtractServers(page)
			if err != nil {
				return false, err
			}
			st.Servers += len(list)
			for _, srv := range list {
				byID[srv.ID] = srv
				if id := srv.Metadata[MetaClusterID]; id != "" {
					byCluster[id] = append(byCluster[id], srv)
				}
			}
			return true, nil
		})
	if more {
		st.Calls++
	}
	if err != nil {
		return st, fmt.Errorf("list servers: %w", describe(err))
	}
	hosts, calls := s.hypervisors(ctx)
	st.Calls += calls
	var errs []error
	for _, cl := range clusters {
		members, err := s.members(ctx, cl, byCluster, byID, &st)
		if err != nil {
			// The nodes stay as they are and their status ages: a failed
			// read must not look like a cluster that lost its servers.
			errs = append(errs, fmt.Errorf("cluster %s: %w", cl.ID, err))
			continue
		}
		if err := s.syncCluster(ctx, cl, members, hosts, at, &st); err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", cl.ID, err))
		}
	}
	return st, errors.Join(errs...)
}

// members returns the servers of the list that form the cluster, as its
// Members selector says: those whose metadata carries its ID, or those a
// server group or a Heat stack names (one more API call each).
func (s *Syncer) members(ctx context.Context, cl health.Cluster, byCluster map[string][]servers.Server,
	byID map[string]servers.Server, st *SyncStats) ([]servers.Server, error) {
	m, err := ParseMembers("members", cl.Members)
	if err != nil {
		return nil, err
	}
	switch {
	case m.Kind == ByMetadata:
		return byCluster[cl.ID], nil
	case cl.Project == "":
		return nil, nil // no member at all: see syncCluster
	}
	st.Calls++
	ids, err := s.serverIDs(ctx, m, cl.Project)
	if err != nil {
		return nil, err
	}
	return pick(byID, ids), nil
}

// hypervisor is a compute host's state and status.
type hypervisor struct{ state, status string }

// hypervisors reads the compute services, by host; nil when the
// credentials may not (Nova's default policy keeps them to admins), and then
// the hypervisor columns stay empty: unknown to HYPERVISOR_STATUS_POLLING.
func (s *Syncer) hypervisors(ctx context.Context) (map[string]hypervisor, int) {
	pages, err := computeservices.List(s.Cloud.Compute, computeservices.ListOpts{Binary: "nova-compute"}).AllPages(ctx)
	if err != nil {
		if !gophercloud.ResponseCodeIs(err, 403) {
			s.Logger.Debug("cannot list compute services", zap.Error(err))
		}
		return nil, 1
	}
	list, err := computeservices.ExtractServices(pages)
	if err != nil {
		return nil, 1
	}
	out := make(map[string]hypervisor, len(list))
	for _, svc := range list {
		out[svc.Host] = hypervisor{state: svc.State, status: svc.Status}
	}
	return out, 1
}

func (s *Syncer) syncCluster(ctx context.Context, cl health.Cluster, members []servers.Server, hosts map[string]hypervisor,
	at time.Time, st *SyncStats) error {
	nodes, err := s.Store.ListNodes(ctx, cl.ID)
	if err != nil {
		return err
	}
	have := make(map[string]health.Node, len(nodes))
	for _, n := range nodes {
		have[n.ID] = n
	}
	log := s.Logger.With(zap.String("cluster_id", cl.ID))
	if cl.Project == "" {
		// With no project, any tenant could claim the cluster through its
		// servers' metadata.
		log.Warn("cluster has no project: none of its servers can be a member (starter register --nova-project sets it)")
		members = nil
	}
	seen := map[string]bool{}
	var obs []health.ObservedStatus
	// The server of each node: the one it has when it still claims the
	// node (a RECREATE makes a second server that claims it until the old
	// one is deleted), else the first in Nova's list.
	nodeOf := make([]string, len(members))
	server := map[string]string{}
	for i, srv := range members {
		if srv.TenantID != cl.Project {
			log.Warn("server of another project claims the cluster; not a member", zap.String("server_id", srv.ID),
				zap.String("project", srv.TenantID))
			continue
		}
		id := srv.Metadata[MetaNodeID]
		if id == "" {
			id = srv.ID
		}
		if err := health.CheckID(MetaNodeID, id, true); err != nil {
			log.Warn("server metadata names no valid node; not a member", zap.String("server_id", srv.ID), zap.Error(err))
			continue
		}
		nodeOf[i] = id
		if _, ok := server[id]; !ok || have[id].PhysicalID == srv.ID {
			server[id] = srv.ID
		}
	}
	for i, srv := range members {
		id := nodeOf[i]
		if id == "" {
			continue
		}
		if server[id] != srv.ID {
			log.Warn("two servers claim one node; the node keeps its own, else the first", zap.String("node_id", id),
				zap.String("server_id", srv.ID), zap.String("member_server_id", server[id]))
			continue
		}
		seen[id] = true
		o := health.ObservedStatus{PhysicalID: srv.ID, PhysicalStatus: srv.Status}
		if h, ok := hosts[srv.Host]; ok {
			o.HypervisorState, o.HypervisorStatus = h.state, h.status
		}
		n, ok := have[id]
		switch {
		case ok && (n.PhysicalID != srv.ID || n.Name != clipName(srv.Name)):
			// Its server was replaced (or renamed): the node keeps its
			// status, which a recovery ending now may be writing.
			err := s.Store.SetNodeResource(ctx, cl.ID, id, clipName(srv.Name), srv.ID)
			if errors.Is(err, health.ErrNotFound) {
				continue // deleted meanwhile: the next refresh adds it again
			}
			if err != nil {
				return err
			}
		case !ok:
			// Node IDs are the contract's, across clusters: a tenant
			// must not move another cluster's node into this one.
			if other, err := s.Store.GetNode(ctx, id); err == nil && other.ClusterID != cl.ID {
				log.Warn("server claims a node of another cluster; not a member", zap.String("node_id", id),
					zap.String("server_id", srv.ID), zap.String("other_cluster_id", other.ClusterID))
				continue
			}
			n = health.Node{ID: id, ClusterID: cl.ID, Name: clipName(srv.Name), PhysicalID: srv.ID, Status: health.NodeActive,
				PhysicalStatus: o.PhysicalStatus, HypervisorState: o.HypervisorState, HypervisorStatus: o.HypervisorStatus}
			if n.PhysicalStatus != "" { // an empty value has no time
				n.PhysicalStatusAt = at
			}
			if n.HypervisorState != "" || n.HypervisorStatus != "" {
				n.HypervisorAt = at
			}
			if err := s.Store.UpsertNode(ctx, n); err != nil {
				return err
			}
			st.Added++
			log.Info("node added", zap.String("node_id", id), zap.String("server_id", srv.ID))
			continue
		}
		obs = append(obs, o)
	}
	for _, n := range nodes {
		if !seen[n.ID] {
			if err := s.Store.DeleteNode(ctx, cl.ID, n.ID); err != nil && !errors.Is(err, health.ErrNotFound) {
				return err
			}
			st.Removed++
			log.Info("node removed: no server of the project carries it any more", zap.String("node_id", n.ID),
				zap.String("server_id", n.PhysicalID))
		}
	}
	marked, err := s.Store.SetObservedStatus(ctx, cl.ID, obs, at)
	st.Marked += marked
	return err
}

// maxNameBytes bounds a node name taken from a server's (tenant-written)
// name.
const maxNameBytes = 255

func clipName(name string) string {
	if len(name) <= maxNameBytes {
		return name
	}
	cut := maxNameBytes
	for cut > 0 && name[cut]&0xC0 == 0x80 {
		cut--
	}
	return name[:cut]
}
