package activities_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"
	"golang.org/x/sync/semaphore"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/netguard"
	"github.com/clusterhealth/healthd/internal/probe"
	"github.com/clusterhealth/healthd/internal/store/storetest"
)

// TestSweepsTakeTurns: with one sweep slot, two sweeps asked for at the same
// time probe one after the other, each at its own concurrency, instead of
// sharing the probes (which would make both finish late).
func TestSweepsTakeTurns(t *testing.T) {
	st := storetest.New(t)
	var mu sync.Mutex
	var order []string // the cluster of each request, in arrival order
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		order = append(order, strings.SplitN(strings.Trim(r.URL.Path, "/"), "-", 2)[0])
		mu.Unlock()
		time.Sleep(200 * time.Millisecond)
		fmt.Fprintln(w, "status: passing")
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	for _, c := range []string{"a", "b"} {
		if err := st.UpsertCluster(ctx, health.Cluster{ID: c, Name: c, Project: "p"}); err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			n := health.Node{ID: fmt.Sprintf("%s-%d", c, i), ClusterID: c, Name: fmt.Sprintf("%s-%d", c, i), Status: health.NodeActive}
			if err := st.UpsertNode(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	acts := &activities.Activities{Store: st, Prober: probe.New(probe.Options{Policy: netguard.Loopback}), SweepConcurrency: 2, Sweeps: semaphore.NewWeighted(1)}
	var wg sync.WaitGroup
	for _, c := range []string{"a", "b"} {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		env.RegisterActivity(acts)
		wg.Go(func() {
			if _, err := env.ExecuteActivity(acts.CheckCluster, activities.CheckClusterInput{ClusterID: c,
				Modes: []health.DetectionMode{urlMode(srv.URL, 1)}, Conditional: health.AnyFailed}); err != nil {
				t.Errorf("sweep of %s: %v", c, err)
			}
		})
	}
	wg.Wait()
	got := strings.Join(order, "")
	if got != "aaaabbbb" && got != "bbbbaaaa" {
		t.Errorf("requests by cluster in arrival order: %s, want one sweep's four then the other's", got)
	}
}
