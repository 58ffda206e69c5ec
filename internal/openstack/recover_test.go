package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	th "github.com/gophercloud/gophercloud/v2/testhelper"
	fakeclient "github.com/gophercloud/gophercloud/v2/testhelper/client"

	"github.com/clusterhealth/healthd/internal/health"
)

// fakeNova is one server whose status moves as the script says: each GET
// takes the next state, the last one stays; actions are recorded.
type fakeNova struct {
	mu      sync.Mutex
	states  []map[string]any
	actions []string
	// hostState, when set, is the state of the compute service of host h1,
	// which records its updates in actions too.
	hostState string
}

func (f *fakeNova) serve(t *testing.T, fake th.FakeServer) {
	fake.Mux.HandleFunc("/v2.1/servers/s1", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		s := map[string]any{"id": "s1", "name": "web-1", "image": map[string]any{"id": "img-1"}, "tenant_id": "p1"}
		for k, v := range f.states[0] {
			s[k] = v
		}
		if len(f.states) > 1 {
			f.states = f.states[1:]
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"server": s})
	})
	fake.Mux.HandleFunc("/v2.1/os-services", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if f.hostState == "" || r.URL.Query().Get("host") != "h1" {
			fmt.Fprint(w, `{"services": []}`)
			return
		}
		fmt.Fprintf(w, `{"services": [{"id": "svc-1", "binary": "nova-compute", "host": "h1", "state": %q, "status": "enabled", "forced_down": false}]}`, f.hostState)
	})
	fake.Mux.HandleFunc("/v2.1/os-services/svc-1", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.actions = append(f.actions, "PUT "+strings.Join(strings.Fields(string(b)), ""))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"service": {"id": "svc-1", "host": "h1"}}`)
	})
	fake.Mux.HandleFunc("/v2.1/servers/s1/action", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.actions = append(f.actions, strings.Join(strings.Fields(string(b)), ""))
		f.mu.Unlock()
		if strings.Contains(string(b), "rebuild") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprint(w, `{"server": {"id": "s1"}}`)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}

// check compares what a recovery returned and asked of Nova with what the
// case wants (wantErr: a part of the error, "" for none).
func (f *fakeNova) check(t *testing.T, err error, wantErr, wantActions string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("got error %v, want none", err)
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Errorf("got error %v, want one saying %q", err, wantErr)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := strings.Join(f.actions, " "); got != wantActions {
		t.Errorf("actions: got %s, want %s", got, wantActions)
	}
}

// novaCluster is a cluster of Nova servers of project p1, the fake's.
var novaCluster = health.Cluster{ID: "c1", Project: "p1", ProfileType: health.NovaServerProfile}

func TestRecover(t *testing.T) {
	active := map[string]any{"status": "ACTIVE"}
	cases := []struct {
		name    string
		op      health.Operation
		params  map[string]any
		states  []map[string]any
		actions string
		err     string
	}{
		{"a stopped server gets a hard reboot", health.OpReboot, nil,
			[]map[string]any{{"status": "SHUTOFF"}, {"status": "HARD_REBOOT", "OS-EXT-STS:task_state": "reboot_started_hard"}, active},
			`{"reboot":{"type":"HARD"}}`, ""},
		{"soft when asked and the server is ACTIVE", health.OpReboot, map[string]any{"type": "soft"},
			[]map[string]any{active, {"status": "REBOOT", "OS-EXT-STS:task_state": "rebooting"}, active},
			`{"reboot":{"type":"SOFT"}}`, ""},
		{"a soft reboot that hangs is followed by a hard one", health.OpReboot, map[string]any{"type": "SOFT"},
			append([]map[string]any{active}, repeat(map[string]any{"status": "REBOOT", "OS-EXT-STS:task_state": "rebooting"}, 40)...),
			`{"reboot":{"type":"SOFT"}} {"reboot":{"type":"HARD"}}`, "hard reboot: not done in time: server s1 is still"},
		{"a reboot under way is waited for, not asked again", health.OpReboot, nil,
			[]map[string]any{{"status": "HARD_REBOOT", "OS-EXT-STS:task_state": "rebooting_hard"}, active}, "", ""},
		{"rebuild from the server's image", health.OpRebuild, nil,
			[]map[string]any{{"status": "ERROR"}, {"status": "REBUILD", "OS-EXT-STS:task_state": "rebuilding"}, active},
			`{"rebuild":{"imageRef":"img-1"}}`, ""},
		{"rebuild from the image asked for", health.OpRebuild, map[string]any{"image": "img-2"},
			[]map[string]any{active, active}, `{"rebuild":{"imageRef":"img-2"}}`, ""},
		{"ERROR fails with Nova's fault", health.OpReboot, nil,
			[]map[string]any{{"status": "SHUTOFF"}, {"status": "ERROR", "fault": map[string]any{"message": "No valid host was found.", "code": 500}}},
			`{"reboot":{"type":"HARD"}}`, "server s1 is ERROR: No valid host was found."},
		{"EVACUATE is not done yet", health.Operation("EVACUATE"), nil, []map[string]any{active}, "", "does REBOOT, REBUILD and RECREATE so far"},
		{"a bad reboot type", health.OpReboot, map[string]any{"type": "gentle"}, []map[string]any{active}, "", `must be SOFT or HARD, got "GENTLE"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := th.SetupHTTP()
			defer fake.Teardown()
			nova := &fakeNova{states: tc.states}
			nova.serve(t, fake)
			compute := fakeclient.ServiceClient(fake)
			compute.Endpoint = fake.Endpoint() + "v2.1/"
			r := Recoverer{Cloud: &Cloud{Compute: compute}, Poll: time.Millisecond, SoftWait: 20 * time.Millisecond, Wait: time.Second}
			if strings.Contains(tc.name, "hangs") {
				r.Wait = 60 * time.Millisecond
			}
			err := r.Recover(context.Background(), novaCluster, health.Action{ID: "a1", Params: health.RecoverParams{Operation: tc.op, OperationParams: tc.params}},
				health.Node{ID: "n1", PhysicalID: "s1"})
			nova.check(t, err, tc.err, tc.actions)
		})
	}
}

