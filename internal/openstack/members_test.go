package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	th "github.com/gophercloud/gophercloud/v2/testhelper"
	fakeclient "github.com/gophercloud/gophercloud/v2/testhelper/client"
	"go.uber.org/zap/zaptest"

	"github.com/clusterhealth/healthd/internal/health"
)

func TestParseMembers(t *testing.T) {
	const group = "5bbcc3c4-1da2-4437-a48a-66f15b1b13f9"
	for _, tc := range []struct {
		in, kind, out, err string
	}{
		{"", ByMetadata, "", ""},
		{"metadata", ByMetadata, "", ""},
		{"server-group:" + group, ByServerGroup, "server-group:" + group, ""},
		{"heat-stack:web.tier-1/" + group, ByHeatStack, "heat-stack:web.tier-1/" + group, ""},
		{"server-group:", "", "", "needs the server group's ID"},
		{"server-group:../../admin", "", "", "needs the server group's ID"},
		{"heat-stack:" + group, "", "", "needs the stack's name and its ID"},
		{"heat-stack:1web/" + group, "", "", "needs the stack's name and its ID"},
		{"heat-stack:web/x?y", "", "", "needs the stack's name and its ID"},
		{"metadata:x", "", "", "must be empty"},
		{"tags:web", "", "", "must be empty"},
	} {
		m, err := ParseMembers("--members", tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.HasPrefix(err.Error(), "--members: ") || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseMembers(%q): got %v, want an error on --members saying %q", tc.in, err, tc.err)
			}
		case err != nil || m.Kind != tc.kind || m.String() != tc.out:
			t.Errorf("ParseMembers(%q): got %+v (%q), %v; want kind %s, %q", tc.in, m, m.String(), err, tc.kind, tc.out)
		}
	}
}

// A cluster chosen by a server group: one more call a refresh, the
// group's members of the cluster's project are its nodes (the others, and
// a server of the project outside the group, are not); a group of another
// project has none; a group that cannot be read leaves the nodes as they
// are. Nova's own sample of a server group has no members and no project,
// so the group is made in code.
func TestSyncServerGroup(t *testing.T) {
	fake := th.SetupHTTP()
	defer fake.Teardown()
	novaServers(t, fake, func() []map[string]any {
		return []map[string]any{
			member("s1", "", sampleProject, "host1", "ACTIVE"),
			member("s2", "n2", sampleProject, "host2", "SHUTOFF"),
			member("s3", "", "another-project", "host1", "ACTIVE"),
			member("s4", "", sampleProject, "host1", "ACTIVE"), // not in the group
		}
	})
	novaServices(t, fake)
	const group = "5bbcc3c4-1da2-4437-a48a-66f15b1b13f9"
	groupProject, groupStatus := sampleProject, http.StatusOK
	fake.Mux.HandleFunc("/v2.1/os-server-groups/"+group, func(w http.ResponseWriter, r *http.Request) {
		if groupStatus != http.StatusOK {
			w.WriteHeader(groupStatus)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"server_group": map[string]any{"id": group, "name": "db",
			"policies": []string{"anti-affinity"}, "members": []string{"s1", "s2", "s3", "s9"}, "project_id": groupProject}})
	})
	compute := fakeclient.ServiceClient(fake)
	compute.Endpoint = fake.Endpoint() + "v2.1/"
	st := &memStore{clusters: []health.Cluster{{ID: "c1", Project: sampleProject, ProfileType: health.NovaServerProfile,
		Members: "server-group:" + group}}, nodes: map[string]health.Node{}}
	s := &Syncer{Cloud: &Cloud{Compute: compute}, Store: st, Logger: zaptest.NewLogger(t)}
	stats, err := s.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Calls != 4 || stats.Added != 2 {
		t.Errorf("sync: got %+v, want 4 calls (2 pages, the group, the services) and 2 nodes added", stats)
	}
	if got := nodeIDs(st, "c1"); !slices.Equal(got, []string{"n2=s2", "s1=s1"}) {
		t.Errorf("nodes: got %v, want n2=s2 and s1=s1 (s3 is of another project, s4 outside the group, s9 unknown)", got)
	}

	groupStatus = http.StatusInternalServerError
	if _, err := s.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), "server group "+group) {
		t.Errorf("a group that cannot be read: got %v, want an error naming it", err)
	}
	if got := nodeIDs(st, "c1"); len(got) != 2 {
		t.Errorf("a group that cannot be read: nodes %v, want both kept", got)
	}

	groupStatus, groupProject = http.StatusOK, "another-project"
	if _, err := s.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), "is of project") {
		t.Errorf("a group of another project: got %v, want it refused", err)
	}
}

