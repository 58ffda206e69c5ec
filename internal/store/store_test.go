package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/store/storetest"
	"github.com/clusterhealth/healthd/internal/testkit/enginetest"
)

// The store is the production adapter of the activities' interfaces.
var (
	_ activities.Store         = (*store.Store)(nil)
	_ activities.ActionWatcher = (*store.Watcher)(nil)
)

// testContext bounds a test's database calls, so that a hung query fails the
// test instead of the whole run.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func seedCluster(t *testing.T, s *store.Store, id string) health.Cluster {
	t.Helper()
	c := health.Cluster{ID: id, Name: "name-" + id, Project: "p1", User: "u1", ProfileType: "os.nova.server-1.0"}
	if err := s.UpsertCluster(testContext(t), c); err != nil {
		t.Fatalf("UpsertCluster(%q): %v", id, err)
	}
	return c
}

func seedNode(t *testing.T, s *store.Store, n health.Node) health.Node {
	t.Helper()
	if n.Status == "" {
		n.Status = health.NodeActive
	}
	if err := s.UpsertNode(testContext(t), n); err != nil {
		t.Fatalf("UpsertNode(%q): %v", n.ID, err)
	}
	got, err := s.GetNode(testContext(t), n.ID)
	if err != nil {
		t.Fatalf("GetNode(%q): %v", n.ID, err)
	}
	return got
}

func TestOpenErrorsHideTheDSN(t *testing.T) {
	const password = "s3cr3t-pw"
	tests := []struct {
		name string
		dsn  string
	}{
		{"unparsable URL", "postgres://user:" + password + "@127.0.0.1:notaport/db"},
		{"unreachable URL", "postgres://user:" + password + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=5"},
		{"unreachable keyword/value", "host=127.0.0.1 port=1 user=user password=" + password + " dbname=db sslmode=disable connect_timeout=5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.Open(testContext(t), tt.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open: got nil error, want one")
			}
			if msg := err.Error(); strings.Contains(msg, password) || strings.Contains(msg, tt.dsn) {
				t.Errorf("Open error = %q, want it without the DSN or the password", msg)
			}
			if !strings.HasPrefix(err.Error(), "store: open: ") {
				t.Errorf("Open error = %q, want the prefix %q", err, "store: open: ")
			}
		})
	}
}

func TestPing(t *testing.T) {
	s := storetest.New(t)
	if err := s.Ping(testContext(t)); err != nil {
		t.Fatalf("Ping: got %v, want nil", err)
	}
	if s.Pool() == nil {
		t.Fatal("Pool: got nil, want the pool")
	}
}

func TestNotFoundErrorsWrapErrNotFound(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	const missingUUID = "6f1c2d4e-0000-4000-8000-000000000000"
	tests := []struct {
		name string
		call func() error
	}{
		{"GetCluster", func() error { _, err := s.GetCluster(ctx, "no-such-cluster"); return err }},
		{"DeleteCluster", func() error { return s.DeleteCluster(ctx, "no-such-cluster") }},
		{"GetNode", func() error { _, err := s.GetNode(ctx, "no-such-node"); return err }},
		{"UpsertNode without cluster", func() error {
			return s.UpsertNode(ctx, health.Node{ID: "n1", ClusterID: "no-such-cluster", Name: "n1"})
		}},
		{"SetNodeStatus", func() error { return s.SetNodeStatus(ctx, "no-such-node", health.NodeError, "x") }},
		{"SetNodePhysicalStatus", func() error { return s.SetNodePhysicalStatus(ctx, "no-such-node", "SHUTOFF") }},
		{"GetAction missing uuid", func() error { _, err := s.GetAction(ctx, missingUUID); return err }},
		{"GetAction not a uuid", func() error { _, err := s.GetAction(ctx, "not-a-uuid"); return err }},
		{"FinishAction missing uuid", func() error { return s.FinishAction(ctx, missingUUID, health.ActionSucceeded, "") }},
		{"FinishAction not a uuid", func() error { return s.FinishAction(ctx, "not-a-uuid", health.ActionSucceeded, "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, health.ErrNotFound) {
				t.Fatalf("got error %v, want one wrapping health.ErrNotFound", err)
			}
			if !strings.HasPrefix(err.Error(), "store: ") {
				t.Errorf("got error %q, want the prefix %q", err, "store: ")
			}
		})
	}
}

