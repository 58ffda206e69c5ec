package engine_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clusterhealth/healthd/internal/engine"
	"github.com/clusterhealth/healthd/internal/health"
)

// statusServer is a cluster's status URL that records its requests and
// answers with handle.
type statusServer struct {
	*httptest.Server
	hits atomic.Int32
}

func newStatusServer(t *testing.T, handle http.HandlerFunc) *statusServer {
	t.Helper()
	s := &statusServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		handle(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// secretURL is the server's /status URL with credentials in its userinfo and
// query, which must never show in the logs.
func (s *statusServer) secretURL() string {
	u, _ := url.Parse(s.URL)
	u.User = url.UserPassword("engine", "pw-in-userinfo")
	u.Path = "/status"
	u.RawQuery = "token=token-in-query"
	return u.String()
}

// waitHits waits until the server answered at least n requests.
func (s *statusServer) waitHits(t *testing.T, n int32) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		if got := s.hits.Load(); got < n {
			c.Errorf("status URL: got %d requests within %v, want at least %d", got, waitTimeout, n)
		}
	}, waitTimeout, waitTick)
}

// seedStatusNodes writes a cluster with the status URL and nodes web-1 to
// web-3 (physical ids srv-1 to srv-3), every one ACTIVE on up/enabled as
// observed at observed.
func (e *env) seedStatusNodes(t *testing.T, clusterID, statusURL string, observed time.Time) {
	t.Helper()
	ctx := testContext(t)
	if err := e.s.UpsertCluster(ctx, health.Cluster{ID: clusterID, Name: "name-" + clusterID, StatusURL: statusURL}); err != nil {
		t.Fatalf("UpsertCluster: %v", err)
	}
	for i := 1; i <= 3; i++ {
		n := health.Node{ID: fmt.Sprintf("%s-n%d", clusterID, i), ClusterID: clusterID, Name: fmt.Sprintf("web-%d", i),
			PhysicalID: fmt.Sprintf("srv-%d", i), Status: health.NodeActive,
			PhysicalStatus: "ACTIVE", PhysicalStatusAt: observed,
			HypervisorState: "up", HypervisorStatus: "enabled", HypervisorAt: observed}
		if err := e.s.UpsertNode(ctx, n); err != nil {
			t.Fatalf("UpsertNode(%s): %v", n.ID, err)
		}
	}
}

