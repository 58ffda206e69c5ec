package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	th "github.com/gophercloud/gophercloud/v2/testhelper"
	fakeclient "github.com/gophercloud/gophercloud/v2/testhelper/client"
	"go.uber.org/zap/zaptest"

	"github.com/clusterhealth/healthd/internal/health"
)

// memStore is the engine contract in memory, for the Syncer.
type memStore struct {
	mu       sync.Mutex
	clusters []health.Cluster
	nodes    map[string]health.Node
}

func (m *memStore) ListClustersByProfile(_ context.Context, prefix string) ([]health.Cluster, error) {
	var out []health.Cluster
	for _, c := range m.clusters {
		if strings.HasPrefix(c.ProfileType, prefix) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (m *memStore) ListNodes(_ context.Context, clusterID string) ([]health.Node, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []health.Node
	for _, n := range m.nodes {
		if n.ClusterID == clusterID {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b health.Node) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (m *memStore) GetNode(_ context.Context, id string) (health.Node, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[id]
	if !ok {
		return n, health.ErrNotFound
	}
	return n, nil
}

func (m *memStore) UpsertNode(_ context.Context, n health.Node) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nodes[n.ID] = n
	return nil
}

func (m *memStore) SetNodeResource(_ context.Context, clusterID, nodeID, name, physicalID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[nodeID]
	if !ok || n.ClusterID != clusterID {
		return health.ErrNotFound
	}
	n.Name, n.PhysicalID = name, physicalID
	n.PhysicalStatus, n.HypervisorState, n.HypervisorStatus = "", "", ""
	m.nodes[nodeID] = n
	return nil
}

func (m *memStore) DeleteNode(_ context.Context, clusterID, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.nodes[id]; !ok || n.ClusterID != clusterID {
		return health.ErrNotFound
	}
	delete(m.nodes, id)
	return nil
}

func (m *memStore) Now(context.Context) (time.Time, error) { return time.Now(), nil }

func (m *memStore) SetObservedStatus(_ context.Context, clusterID string, obs []health.ObservedStatus, _ time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	count := 0
	for _, o := range obs {
		for id, n := range m.nodes {
			if n.ClusterID == clusterID && n.PhysicalID == o.PhysicalID {
				n.PhysicalStatus, n.HypervisorState, n.HypervisorStatus = o.PhysicalStatus, o.HypervisorState, o.HypervisorStatus
				m.nodes[id] = n
				count++
			}
		}
	}
	return count, nil
}

// sampleProject is the project of Nova's API samples.
const sampleProject = "6f70656e737461636b20342065766572"

// novaServers serves GET /servers/detail in two pages: Nova's own sample,
// whose "next" link is pointed at the fake server, then the servers given,
// each made from the sample's server with the fields set.
func novaServers(t *testing.T, fake th.FakeServer, second func() []map[string]any) {
	t.Helper()
	sample, err := os.ReadFile("testdata/nova/servers-details-resp.v2.47.json")
	if err != nil {
		t.Fatal(err)
	}
	var page map[string]any
	if err := json.Unmarshal(sample, &page); err != nil {
		t.Fatal(err)
	}
	base := page["servers"].([]any)[0].(map[string]any)
	first := strings.ReplaceAll(string(sample), "http://openstack.example.com/v2.1/"+sampleProject, fake.Endpoint()+"v2.1")
	fake.Mux.HandleFunc("/v2.1/servers/detail", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("marker") == "" {
			fmt.Fprint(w, first)
			return
		}
		var list []map[string]any
		for _, fields := range second() {
			s := map[string]any{}
			for k, v := range base {
				s[k] = v
			}
			for k, v := range fields {
				s[k] = v
			}
			list = append(list, s)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"servers": list})
	})
}

func novaServices(t *testing.T, fake th.FakeServer) {
	t.Helper()
	sample, err := os.ReadFile("testdata/nova/services-list-get-resp.v2.53.json")
	if err != nil {
		t.Fatal(err)
	}
	fake.Mux.HandleFunc("/v2.1/os-services", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// The sample lists every binary; Nova filters by the query.
		var page struct {
			Services []map[string]any `json:"services"`
		}
		_ = json.Unmarshal(sample, &page)
		page.Services = slices.DeleteFunc(page.Services, func(s map[string]any) bool {
			return r.URL.Query().Get("binary") != "" && s["binary"] != r.URL.Query().Get("binary")
		})
		_ = json.NewEncoder(w).Encode(page)
	})
}