func TestUpsertCluster(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	want := health.Cluster{ID: "c1", Name: "web", Project: "p1", User: "u1", ProfileType: "os.nova.server-1.0",
		RecoverWebhook: "http://127.0.0.1:9/recover", StatusURL: "http://127.0.0.1:9/status",
		Members: "server-group:5bbcc3c4-1da2-4437-a48a-66f15b1b13f9"}
	if err := s.UpsertCluster(ctx, want); err != nil {
		t.Fatalf("UpsertCluster: %v", err)
	}
	got, err := s.GetCluster(ctx, "c1")
	if err != nil {
		t.Fatalf("GetCluster: %v", err)
	}
	if got != want {
		t.Errorf("GetCluster after insert: got %+v, want %+v", got, want)
	}

	want.Name, want.RecoverWebhook, want.StatusURL, want.Members = "web-renamed", "", "", ""
	if err := s.UpsertCluster(ctx, want); err != nil {
		t.Fatalf("UpsertCluster again: %v", err)
	}
	got, err = s.GetCluster(ctx, "c1")
	if err != nil {
		t.Fatalf("GetCluster: %v", err)
	}
	if got != want {
		t.Errorf("GetCluster after update: got %+v, want %+v", got, want)
	}
}

func TestUpsertNode(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	seedCluster(t, s, "c1")
	initAt := time.Date(2025, 3, 1, 10, 0, 0, 123456000, time.UTC)
	updatedAt := initAt.Add(time.Hour)

	tests := []struct {
		name string
		in   health.Node
		// want is in with the timestamps the store fills in left zero;
		// wantInitNow says InitAt must be about now, wantObservedNow that
		// PhysicalStatusAt and HypervisorAt must be.
		want            health.Node
		wantInitNow     bool
		wantObservedNow bool
	}{
		{
			name: "every field",
			in: health.Node{ID: "n1", ClusterID: "c1", Name: "node-1", PhysicalID: "srv-1",
				Status: health.NodeActive, StatusReason: "Creation succeeded", InitAt: initAt, UpdatedAt: updatedAt,
				PhysicalStatus: "ACTIVE", HypervisorState: "up", HypervisorStatus: "enabled"},
			want: health.Node{ID: "n1", ClusterID: "c1", Name: "node-1", PhysicalID: "srv-1",
				Status: health.NodeActive, StatusReason: "Creation succeeded", InitAt: initAt, UpdatedAt: updatedAt,
				PhysicalStatus: "ACTIVE", HypervisorState: "up", HypervisorStatus: "enabled"},
			wantObservedNow: true,
		},
		{
			name: "observation times given",
			in: health.Node{ID: "n3", ClusterID: "c1", Name: "node-3", PhysicalID: "srv-3", Status: health.NodeActive,
				InitAt: initAt, PhysicalStatus: "SHUTOFF", PhysicalStatusAt: updatedAt,
				HypervisorState: "down", HypervisorStatus: "enabled", HypervisorAt: initAt},
			want: health.Node{ID: "n3", ClusterID: "c1", Name: "node-3", PhysicalID: "srv-3", Status: health.NodeActive,
				InitAt: initAt, PhysicalStatus: "SHUTOFF", PhysicalStatusAt: updatedAt,
				HypervisorState: "down", HypervisorStatus: "enabled", HypervisorAt: initAt},
		},
		{
			name:        "zero times and status",
			in:          health.Node{ID: "n2", ClusterID: "c1", Name: "node-2"},
			want:        health.Node{ID: "n2", ClusterID: "c1", Name: "node-2", Status: health.NodeInit},
			wantInitNow: true,
		},
		{
			name: "overwrite keeps init_at when zero and clears updated_at",
			in:   health.Node{ID: "n1", ClusterID: "c1", Name: "node-1b", Status: health.NodeError, StatusReason: "boom"},
			want: health.Node{ID: "n1", ClusterID: "c1", Name: "node-1b", Status: health.NodeError, StatusReason: "boom", InitAt: initAt},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now()
			if err := s.UpsertNode(ctx, tt.in); err != nil {
				t.Fatalf("UpsertNode: %v", err)
			}
			got, err := s.GetNode(ctx, tt.in.ID)
			if err != nil {
				t.Fatalf("GetNode: %v", err)
			}
			if tt.wantInitNow {
				if !about(got.InitAt, before) {
					t.Errorf("InitAt: got %v, want about %v", got.InitAt, before)
				}
				got.InitAt = time.Time{}
			}
			if tt.wantObservedNow {
				if !about(got.PhysicalStatusAt, before) || !about(got.HypervisorAt, before) {
					t.Errorf("observation times: got physical %v hypervisor %v, want about %v",
						got.PhysicalStatusAt, got.HypervisorAt, before)
				}
				got.PhysicalStatusAt, got.HypervisorAt = time.Time{}, time.Time{}
			}
			if !got.InitAt.Equal(tt.want.InitAt) || !got.UpdatedAt.Equal(tt.want.UpdatedAt) {
				t.Errorf("times: got init %v updated %v, want init %v updated %v",
					got.InitAt, got.UpdatedAt, tt.want.InitAt, tt.want.UpdatedAt)
			}
			got.InitAt, got.UpdatedAt, tt.want.InitAt, tt.want.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// about reports whether got is within a few seconds of want (the database and
// the test share a clock).
func about(got, want time.Time) bool {
	d := got.Sub(want)
	return d > -5*time.Second && d < 5*time.Second
}

func TestListNodesOrder(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	seedCluster(t, s, "c1")
	seedCluster(t, s, "c2")
	for _, n := range []health.Node{
		{ID: "n1", ClusterID: "c1", Name: "b"},
		{ID: "n3", ClusterID: "c1", Name: "a"},
		{ID: "n2", ClusterID: "c1", Name: "a", Status: health.NodeError},
		{ID: "n4", ClusterID: "c2", Name: "a"},
	} {
		seedNode(t, s, n)
	}

	tests := []struct {
		cluster string
		want    []string
	}{
		{"c1", []string{"n2", "n3", "n1"}},
		{"c2", []string{"n4"}},
		{"no-such-cluster", nil},
	}
	for _, tt := range tests {
		t.Run(tt.cluster, func(t *testing.T) {
			nodes, err := s.ListNodes(ctx, tt.cluster)
			if err != nil {
				t.Fatalf("ListNodes: %v", err)
			}
			var got []string
			for _, n := range nodes {
				got = append(got, n.ID)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("ListNodes(%q): got %v, want %v", tt.cluster, got, tt.want)
			}
		})
	}
}

func TestDeleteClusterCascadesToNodesOnly(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	seedCluster(t, s, "c1")
	seedNode(t, s, health.Node{ID: "n1", ClusterID: "c1", Name: "n1"})
	a, _, err := s.CreateRecoverAction(ctx, "k1", "c1", "n1", health.RecoverParams{Operation: health.OpReboot})
	if err != nil {
		t.Fatalf("CreateRecoverAction: %v", err)
	}

	if err := s.DeleteCluster(ctx, "c1"); err != nil {
		t.Fatalf("DeleteCluster: %v", err)
	}
	if _, err := s.GetNode(ctx, "n1"); !errors.Is(err, health.ErrNotFound) {
		t.Errorf("GetNode after DeleteCluster: got %v, want health.ErrNotFound", err)
	}
	if _, err := s.GetAction(ctx, a.ID); err != nil {
		t.Errorf("GetAction after DeleteCluster: got %v, want the action kept", err)
	}
}

func TestSetNodeStatusTimestampRule(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	seedCluster(t, s, "c1")
	past := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		status      health.NodeStatus
		wantRefresh bool
	}{
		{health.NodeInit, true},
		{health.NodeActive, true},
		{health.NodeError, true},
		{health.NodeWarning, true},
		{health.NodeDeleting, true},
		{health.NodeCreating, false},
		{health.NodeUpdating, false},
		{health.NodeRecovering, false},
		{health.NodeOperating, false},
	}
	for _, tt := range tests {
		for _, start := range []struct {
			name      string
			updatedAt time.Time
		}{{"updated before", past}, {"never updated", time.Time{}}} {
			t.Run(string(tt.status)+"/"+start.name, func(t *testing.T) {
				id := "n-" + string(tt.status) + "-" + strings.ReplaceAll(start.name, " ", "-")
				seedNode(t, s, health.Node{ID: id, ClusterID: "c1", Name: id, Status: health.NodeActive,
					InitAt: past, UpdatedAt: start.updatedAt})

				before := time.Now()
				reason := "moved to " + string(tt.status)
				if err := s.SetNodeStatus(ctx, id, tt.status, reason); err != nil {
					t.Fatalf("SetNodeStatus: %v", err)
				}
				got, err := s.GetNode(ctx, id)
				if err != nil {
					t.Fatalf("GetNode: %v", err)
				}
				if got.Status != tt.status || got.StatusReason != reason {
					t.Errorf("got status %q reason %q, want %q %q", got.Status, got.StatusReason, tt.status, reason)
				}
				switch {
				case tt.wantRefresh && !about(got.UpdatedAt, before):
					t.Errorf("UpdatedAt: got %v, want about now (%v)", got.UpdatedAt, before)
				case !tt.wantRefresh && !got.UpdatedAt.Equal(start.updatedAt):
					t.Errorf("UpdatedAt: got %v, want it unchanged (%v)", got.UpdatedAt, start.updatedAt)
				}
				if !got.InitAt.Equal(past) {
					t.Errorf("InitAt: got %v, want it unchanged (%v)", got.InitAt, past)
				}
			})
		}
	}
}

func TestSetNodeStatusRejectsEmptyStatus(t *testing.T) {
	s := storetest.New(t)
	seedCluster(t, s, "c1")
	seedNode(t, s, health.Node{ID: "n1", ClusterID: "c1", Name: "n1"})
	err := s.SetNodeStatus(testContext(t), "n1", "", "x")
	if err == nil || errors.Is(err, health.ErrNotFound) {
		t.Fatalf("SetNodeStatus with empty status: got %v, want a validation error", err)
	}
}

func TestSetNodePhysicalStatus(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	seedCluster(t, s, "c1")
	past := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	seedNode(t, s, health.Node{ID: "n1", ClusterID: "c1", Name: "n1", PhysicalStatus: "ACTIVE", UpdatedAt: past})

	if err := s.SetNodePhysicalStatus(ctx, "n1", "SHUTOFF"); err != nil {
		t.Fatalf("SetNodePhysicalStatus: %v", err)
	}
	got, err := s.GetNode(ctx, "n1")
	if err != nil {
		t.Fatalf("GetNode: %v", err)
	}
	if got.PhysicalStatus != "SHUTOFF" {
		t.Errorf("PhysicalStatus: got %q, want %q", got.PhysicalStatus, "SHUTOFF")
	}
	if !got.UpdatedAt.Equal(past) {
		t.Errorf("UpdatedAt: got %v, want it unchanged (%v)", got.UpdatedAt, past)
	}
	if !about(got.PhysicalStatusAt, time.Now()) {
		t.Errorf("PhysicalStatusAt: got %v, want about now", got.PhysicalStatusAt)
	}
}

// MemberNodes answers which of the IDs are nodes of the cluster: not those
// of another cluster, nor made-up ones; the test double answers the same.
func TestMemberNodes(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	seedCluster(t, s, "c1")
	seedCluster(t, s, "c2")
	seedNode(t, s, health.Node{ID: "n1", ClusterID: "c1"})
	seedNode(t, s, health.Node{ID: "n2", ClusterID: "c1"})
	seedNode(t, s, health.Node{ID: "n3", ClusterID: "c2"})
	eng := enginetest.New(time.Now)
	eng.AddCluster(health.Cluster{ID: "c1"}, health.Node{ID: "n1"}, health.Node{ID: "n2"})
	eng.AddCluster(health.Cluster{ID: "c2"}, health.Node{ID: "n3"})
	for name, got := range map[string]func() ([]string, error){
		"store":      func() ([]string, error) { return s.MemberNodes(ctx, "c1", []string{"n2", "n3", "ghost", "n1"}) },
		"enginetest": func() ([]string, error) { return eng.MemberNodes(ctx, "c1", []string{"n2", "n3", "ghost", "n1"}) },
	} {
		ids, err := got()
		slices.Sort(ids)
		if err != nil || !slices.Equal(ids, []string{"n1", "n2"}) {
			t.Errorf("%s: got %v, %v; want n1 and n2", name, ids, err)
		}
	}
	if ids, err := s.MemberNodes(ctx, "c1", nil); err != nil || len(ids) != 0 {
		t.Errorf("no IDs: got %v, %v", ids, err)
	}
}