// The executor reads each cluster's status URL and writes what it reports,
// with the time of the write, into the nodes it names: by name, or by
// physical id. A node the report leaves out keeps its old, aging values.
func TestStatusRefreshWritesObservedStatus(t *testing.T) {
	e := newEnv(t)
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var gotQuery atomic.Value
	srv := newStatusServer(t, func(w http.ResponseWriter, r *http.Request) {
		gotQuery.Store(r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(engine.StatusReport{Nodes: []health.ObservedStatus{
			{Name: "web-1", PhysicalStatus: "PAUSED", HypervisorState: "up", HypervisorStatus: "enabled"},
			{PhysicalID: "srv-2", PhysicalStatus: "ACTIVE", HypervisorState: "down", HypervisorStatus: "enabled"},
		}})
	})
	e.seedStatusNodes(t, "c1", srv.secretURL(), old)
	before := time.Now()
	e.start(t, &engine.Executor{ID: "ex1", Workers: 1, StatusRefresh: 50 * time.Millisecond})

	// Two requests: the first one's write is done when the second arrives.
	srv.waitHits(t, 2)
	if q, _ := gotQuery.Load().(string); q != "token=token-in-query" {
		t.Errorf("status request query: got %q, want the URL's own", q)
	}
	now := time.Now()
	tests := []struct {
		id                  string
		physical, hvState   string
		fresh               bool
		wantPhysicalVerdict health.Verdict
		wantHyperVerdict    health.Verdict
	}{
		{"c1-n1", "PAUSED", "up", true, health.Unhealthy, health.Healthy},
		{"c1-n2", "ACTIVE", "down", true, health.Healthy, health.Unhealthy},
		{"c1-n3", "ACTIVE", "up", false, health.Unknown, health.Unknown},
	}
	for _, tt := range tests {
		n := e.node(t, tt.id)
		if n.PhysicalStatus != tt.physical || n.HypervisorState != tt.hvState {
			t.Errorf("%s: got %s %s, want %s %s", tt.id, n.PhysicalStatus, n.HypervisorState, tt.physical, tt.hvState)
		}
		if tt.fresh {
			if n.PhysicalStatusAt.Before(before.Add(-5*time.Second)) || n.HypervisorAt.Before(before.Add(-5*time.Second)) {
				t.Errorf("%s: got observed at %v and %v, want about now", tt.id, n.PhysicalStatusAt, n.HypervisorAt)
			}
		} else if !n.PhysicalStatusAt.Equal(old) || !n.HypervisorAt.Equal(old) {
			t.Errorf("%s: got observed at %v and %v, want them unchanged (%v)", tt.id, n.PhysicalStatusAt, n.HypervisorAt, old)
		}
		maxAge := health.Registration{Interval: 60}.StatusMaxAge()
		if got := health.CheckNodeStatus(n, now, maxAge); got.Verdict != tt.wantPhysicalVerdict {
			t.Errorf("%s: NODE_STATUS_POLLING got %s %q, want %s", tt.id, got.Verdict, got.Detail, tt.wantPhysicalVerdict)
		}
		if got := health.CheckHypervisor(n, now, maxAge); got.Verdict != tt.wantHyperVerdict {
			t.Errorf("%s: HYPERVISOR_STATUS_POLLING got %s %q, want %s", tt.id, got.Verdict, got.Detail, tt.wantHyperVerdict)
		}
	}
}

// A status URL that fails leaves the old values in place to go stale (so
// polling turns unknown, never a false healthy), and the failure is logged
// with the cluster's id and without the URL's credentials.
func TestStatusRefreshFailureLeavesValues(t *testing.T) {
	big := strings.Repeat(" ", 1<<20+1)
	tests := []struct {
		name    string
		handle  http.HandlerFunc
		wantErr string
	}{
		{"server error", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "engine database down", http.StatusInternalServerError)
		}, "500"},
		{"not JSON", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, "<html>login</html>")
		}, "decode body"},
		{"no nodes list", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"servers": []}`)
		}, `no "nodes" list`},
		{"body too large", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"nodes": [{"name": "web-1", "physical_status": "ACTIVE"}]`+big+`}`)
		}, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			observed := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
			srv := newStatusServer(t, tt.handle)
			e.seedStatusNodes(t, "c1", srv.secretURL(), observed)
			e.start(t, &engine.Executor{ID: "ex1", Workers: 1, StatusRefresh: 50 * time.Millisecond})

			srv.waitHits(t, 2)
			entry := e.waitLog(t, "cannot refresh node status")
			fields := entry.ContextMap()
			if fields["cluster_id"] != "c1" {
				t.Errorf("log fields: got %v, want cluster_id c1", fields)
			}
			if errText, _ := fields["error"].(string); !strings.Contains(errText, tt.wantErr) {
				t.Errorf("logged error: got %q, want it to contain %q", errText, tt.wantErr)
			}
			for _, l := range e.logs.All() {
				line := fmt.Sprintf("%s %v", l.Message, l.ContextMap())
				if strings.Contains(line, "pw-in-userinfo") || strings.Contains(line, "token-in-query") {
					t.Errorf("log shows a credential of the status URL: %s", line)
				}
			}
			if n := len(e.logs.FilterMessageSnippet("cannot refresh node status").All()); n != 1 {
				t.Errorf("warnings of a cluster that keeps failing: got %d, want 1", n)
			}
			for i := 1; i <= 3; i++ {
				n := e.node(t, fmt.Sprintf("c1-n%d", i))
				if n.PhysicalStatus != "ACTIVE" || !n.PhysicalStatusAt.Equal(observed) || !n.HypervisorAt.Equal(observed) {
					t.Errorf("%s: got %s observed at %v and %v, want ACTIVE untouched at %v",
						n.Name, n.PhysicalStatus, n.PhysicalStatusAt, n.HypervisorAt, observed)
				}
				if got := health.CheckNodeStatus(n, time.Now(), time.Minute); got.Verdict != health.Unknown {
					t.Errorf("%s: NODE_STATUS_POLLING got %s %q, want unknown", n.Name, got.Verdict, got.Detail)
				}
			}
		})
	}
}