// member is a server of the cluster c1 with the metadata, project, host and
// status given.
func member(id, nodeID, project, host, status string) map[string]any {
	meta := map[string]any{MetaClusterID: "c1"}
	if nodeID != "" {
		meta[MetaNodeID] = nodeID
	}
	return map[string]any{"id": id, "name": "server-" + id, "metadata": meta, "tenant_id": project,
		"OS-EXT-SRV-ATTR:host": host, "status": status}
}

// The Syncer keeps a cluster's nodes from one paginated server list and one
// compute service list: members by metadata, never from another project,
// another cluster's node or a node ID that breaks the rule; gone servers'
// nodes removed; status and hypervisor state written.
func TestSyncMembershipAndStatus(t *testing.T) {
	fake := th.SetupHTTP()
	defer fake.Teardown()
	var mu sync.Mutex
	s2status := "SHUTOFF"
	novaServers(t, fake, func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return []map[string]any{
			member("s1", "n1", sampleProject, "host1", "ACTIVE"),
			member("s2", "n2", sampleProject, "host2", s2status),
			member("s3", "n3", "another-project", "host1", "ACTIVE"),
			member("s4", "bad\x00id", sampleProject, "host1", "ACTIVE"),
			member("s5", "taken", sampleProject, "host1", "ACTIVE"),
			member("s6", "", sampleProject, "host1", "ERROR"),
		}
	})
	novaServices(t, fake)
	compute := fakeclient.ServiceClient(fake)
	compute.Endpoint = fake.Endpoint() + "v2.1/"
	st := &memStore{
		clusters: []health.Cluster{{ID: "c1", Project: sampleProject, ProfileType: "os.nova.server-1.0"},
			{ID: "c2", Project: sampleProject, ProfileType: "os.heat.stack-1.0"}},
		nodes: map[string]health.Node{
			"old":   {ID: "old", ClusterID: "c1", Name: "server-old", PhysicalID: "gone", Status: health.NodeActive},
			"taken": {ID: "taken", ClusterID: "c2", Name: "stack", PhysicalID: "stack-1", Status: health.NodeActive},
		},
	}
	s := &Syncer{Cloud: &Cloud{Compute: compute}, Store: st, Logger: zaptest.NewLogger(t)}
	stats, err := s.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Calls != 3 || stats.Servers != 7 || stats.Added != 3 || stats.Removed != 1 {
		t.Errorf("first sync: got %+v, want 3 calls (2 pages, 1 service list), 7 servers, 3 added, 1 removed", stats)
	}
	nodes, _ := st.ListNodes(context.Background(), "c1")
	var got []string
	for _, n := range nodes {
		got = append(got, fmt.Sprintf("%s=%s:%s/%s/%s", n.ID, n.PhysicalID, n.PhysicalStatus, n.HypervisorState, n.HypervisorStatus))
	}
	want := []string{"n1=s1:ACTIVE/up/disabled", "n2=s2:SHUTOFF/down/disabled", "s6=s6:ERROR/up/disabled"}
	if !slices.Equal(got, want) {
		t.Errorf("nodes of c1: got %v, want %v", got, want)
	}
	if n := st.nodes["taken"]; n.ClusterID != "c2" {
		t.Errorf("another cluster's node: got %+v, want it left in c2", n)
	}
	// A cluster without a project has no member: any tenant could claim it.
	st.clusters[0].Project = ""
	if stats, err := s.Sync(context.Background()); err != nil || stats.Removed != 3 || len(st.nodes) != 1 {
		t.Errorf("a cluster without a project: got %+v (%v) and nodes %v, want its 3 nodes gone", stats, err, st.nodes)
	}
	st.clusters[0].Project = sampleProject

	// The next refresh observes: n2 started again.
	mu.Lock()
	s2status = "ACTIVE"
	mu.Unlock()
	stats, err = s.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Added != 3 || stats.Removed != 0 || st.nodes["n2"].PhysicalStatus != "ACTIVE" {
		t.Errorf("sync with the project back: got %+v and n2 %+v, want the 3 nodes back, n2 ACTIVE", stats, st.nodes["n2"])
	}
	if stats, err = s.Sync(context.Background()); err != nil || stats.Added != 0 || stats.Marked != 3 {
		t.Errorf("next sync: got %+v (%v), want 3 nodes marked, none added", stats, err)
	}
}