// A cluster chosen by a Heat stack: the OS::Nova::Server resources of the
// stack and its nested stacks, read in one call (nested_depth), are its
// nodes; other resources are not. Heat's own sample resource is served as
// it is, beside servers made from it.
func TestSyncHeatStack(t *testing.T) {
	fake := th.SetupHTTP()
	defer fake.Teardown()
	novaServers(t, fake, func() []map[string]any {
		return []map[string]any{
			member("s1", "", sampleProject, "host1", "ACTIVE"),
			member("s2", "", sampleProject, "host2", "ERROR"),
			member("s3", "", sampleProject, "host1", "ACTIVE"),
		}
	})
	novaServices(t, fake)
	sample, err := os.ReadFile("testdata/heat/resources-list-response.json")
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Resources []map[string]any `json:"resources"`
	}
	if err := json.Unmarshal(sample, &page); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"s1", "s2"} {
		r := map[string]any{}
		for k, v := range page.Resources[0] {
			r[k] = v
		}
		r["resource_type"], r["physical_resource_id"], r["resource_name"] = HeatServerType, id, "server-"+id
		page.Resources = append(page.Resources, r)
	}
	const stackID = "629a32d0-ac4f-4f63-b58d-f0d047b1ba4c"
	var depth string
	fake.Mux.HandleFunc("/v1/stacks/mystack/"+stackID+"/resources", func(w http.ResponseWriter, r *http.Request) {
		depth = r.URL.Query().Get("nested_depth")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(page)
	})
	compute := fakeclient.ServiceClient(fake)
	compute.Endpoint = fake.Endpoint() + "v2.1/"
	heat := fakeclient.ServiceClient(fake)
	heat.Endpoint = fake.Endpoint() + "v1/"
	st := &memStore{clusters: []health.Cluster{{ID: "c1", Project: sampleProject, ProfileType: health.NovaServerProfile,
		Members: "heat-stack:mystack/" + stackID}}, nodes: map[string]health.Node{}}
	s := &Syncer{Cloud: &Cloud{Compute: compute, Orchestration: heat}, Store: st, Logger: zaptest.NewLogger(t)}
	stats, err := s.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeIDs(st, "c1"); stats.Calls != 4 || depth != fmt.Sprint(heatDepth) || !slices.Equal(got, []string{"s1=s1", "s2=s2"}) {
		t.Errorf("sync: got %+v, nested_depth %q and nodes %v; want 4 calls, depth %d, s1 and s2", stats, depth, got, heatDepth)
	}
	if n := st.nodes["s2"]; n.PhysicalStatus != "ERROR" {
		t.Errorf("s2: got %+v, want its status ERROR", n)
	}

	// A cloud without Heat: an error naming it, the nodes kept.
	s.Cloud.Orchestration = nil
	if _, err := s.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), "no orchestration endpoint") {
		t.Errorf("no Heat: got %v, want an error saying so", err)
	}
	if got := nodeIDs(st, "c1"); len(got) != 2 {
		t.Errorf("no Heat: nodes %v, want both kept", got)
	}
}

func nodeIDs(st *memStore, cluster string) []string {
	nodes, _ := st.ListNodes(context.Background(), cluster)
	var out []string
	for _, n := range nodes {
		out = append(out, n.ID+"="+n.PhysicalID)
	}
	return out
}