// An unreachable status URL is a failure like any other; its error names
// no credential either (a transport error quotes the URL it failed on).
func TestStatusRefreshUnreachableHidesCredentials(t *testing.T) {
	e := newEnv(t)
	srv := newStatusServer(t, func(http.ResponseWriter, *http.Request) {})
	secret := srv.secretURL()
	srv.Close() // nothing listens there any more
	e.seedStatusNodes(t, "c1", secret, time.Now().Add(-time.Hour))
	e.start(t, &engine.Executor{ID: "ex1", Workers: 1, StatusRefresh: 50 * time.Millisecond})

	entry := e.waitLog(t, "cannot refresh node status")
	line := fmt.Sprintf("%s %v", entry.Message, entry.ContextMap())
	if strings.Contains(line, "pw-in-userinfo") || strings.Contains(line, "token-in-query") {
		t.Errorf("log shows a credential of the status URL: %s", line)
	}
	if src, _ := entry.ContextMap()["status_source"].(string); !strings.HasPrefix(src, "http://127.0.0.1:") || !strings.HasSuffix(src, "/status") {
		t.Errorf("status_source: got %q, want scheme, host and path only", src)
	}
}

// A status URL that answers again after failing is logged once as working,
// and its values are written.
func TestStatusRefreshRecovers(t *testing.T) {
	e := newEnv(t)
	var healthy atomic.Bool
	srv := newStatusServer(t, func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"nodes": [{"name": "web-1", "physical_status": "SHUTOFF"}]}`)
	})
	e.seedStatusNodes(t, "c1", srv.URL+"/status", time.Now().Add(-time.Hour))
	e.start(t, &engine.Executor{ID: "ex1", Workers: 1, StatusRefresh: 50 * time.Millisecond})
	e.waitLog(t, "cannot refresh node status")
	healthy.Store(true)
	e.waitLog(t, "node status refresh works again")
	if n := e.node(t, "c1-n1"); n.PhysicalStatus != "SHUTOFF" {
		t.Errorf("web-1 after the source recovered: got %s, want SHUTOFF", n.PhysicalStatus)
	}
}

// A report fetched while a node's recovery ends is of the node before it:
// stamped with the moment the fetch began, it is older than the node's last
// status change, and judged unknown rather than starting another recovery.
// The next report, fetched after, is judged.
func TestStatusReportFetchedWhileARecoveryEnds(t *testing.T) {
	e := newEnv(t)
	var first atomic.Bool
	first.Store(true)
	srv := newStatusServer(t, func(w http.ResponseWriter, r *http.Request) {
		status := "ACTIVE"
		if first.Swap(false) {
			// The recovery ends while the engine waits for this answer,
			// which is of the server as it was.
			if err := e.s.SetNodeStatus(r.Context(), "c1-n1", health.NodeActive, "Recovery succeeded"); err != nil {
				t.Errorf("SetNodeStatus: %v", err)
			}
			status = "ERROR"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(engine.StatusReport{Nodes: []health.ObservedStatus{{Name: "web-1", PhysicalStatus: status}}})
	})
	e.seedStatusNodes(t, "c1", srv.URL, time.Now().Add(-time.Minute))
	e.start(t, &engine.Executor{ID: "ex1", Workers: 1, StatusRefresh: 200 * time.Millisecond})
	maxAge := health.Registration{Interval: 60}.StatusMaxAge()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		if n := e.node(t, "c1-n1"); n.PhysicalStatus != "ERROR" {
			c.Errorf("web-1: got %s, want the first report's ERROR written", n.PhysicalStatus)
		}
	}, waitTimeout, time.Millisecond)
	n := e.node(t, "c1-n1")
	if got := health.CheckNodeStatus(n, time.Now(), maxAge); got.Verdict != health.Unknown {
		t.Errorf("the report fetched while the recovery ended: got %s (%s), want unknown (observed at %v, status changed at %v)",
			got.Verdict, got.Detail, n.PhysicalStatusAt, n.UpdatedAt)
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		n := e.node(t, "c1-n1")
		if got := health.CheckNodeStatus(n, time.Now(), maxAge); got.Verdict != health.Healthy {
			c.Errorf("the next report: got %s (%s), want healthy", got.Verdict, got.Detail)
		}
	}, waitTimeout, waitTick)
}
