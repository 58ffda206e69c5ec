package openstack

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/openstacktest"
)

// A cluster Senlin itself made, on the bench's real Nova, is adopted as it
// is: its servers carry Senlin's cluster_id and cluster_node_id metadata,
// and the driver makes a node of each, named by Senlin's node ID.
func TestSenlinClusterAdopted(t *testing.T) {
	b := openstacktest.Cloud(t)
	senlin := openstacktest.SenlinOf(t, b.Member)
	ctx := context.Background()
	start := time.Now()
	id, err := senlin.CreateCluster(t, b, fmt.Sprintf("healthd-%d", time.Now().UnixNano()), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Senlin made cluster %s of 2 servers in %s", id, time.Since(start).Round(time.Millisecond))
	nodes, err := senlin.Nodes(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range nodes {
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
