package openstack

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"go.uber.org/zap/zaptest"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/openstacktest"
)

// SenlinEnvVar turns on the tests that need Senlin on the bench
// (scripts/openstack-up.sh --senlin).
const SenlinEnvVar = "HEALTHD_TEST_SENLIN"

// A cluster Senlin itself made, on the bench's real Nova, is adopted as it
// is: its servers carry Senlin's cluster_id and cluster_node_id metadata,
// and the driver makes a node of each, named by Senlin's node ID.
func TestSenlinClusterAdopted(t *testing.T) {
	if os.Getenv(SenlinEnvVar) == "" {
		t.Skip(SenlinEnvVar + " is not set: it needs scripts/openstack-up.sh --senlin")
	}
	b := openstacktest.Cloud(t)
	ctx := context.Background()
	url, err := b.Member.Provider.EndpointLocator(gophercloud.EndpointOpts{Type: "clustering", Region: openstacktest.Region, Availability: gophercloud.AvailabilityPublic})
	if err != nil {
		t.Fatalf("no clustering endpoint (is Senlin up?): %v", err)
	}
	senlin := &gophercloud.ServiceClient{ProviderClient: b.Member.Provider, Endpoint: gophercloud.NormalizeURL(url) + "v1/"}
	suffix := fmt.Sprint(time.Now().UnixNano())
	var profile struct {
		Profile struct {
			ID string `json:"id"`
		} `json:"profile"`
	}
	// Senlin 14's profile validation fails on a missing networks list; an
	// empty one becomes Nova's "none" (scripts/openstack/senlin-run.py).
	spec := map[string]any{"type": "os.nova.server", "version": "1.0", "properties": map[string]any{
		"name": "senlin-" + suffix, "flavor": b.FlavorID, "image": b.ImageID, "networks": []any{}}}
	if _, err := senlin.Post(ctx, senlin.ServiceURL("profiles"), map[string]any{"profile": map[string]any{"name": "healthd-" + suffix, "spec": spec}},
		&profile, &gophercloud.RequestOpts{OkCodes: []int{200, 201}}); err != nil {
		t.Fatalf("create the profile: %v", err)
	}
	var cluster struct {
		Cluster struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"cluster"`
	}
	if _, err := senlin.Post(ctx, senlin.ServiceURL("clusters"), map[string]any{"cluster": map[string]any{"name": "healthd-" + suffix,
		"profile_id": profile.Profile.ID, "desired_capacity": 2, "min_size": 0, "max_size": -1}}, &cluster,
		&gophercloud.RequestOpts{OkCodes: []int{200, 201, 202}}); err != nil {
		t.Fatalf("create the cluster: %v", err)
	}
	id := cluster.Cluster.ID
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = senlin.Delete(ctx, senlin.ServiceURL("clusters", id), &gophercloud.RequestOpts{OkCodes: []int{202, 204}})
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
			if _, err := senlin.Get(ctx, senlin.ServiceURL("clusters", id), nil, nil); gophercloud.ResponseCodeIs(err, 404) {
				break
			}
		}
		_, _ = senlin.Delete(ctx, senlin.ServiceURL("profiles", profile.Profile.ID), &gophercloud.RequestOpts{OkCodes: []int{204}})
	})
	start := time.Now()
	for cluster.Cluster.Status != "ACTIVE" {
		if cluster.Cluster.Status == "ERROR" || time.Since(start) > 3*time.Minute {
			t.Fatalf("Senlin's cluster: %s after %s", cluster.Cluster.Status, time.Since(start).Round(time.Second))
		}
		time.Sleep(time.Second)
		if _, err := senlin.Get(ctx, senlin.ServiceURL("clusters", id), &cluster, nil); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("Senlin made cluster %s of 2 servers in %s", id, time.Since(start).Round(time.Millisecond))
	var nodes struct {
		Nodes []struct {
			ID         string `json:"id"`
			PhysicalID string `json:"physical_id"`
		} `json:"nodes"`
	}
	if _, err := senlin.Get(ctx, senlin.ServiceURL("nodes")+"?cluster_id="+id, &nodes, nil); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range nodes.Nodes {
		want = append(want, n.ID+"="+n.PhysicalID)
	}
	slices.Sort(want)

	st := &memStore{clusters: []health.Cluster{{ID: id, Project: b.Member.ProjectID, ProfileType: health.NovaServerProfile}},
		nodes: map[string]health.Node{}}
	if _, err := (&Syncer{Cloud: memberCloud(b), Store: st, Logger: zaptest.NewLogger(t)}).Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := nodeIDs(st, id); len(want) != 2 || !slices.Equal(got, want) {
		t.Errorf("nodes adopted: got %v, want Senlin's %v (node ID = physical ID)", got, want)
	}
}