func repeat(s map[string]any, n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// A server whose compute host is down is evacuated, whatever the operation,
// after the host is fenced when the policy says COMPUTE (an admin's view:
// other credentials see no host and never evacuate).
func TestRecoverEvacuates(t *testing.T) {
	onH1 := map[string]any{"status": "ACTIVE", "OS-EXT-SRV-ATTR:host": "h1"}
	onH2 := map[string]any{"status": "ACTIVE", "OS-EXT-SRV-ATTR:host": "h2"}
	rebuilding := map[string]any{"status": "REBUILD", "OS-EXT-STS:task_state": "rebuilding", "OS-EXT-SRV-ATTR:host": "h2"}
	cases := []struct {
		name    string
		op      health.Operation
		host    string // the state of the server's host h1
		fencing []string
		states  []map[string]any
		actions string
		err     string
	}{
		{name: "a server of a host that is down is evacuated, the host fenced first", op: health.OpRecreate, host: "down",
			fencing: []string{FenceCompute}, states: []map[string]any{onH1, rebuilding, onH2, onH2},
			actions: `PUT {"forced_down":true} PUT {"disabled_reason":"fencedbyhealthdbeforeevacuatingservers1","status":"disabled"} {"evacuate":{}}`},
		{name: "without fencing, evacuated only", op: health.OpReboot, host: "down", states: []map[string]any{onH1, rebuilding, onH2, onH2},
			actions: `{"evacuate":{}}`},
		{name: "an evacuation that leaves the server on its host fails", op: health.OpReboot, host: "down", states: []map[string]any{onH1},
			actions: `{"evacuate":{}}`, err: "server s1 is still ACTIVE on host h1"},
		{name: "a host that is up: the operation itself", op: health.OpReboot, host: "up",
			states: []map[string]any{{"status": "SHUTOFF", "OS-EXT-SRV-ATTR:host": "h1"}, onH1}, actions: `{"reboot":{"type":"HARD"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := th.SetupHTTP()
			defer fake.Teardown()
			nova := &fakeNova{states: tc.states, hostState: tc.host}
			nova.serve(t, fake)
			compute := fakeclient.ServiceClient(fake)
			compute.Endpoint = fake.Endpoint() + "v2.1/"
			r := Recoverer{Cloud: &Cloud{Compute: compute}, Poll: time.Millisecond, Wait: time.Second}
			err := r.Recover(context.Background(), novaCluster, health.Action{ID: "a1", Params: health.RecoverParams{Operation: tc.op, Fencing: tc.fencing}},
				health.Node{ID: "n1", PhysicalID: "s1"})
			nova.check(t, err, tc.err, tc.actions)
		})
	}
}

// The driver acts only on clusters of Nova servers, and only on a server of
// the cluster's project: a node's physical_id cannot point it at another
// tenant's server.
func TestRecoverStaysInTheCluster(t *testing.T) {
	for _, tc := range []struct {
		name string
		cl   health.Cluster
		op   health.Operation
		err  string
	}{
		{"a cluster of Heat stacks", health.Cluster{ID: "c2", Project: "p1", ProfileType: "os.heat.stack-1.0"}, health.OpReboot, "is not one of Nova servers"},
		{"a server of another project", health.Cluster{ID: "c3", Project: "p2", ProfileType: health.NovaServerProfile}, health.OpReboot, `is not of the cluster's project "p2"`},
		// Heat would go on naming a server the driver deleted.
		{"RECREATE of a Heat stack's server", health.Cluster{ID: "c4", Project: "p1", ProfileType: health.NovaServerProfile,
			Members: "heat-stack:web/629a32d0-ac4f-4f63-b58d-f0d047b1ba4c"}, health.OpRecreate, "is a resource of Heat stack web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := th.SetupHTTP()
			defer fake.Teardown()
			nova := &fakeNova{states: []map[string]any{{"status": "SHUTOFF"}}}
			nova.serve(t, fake)
			compute := fakeclient.ServiceClient(fake)
			compute.Endpoint = fake.Endpoint() + "v2.1/"
			r := Recoverer{Cloud: &Cloud{Compute: compute}, Poll: time.Millisecond, Wait: time.Second}
			err := r.Recover(context.Background(), tc.cl, health.Action{Params: health.RecoverParams{Operation: tc.op}},
				health.Node{ID: "n1", PhysicalID: "s1"})
			nova.check(t, err, tc.err, "")
		})
	}
}

// A RECREATE whose new server goes to ERROR deletes that server and leaves
// the old one: failed recoveries must not pile up servers claiming the node.
func TestRecreateDeletesAFailedReplacement(t *testing.T) {
	for _, tc := range []struct {
		name    string
		s2      map[string]any // the replacement's state
		wait    time.Duration
		err     string
		actions string
	}{
		{"replacement ERROR", map[string]any{"status": "ERROR", "fault": map[string]any{"message": "No valid host was found."}}, time.Second,
			"server s2 is ERROR: No valid host was found.; the failed replacement s2 was deleted, server s1 is left as it was",
			"POST /servers DELETE /servers/s2"},
		{"replacement never ACTIVE", map[string]any{"status": "BUILD", "OS-EXT-STS:task_state": "spawning"}, 50 * time.Millisecond,
			"not done in time: server s2 is still BUILD", "POST /servers DELETE /servers/s2"},
		{"replacement ACTIVE", map[string]any{"status": "ACTIVE"}, time.Second, "", "POST /servers DELETE /servers/s1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := th.SetupHTTP()
			defer fake.Teardown()
			var mu sync.Mutex
			var actions []string
			record := func(a string) { mu.Lock(); actions = append(actions, a); mu.Unlock() }
			reply := func(w http.ResponseWriter, code int, body any) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(code)
				_ = json.NewEncoder(w).Encode(body)
			}
			old := map[string]any{"id": "s1", "name": "web-1", "tenant_id": "p1", "status": "SHUTOFF", "image": map[string]any{"id": "img-1"},
				"flavor": map[string]any{"id": "f-1"}, "metadata": map[string]any{"cluster_node_id": "n1"}}
			fake.Mux.HandleFunc("/v2.1/servers/detail", func(w http.ResponseWriter, r *http.Request) {
				reply(w, 200, map[string]any{"servers": []any{old}})
			})
			fake.Mux.HandleFunc("/v2.1/servers", func(w http.ResponseWriter, r *http.Request) {
				record(r.Method + " /servers")
				reply(w, 202, map[string]any{"server": map[string]any{"id": "s2"}})
			})
			fake.Mux.HandleFunc("/v2.1/servers/s1", func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodDelete {
					record("DELETE /servers/s1")
					w.WriteHeader(204)
					return
				}
				reply(w, 200, map[string]any{"server": old})
			})
			fake.Mux.HandleFunc("/v2.1/servers/s2", func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodDelete {
					record("DELETE /servers/s2")
					w.WriteHeader(204)
					return
				}
				s := map[string]any{"id": "s2", "name": "web-1", "tenant_id": "p1"}
				for k, v := range tc.s2 {
					s[k] = v
				}
				reply(w, 200, map[string]any{"server": s})
			})
			fake.Mux.HandleFunc("/v2.1/os-services", func(w http.ResponseWriter, r *http.Request) {
				reply(w, 200, map[string]any{"services": []any{}})
			})
			compute := fakeclient.ServiceClient(fake)
			compute.Endpoint = fake.Endpoint() + "v2.1/"
			r := Recoverer{Cloud: &Cloud{Compute: compute}, Poll: time.Millisecond, Wait: tc.wait}
			err := r.Recover(context.Background(), novaCluster, health.Action{ID: "a1", Params: health.RecoverParams{Operation: health.OpRecreate}},
				health.Node{ID: "n1", PhysicalID: "s1"})
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("got error %v, want one saying %q", err, tc.err)
			}
			mu.Lock()
			defer mu.Unlock()
			if got := strings.Join(actions, " "); got != tc.actions {
				t.Errorf("calls: got %s, want %s", got, tc.actions)
			}
		})
	}
}

