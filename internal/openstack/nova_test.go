package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/quotasets"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servergroups"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/applicationcredentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/openstacktest"
)

// memberCloud is the bench's project member, speaking the driver's
// microversion.
func memberCloud(b *openstacktest.Bench) *Cloud {
	compute := *b.Member.Compute
	compute.Microversion = ComputeMicroversion
	return &Cloud{Compute: &compute, Name: "bench member"}
}

// REBUILD and RECREATE on the bench's real Nova, and the node that follows
// its server: after RECREATE the next refresh gives the node the new
// server's ID.
func TestRebuildAndRecreateOnNova(t *testing.T) {
	b := openstacktest.Cloud(t)
	ctx := context.Background()
	cloud := memberCloud(b)
	r := Recoverer{Cloud: cloud, Poll: 200 * time.Millisecond}
	suffix := fmt.Sprint(time.Now().UnixNano())
	clusterID := "recreate-" + suffix
	srvs := b.Boot(t, b.Member, "rr-"+suffix, 3, func(i int) map[string]string {
		return map[string]string{MetaClusterID: clusterID, MetaNodeID: fmt.Sprintf("node-%s-%d", suffix, i)}
	})
	st := &memStore{clusters: []health.Cluster{{ID: clusterID, Project: b.Member.ProjectID, ProfileType: ProfilePrefix + "-1.0"}},
		nodes: map[string]health.Node{}}
	sync := &Syncer{Cloud: cloud, Store: st, Logger: zaptest.NewLogger(t)}
	if _, err := sync.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	node := func(i int) health.Node { return st.nodes[fmt.Sprintf("node-%s-%d", suffix, i)] }
	if node(1).PhysicalID != srvs[0].ID || node(2).PhysicalID != srvs[1].ID {
		t.Fatalf("nodes: got %+v, want the two servers", st.nodes)
	}

	start := time.Now()
	if err := r.Recover(ctx, st.clusters[0], health.Action{Params: health.RecoverParams{Operation: health.OpRebuild}}, node(1)); err != nil {
		t.Fatalf("REBUILD: %v", err)
	}
	t.Logf("REBUILD: ACTIVE after %s", time.Since(start).Round(time.Millisecond))

	if err := servers.Stop(ctx, b.Member.Compute, srvs[1].ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	b.WaitStatus(t, b.Member, srvs[1].ID, "SHUTOFF", time.Minute)
	start = time.Now()
	if err := r.Recover(ctx, st.clusters[0], health.Action{Params: health.RecoverParams{Operation: health.OpRecreate}}, node(2)); err != nil {
		t.Fatalf("RECREATE: %v", err)
	}
	t.Logf("RECREATE: new server ACTIVE and the old one deleted after %s", time.Since(start).Round(time.Millisecond))
	// The old server goes (Nova deletes it asynchronously).
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := servers.Get(ctx, b.Member.Compute, srvs[1].ID).Extract()
		if gophercloud.ResponseCodeIs(err, 404) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old server %s still there after a minute (%v)", srvs[1].ID, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if _, err := sync.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	moved := node(2)
	if moved.PhysicalID == "" || moved.PhysicalID == srvs[1].ID || moved.PhysicalStatus != "ACTIVE" {
		t.Fatalf("node 2 after RECREATE: got %+v, want a new ACTIVE server", moved)
	}
	t.Cleanup(func() { _ = servers.Delete(context.Background(), b.Member.Compute, moved.PhysicalID).ExtractErr() })
	s, err := servers.Get(ctx, b.Member.Compute, moved.PhysicalID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != srvs[1].Name || s.Metadata[MetaClusterID] != clusterID || s.Metadata[MetaReplaces] != srvs[1].ID {
		t.Errorf("the new server: got name %s metadata %v, want %s with the old metadata and %s=%s", s.Name, s.Metadata,
			srvs[1].Name, MetaReplaces, srvs[1].ID)
	}
	// An action claimed again after its executor died between making the
	// new server and deleting the old one: the new server is found, not
	// made twice, and the old one deleted.
	old := srvs[2]
	meta := map[string]string{MetaReplaces: old.ID}
	for k, v := range old.Metadata {
		meta[k] = v
	}
	made, err := servers.Create(ctx, b.Member.Compute, servers.CreateOpts{Name: old.Name, ImageRef: b.ImageID, FlavorRef: b.FlavorID,
		Networks: "none", Metadata: meta}, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = servers.Delete(context.Background(), b.Member.Compute, made.ID).ExtractErr() })
	if err := r.Recover(ctx, st.clusters[0], health.Action{Params: health.RecoverParams{Operation: health.OpRecreate}}, node(3)); err != nil {
		t.Fatalf("RECREATE claimed again: %v", err)
	}
	pages, err := servers.List(b.Member.Compute, servers.ListOpts{Name: "^" + old.Name + "$"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	named, _ := servers.ExtractServers(pages)
	var ids []string
	for _, s := range named {
		if s.Status != "DELETED" && s.ID != old.ID {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) != 1 || ids[0] != made.ID {
		t.Errorf("servers named %s besides the old one: got %v, want only the one made before (%s)", old.Name, ids, made.ID)
	}
}

// A cluster chosen by a Nova server group, on the bench's real Nova: the
// group's servers are its nodes (a server outside the group with the
// cluster's metadata is not), and after RECREATE the node keeps its ID, its
// new server is in the group, and the next refresh gives the node the new
// server's ID.
func TestServerGroupClusterOnNova(t *testing.T) {
	b := openstacktest.Cloud(t)
	ctx := context.Background()
	cloud := memberCloud(b)
	suffix := fmt.Sprint(time.Now().UnixNano())
	clusterID := "group-" + suffix
	g, err := servergroups.Create(ctx, b.Member.Compute, servergroups.CreateOpts{Name: clusterID, Policies: []string{"affinity"}}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = servergroups.Delete(context.Background(), b.Member.Compute, g.ID).ExtractErr() })
	in := b.BootInGroup(t, b.Member, g.ID, "sg-"+suffix, 3, nil)
	outside := b.Boot(t, b.Member, "out-"+suffix, 1, func(int) map[string]string { return map[string]string{MetaClusterID: clusterID} })
	st := &memStore{clusters: []health.Cluster{{ID: clusterID, Project: b.Member.ProjectID, ProfileType: health.NovaServerProfile,
		Members: "server-group:" + g.ID}}, nodes: map[string]health.Node{}}
	sync := &Syncer{Cloud: cloud, Store: st, Logger: zaptest.NewLogger(t)}
	stats, err := sync.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{}
	for _, s := range in {
		want = append(want, s.ID+"="+s.ID)
	}
	slices.Sort(want)
	if got := nodeIDs(st, clusterID); !slices.Equal(got, want) {
		t.Fatalf("nodes: got %v, want the group's servers %v (not %s, outside it)", got, want, outside[0].ID)
	}
	t.Logf("a refresh of a server-group cluster: %d API calls", stats.Calls)

	old := in[1]
	if err := servers.Stop(ctx, b.Member.Compute, old.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	b.WaitStatus(t, b.Member, old.ID, "SHUTOFF", time.Minute)
	r := Recoverer{Cloud: cloud, Poll: 200 * time.Millisecond}
	start := time.Now()
	if err := r.Recover(ctx, st.clusters[0], health.Action{Params: health.RecoverParams{Operation: health.OpRecreate}}, st.nodes[old.ID]); err != nil {
		t.Fatalf("RECREATE: %v", err)
	}
	t.Logf("RECREATE in a server group: ACTIVE after %s", time.Since(start).Round(time.Millisecond))
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := servers.Get(ctx, b.Member.Compute, old.ID).Extract(); gophercloud.ResponseCodeIs(err, 404) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old server %s still there after a minute", old.ID)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if _, err := sync.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	n := st.nodes[old.ID]
	if n.PhysicalID == "" || n.PhysicalID == old.ID || n.PhysicalStatus != "ACTIVE" || len(st.nodes) != 3 {
		t.Fatalf("node %s after RECREATE: got %+v (%d nodes), want it on a new ACTIVE server, still 3 nodes", old.ID, n, len(st.nodes))
	}
	t.Cleanup(func() { _ = servers.Delete(context.Background(), b.Member.Compute, n.PhysicalID).ExtractErr() })
	if groups := serverGroups(ctx, b.Member.Compute, n.PhysicalID); !slices.Equal(groups, []string{g.ID}) {
		t.Errorf("the new server's groups: got %v, want [%s]", groups, g.ID)
	}
}

// The least privilege the README gives, for real: a project member's
// application credential restricted to the access rules of
// access-rules.json (read through clouds.yaml, as an operator would give
// it) keeps a cluster's nodes and reboots a stopped server; a call the rules
// do not name is refused by Nova's keystonemiddleware.
func TestApplicationCredentialWithAccessRules(t *testing.T) {
	b := openstacktest.Cloud(t)
	ctx := context.Background()
	raw, err := os.ReadFile("access-rules.json")
	if err != nil {
		t.Fatal(err)
	}
	var rules []applicationcredentials.AccessRule
	if err := json.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("access-rules.json: %v", err)
	}
	identity, err := openstack.NewIdentityV3(b.Member.Provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	user, err := tokens.Get(ctx, identity, b.Member.Provider.Token()).ExtractUser()
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprint(time.Now().UnixNano())
	cred, err := applicationcredentials.Create(ctx, identity, user.ID, applicationcredentials.CreateOpts{
		Name: "healthd-" + suffix, Description: "the openstack driver, least privilege", AccessRules: rules}).Extract()
	if err != nil {
		t.Fatalf("create the application credential: %v", err)
	}
	t.Cleanup(func() {
		_ = applicationcredentials.Delete(context.Background(), identity, user.ID, cred.ID).ExtractErr()
	})
	ao, _, _, err := clouds.Parse(clouds.WithCloudName(openstacktest.MemberCloud), clouds.WithLocations(b.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "clouds.yaml")
	yaml := fmt.Sprintf("clouds:\n  healthd:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: %s\n"+
		"      application_credential_id: %s\n      application_credential_secret: %s\n", ao.IdentityEndpoint, cred.ID, cred.Secret)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OS_CLOUD": "healthd", "OS_CLIENT_CONFIG_FILE": cfg}
	cloud, err := Connect(ctx, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("Connect with the application credential: %v", err)
	}

	clusterID := "appcred-" + suffix
	srvs := b.Boot(t, b.Member, "ac-"+suffix, 2, func(int) map[string]string { return map[string]string{MetaClusterID: clusterID} })
	st := &memStore{clusters: []health.Cluster{{ID: clusterID, Project: b.Member.ProjectID, ProfileType: health.NovaServerProfile}},
		nodes: map[string]health.Node{}}
	sync := &Syncer{Cloud: cloud, Store: st, Logger: zaptest.NewLogger(t)}
	if stats, err := sync.Sync(ctx); err != nil || stats.Added != 2 {
		t.Fatalf("Sync with the application credential: got %+v, %v; want 2 nodes added", stats, err)
	}
	if err := servers.Stop(ctx, b.Member.Compute, srvs[0].ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	b.WaitStatus(t, b.Member, srvs[0].ID, "SHUTOFF", time.Minute)
	r := Recoverer{Cloud: cloud, Poll: 200 * time.Millisecond}
	if err := r.Recover(ctx, st.clusters[0], health.Action{Params: health.RecoverParams{Operation: health.OpReboot}}, st.nodes[srvs[0].ID]); err != nil {
		t.Fatalf("REBOOT with the application credential: %v", err)
	}

	// Outside the rules: the flavors, which the driver never reads.
	_, err = cloud.Compute.Get(ctx, cloud.Compute.ServiceURL("flavors", "detail"), nil, nil)
	if !gophercloud.ResponseCodeIs(err, 401) && !gophercloud.ResponseCodeIs(err, 403) {
		t.Errorf("GET /flavors/detail with the application credential: got %v, want it refused (401 or 403)", err)
	}
}

// The cost of a refresh on a real Nova at scale: HEALTHD_OPENSTACK_SCALE=N
// boots N servers of one cluster (100 per request, on a flavor of 1 MB and
// 1 GB),
// times one Sync and counts its API calls, then deletes them. It is not in
// the test suite: a thousand servers take minutes to boot here.
//
//	HEALTHD_TEST_OPENSTACK=1 HEALTHD_OPENSTACK_SCALE=1000 go test -run TestSyncThousandServersOnNova -v -timeout 30m ./internal/openstack
func TestSyncThousandServersOnNova(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("HEALTHD_OPENSTACK_SCALE"))
	if n <= 0 {
		t.Skip("HEALTHD_OPENSTACK_SCALE is not set: the scale run is a script, not a test of the suite")
	}
	b := openstacktest.Cloud(t)
	ctx := context.Background()
	instances, cores, ram := n+60, n+120, n*2+200_000
	if _, err := quotasets.Update(ctx, b.Admin.Compute, b.Member.ProjectID, quotasets.UpdateOpts{Instances: &instances, Cores: &cores, RAM: &ram}).Extract(); err != nil {
		t.Fatal(err)
	}
	disk, public := 1, true // Nova lets only volume-backed servers have no disk
	flavor, err := flavors.Create(ctx, b.Admin.Compute, flavors.CreateOpts{Name: "healthd.scale-" + fmt.Sprint(time.Now().UnixNano()), RAM: 1, VCPUs: 1,
		Disk: &disk, IsPublic: &public}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = flavors.Delete(context.Background(), b.Admin.Compute, flavor.ID).ExtractErr() })
	suffix := fmt.Sprint(time.Now().UnixNano())
	clusterID := "scale-" + suffix
	start := time.Now()
	for made := 0; made < n; made += 100 {
		batch := min(100, n-made)
		_, err := servers.Create(ctx, b.Member.Compute, servers.CreateOpts{Name: fmt.Sprintf("scale-%s-%d", suffix, made), ImageRef: b.ImageID,
			FlavorRef: flavor.ID, Networks: "none", Min: batch, Max: batch, Metadata: map[string]string{MetaClusterID: clusterID}}, nil).Extract()
		if err != nil {
			t.Fatalf("boot servers %d to %d: %v", made+1, made+batch, err)
		}
	}
	t.Cleanup(func() {
		pages, err := servers.List(b.Member.Compute, servers.ListOpts{Name: "^scale-" + suffix}).AllPages(context.Background())
		if err != nil {
			return
		}
		list, _ := servers.ExtractServers(pages)
		for _, s := range list {
			_ = servers.Delete(context.Background(), b.Member.Compute, s.ID).ExtractErr()
		}
		t.Logf("deleted %d servers", len(list))
	})
	st := &memStore{clusters: []health.Cluster{{ID: clusterID, Project: b.Member.ProjectID, ProfileType: health.NovaServerProfile}},
		nodes: map[string]health.Node{}}
	sync := &Syncer{Cloud: memberCloud(b), Store: st, Logger: zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel))}
	for {
		stats, err := sync.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		active := 0
		for _, nd := range st.nodes {
			if nd.PhysicalStatus == "ACTIVE" {
				active++
			}
		}
		// A server in BUILD is listed like an ACTIVE one: the cost of a
		// refresh does not wait for the fake computes (about 20 servers a
		// minute here).
		if len(st.nodes) == n {
			t.Logf("%d servers listed (%d ACTIVE) after %s", n, active, time.Since(start).Round(time.Second))
			break
		}
		if time.Since(start) > 10*time.Minute {
			t.Fatalf("after %s: %d of %d servers listed (%+v)", time.Since(start).Round(time.Second), len(st.nodes), n, stats)
		}
		time.Sleep(5 * time.Second)
	}
	var took []time.Duration
	var stats SyncStats
	for range 5 {
		t0 := time.Now()
		stats, err = sync.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	t.Logf("a refresh of %d servers in one cluster: %d API calls (%d servers listed), median %s, worst %s of 5",
		n, stats.Calls, stats.Servers, took[2].Round(time.Millisecond), took[4].Round(time.Millisecond))
	if stats.Calls > 2+(stats.Servers/1000)+1 {
		t.Errorf("API calls: got %d for %d servers, want the pages of one list and the service list", stats.Calls, stats.Servers)
	}
}