// The cost of a refresh in API calls, whatever the size of the clusters:
// Nova pages the server list by its max_limit (1000 by default), so 1,000
// servers of 3 clusters are two list calls (the second page is empty, as
// Nova's is after a full one) and one compute service list.
func TestSyncCallsPerRefresh(t *testing.T) {
	for _, tc := range []struct {
		servers, calls int
	}{{10, 2}, {1000, 3}, {2500, 4}} {
		t.Run(fmt.Sprint(tc.servers), func(t *testing.T) {
			fake := th.SetupHTTP()
			defer fake.Teardown()
			const maxLimit = 1000
			requests := 0
			fake.Mux.HandleFunc("/v2.1/servers/detail", func(w http.ResponseWriter, r *http.Request) {
				requests++
				start := 0
				if m := r.URL.Query().Get("marker"); m != "" {
					fmt.Sscanf(m, "s%d", &start)
					start++
				}
				var page []map[string]any
				for i := start; i < tc.servers && len(page) < maxLimit; i++ {
					page = append(page, map[string]any{"id": fmt.Sprintf("s%d", i), "name": fmt.Sprintf("web-%d", i), "status": "ACTIVE",
						"tenant_id": sampleProject, "metadata": map[string]any{MetaClusterID: fmt.Sprintf("c%d", i%3)}})
				}
				body := map[string]any{"servers": page}
				if len(page) == maxLimit {
					last := page[len(page)-1]["id"]
					body["servers_links"] = []map[string]string{{"rel": "next", "href": fake.Endpoint() + "v2.1/servers/detail?marker=" + last.(string)}}
				}
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(body)
			})
			novaServices(t, fake)
			compute := fakeclient.ServiceClient(fake)
			compute.Endpoint = fake.Endpoint() + "v2.1/"
			st := &memStore{nodes: map[string]health.Node{}}
			for i := range 3 {
				st.clusters = append(st.clusters, health.Cluster{ID: fmt.Sprintf("c%d", i), Project: sampleProject, ProfileType: health.NovaServerProfile})
			}
			s := &Syncer{Cloud: &Cloud{Compute: compute}, Store: st, Logger: zaptest.NewLogger(t)}
			stats, err := s.Sync(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if stats.Calls != tc.calls || stats.Servers != tc.servers || stats.Added != tc.servers || len(st.nodes) != tc.servers {
				t.Errorf("got %+v and %d nodes, want %d calls and %d servers, all nodes", stats, len(st.nodes), tc.calls, tc.servers)
			}
			t.Logf("%d servers in 3 clusters: %d API calls a refresh (%d server list pages)", tc.servers, stats.Calls, requests)
		})
	}
}

// While a RECREATE's new server and the old one both claim a node, the node
// keeps the server it has, wherever Nova lists the other; once the old one
// is gone, the new one is the node's.
func TestSyncTwoServersClaimANode(t *testing.T) {
	fake := th.SetupHTTP()
	defer fake.Teardown()
	var mu sync.Mutex
	list := []map[string]any{
		member("new", "n1", sampleProject, "host1", "ACTIVE"),
		member("old", "n1", sampleProject, "host1", "ACTIVE"),
	}
	novaServers(t, fake, func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(list)
	})
	novaServices(t, fake)
	compute := fakeclient.ServiceClient(fake)
	compute.Endpoint = fake.Endpoint() + "v2.1/"
	st := &memStore{
		clusters: []health.Cluster{{ID: "c1", Project: sampleProject, ProfileType: "os.nova.server-1.0"}},
		nodes: map[string]health.Node{
			"n1": {ID: "n1", ClusterID: "c1", Name: "server-old", PhysicalID: "old", Status: health.NodeActive},
		},
	}
	s := &Syncer{Cloud: &Cloud{Compute: compute}, Store: st, Logger: zaptest.NewLogger(t)}
	if _, err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := st.nodes["n1"].PhysicalID; got != "old" {
		t.Errorf("both servers listed, the new one first: the node's server is %s, want old", got)
	}
	mu.Lock()
	list = list[:1]
	mu.Unlock()
	if _, err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := st.nodes["n1"].PhysicalID; got != "new" {
		t.Errorf("the old server deleted: the node's server is %s, want new", got)
	}
}