// An executor stopped while its replacement builds leaves it to the executor
// that takes the action over.
func TestRecreateStoppedLeavesTheReplacement(t *testing.T) {
	fake := th.SetupHTTP()
	defer fake.Teardown()
	var deleted atomic.Bool
	old := map[string]any{"id": "s1", "name": "web-1", "tenant_id": "p1", "status": "SHUTOFF", "image": map[string]any{"id": "img-1"},
		"flavor": map[string]any{"id": "f-1"}}
	reply := func(w http.ResponseWriter, body any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}
	fake.Mux.HandleFunc("/v2.1/servers/detail", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"servers": []any{old, map[string]any{"id": "s2", "name": "web-1", "metadata": map[string]any{MetaReplaces: "s1"}}}})
	})
	fake.Mux.HandleFunc("/v2.1/servers/s1", func(w http.ResponseWriter, r *http.Request) { reply(w, map[string]any{"server": old}) })
	fake.Mux.HandleFunc("/v2.1/servers/s2", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			deleted.Store(true)
		}
		reply(w, map[string]any{"server": map[string]any{"id": "s2", "status": "BUILD", "tenant_id": "p1"}})
	})
	fake.Mux.HandleFunc("/v2.1/os-services", func(w http.ResponseWriter, r *http.Request) { reply(w, map[string]any{"services": []any{}}) })
	compute := fakeclient.ServiceClient(fake)
	compute.Endpoint = fake.Endpoint() + "v2.1/"
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	stop, stopNow := context.WithCancel(context.Background())
	go func() { <-ctx.Done(); stopNow() }()
	defer cancel()
	r := Recoverer{Cloud: &Cloud{Compute: compute}, Poll: time.Millisecond, Wait: time.Minute}
	err := r.Recover(stop, novaCluster, health.Action{ID: "a1", Params: health.RecoverParams{Operation: health.OpRecreate}},
		health.Node{ID: "n1", PhysicalID: "s1"})
	if err == nil || deleted.Load() {
		t.Errorf("stopped while the replacement builds: got error %v, deleted %v; want an error and the replacement kept", err, deleted.Load())
	}
}
