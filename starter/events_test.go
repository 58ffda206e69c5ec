package main

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/store/storetest"
)

// eventsNow is the clock of the events tests; the seeded events are before it.
var eventsNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// seedEvents fills a fresh database with a timeline and returns its DSN and
// the events, oldest first.
func seedEvents(t *testing.T) (string, []health.HealthEvent) {
	t.Helper()
	dsn := storetest.DSN(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events := []health.HealthEvent{
		{ClusterID: "c1", NodeID: "n1", At: eventsNow.Add(-3 * time.Hour), From: health.Healthy, To: health.Unhealthy,
			Reason: "3 attempts failed,\nlast: 503"},
		{ClusterID: "c1", NodeID: "n1", At: eventsNow.Add(-170 * time.Minute), From: health.Unhealthy, To: health.Unhealthy,
			Reason: "recovery requested", ActionID: "a1"},
		{ClusterID: "c1", NodeID: "n2", At: eventsNow.Add(-30 * time.Minute), From: health.Healthy, To: health.Unknown, Reason: "timeout"},
		{ClusterID: "c1", NodeID: "n1", At: eventsNow.Add(-10 * time.Minute), From: health.Unhealthy, To: health.Healthy},
		{ClusterID: "c2", NodeID: "n1", At: eventsNow.Add(-time.Minute), From: health.Healthy, To: health.Unhealthy, Reason: "other cluster"},
	}
	// Newest first, so that the order shown comes from the times.
	for i := len(events) - 1; i >= 0; i-- {
		if err := st.AddHealthEvents(ctx, events[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return dsn, events[:4]
}

// eventsApp is a starter reading the database at dsn (from the environment)
// with the clock at eventsNow; it fails the test if it contacts Temporal.
func eventsApp(t *testing.T, dsn string) (*app, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	a, _ := offline(t, map[string]string{"DATABASE_URL": dsn})
	var out, errOut bytes.Buffer
	a.out, a.errOut = &out, &errOut
	a.now = func() time.Time { return eventsNow }
	return a, &out, &errOut
}

func TestEventsTable(t *testing.T) {
	dsn, _ := seedEvents(t)
	tests := []struct {
		name string
		args []string
		want []string // the lines, header first
	}{
		{"whole timeline, newest last", nil, []string{
			"TIME                     NODE  CHANGE                 ACTION  REASON",
			"2026-11-25 09:00:00 UTC  n1    healthy → unhealthy    -       3 attempts failed, last: 503",
			"2026-11-25 09:10:00 UTC  n1    unhealthy → unhealthy  a1      recovery requested",
			"2026-11-25 11:30:00 UTC  n2    healthy → unknown      -       timeout",
			"2026-11-25 11:50:00 UTC  n1    unhealthy → healthy    -       -",
		}},
		{"one node", []string{"--node", "n2"}, []string{
			"TIME                     NODE  CHANGE             ACTION  REASON",
			"2026-11-25 11:30:00 UTC  n2    healthy → unknown  -       timeout",
		}},
		{"since", []string{"--since", "1h"}, []string{
			"TIME                     NODE  CHANGE               ACTION  REASON",
			"2026-11-25 11:30:00 UTC  n2    healthy → unknown    -       timeout",
			"2026-11-25 11:50:00 UTC  n1    unhealthy → healthy  -       -",
		}},
		{"node and since", []string{"--node", "n1", "--since", "2h55m"}, []string{
			"TIME                     NODE  CHANGE                 ACTION  REASON",
			"2026-11-25 09:10:00 UTC  n1    unhealthy → unhealthy  a1      recovery requested",
			"2026-11-25 11:50:00 UTC  n1    unhealthy → healthy    -       -",
		}},
		{"nothing matches", []string{"--since", "5m"}, []string{"no health events match"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, out, errOut := eventsApp(t, dsn)
			if err := execute(a, append([]string{"events", "--cluster", "c1"}, tt.args...)...); err != nil {
				t.Fatalf("events: %v", err)
			}
			if got, want := out.String(), strings.Join(tt.want, "\n")+"\n"; got != want {
				t.Errorf("events %s:\ngot\n%s\nwant\n%s", strings.Join(tt.args, " "), got, want)
			}
			if errOut.Len() != 0 {
				t.Errorf("stderr: got %q, want nothing", errOut)
			}
		})
	}
}

func TestEventsLimitKeepsTheNewest(t *testing.T) {
	dsn, _ := seedEvents(t)
	a, out, errOut := eventsApp(t, dsn)
	if err := execute(a, "events", "--cluster", "c1", "--limit", "2"); err != nil {
		t.Fatalf("events: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "2026-11-25 11:30:00 UTC  n2") || !strings.HasPrefix(lines[2], "2026-11-25 11:50:00 UTC  n1") {
		t.Errorf("events --limit 2: got\n%s\nwant the header and the two newest events, newest last", out)
	}
	if !strings.Contains(errOut.String(), "showing the newest 2 events") {
		t.Errorf("stderr: got %q, want a note that older events may exist", errOut)
	}
}

func TestEventsJSON(t *testing.T) {
	dsn, events := seedEvents(t)
	tests := []struct {
		args []string
		want []health.HealthEvent
	}{
		{nil, events},
		{[]string{"--node", "n1"}, []health.HealthEvent{events[0], events[1], events[3]}},
		{[]string{"--since", "1h"}, events[2:]},
		{[]string{"--node", "n9"}, []health.HealthEvent{}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			a, out, _ := eventsApp(t, dsn)
			if err := execute(a, append([]string{"events", "--cluster", "c1", "--json"}, tt.args...)...); err != nil {
				t.Fatalf("events --json: %v", err)
			}
			var got []health.HealthEvent
			if err := json.Unmarshal(out.Bytes(), &got); err != nil || got == nil {
				t.Fatalf("events --json: got %q, want a JSON array (%v)", out, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events --json %s:\ngot  %+v\nwant %+v", strings.Join(tt.args, " "), got, tt.want)
			}
			if !strings.HasPrefix(out.String(), "[") || len(tt.want) > 0 && !strings.HasPrefix(out.String(), "[\n  {\n    \"cluster_id\"") {
				t.Errorf("events --json: got %q, want an indented array", out)
			}
		})
	}
}

func TestEventsBadArguments(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"events"}, nil, `required flag(s) "cluster" not set`},
		{[]string{"events", "--cluster", ""}, nil, "--cluster must not be empty"},
		{[]string{"events", "--cluster", "c1", "--node", " "}, nil, "--node must not be empty"},
		{[]string{"events", "--cluster", "c1", "--since", "soon"}, nil, `--since must be a positive Go duration such as 90m or 24h, got "soon"`},
		{[]string{"events", "--cluster", "c1", "--since", "-1h"}, nil, `--since must be a positive Go duration such as 90m or 24h, got "-1h"`},
		{[]string{"events", "--cluster", "c1", "--since", "0s"}, nil, `--since must be a positive Go duration`},
		{[]string{"events", "--cluster", "c1", "--limit", "0"}, nil, "--limit must be between 1 and 100000, got 0"},
		{[]string{"events", "--cluster", "c1", "--limit", "100001"}, nil, "--limit must be between 1 and 100000, got 100001"},
		{[]string{"events", "--cluster", "c1"}, map[string]string{"DATABASE_URL": "mysql://root:hunter2@db/x"},
			"DATABASE_URL: must be a postgres:// or postgresql:// URL"},
		{[]string{"events", "--cluster", "c1", "--database-url", "mysql://root:hunter2@db/x"}, nil,
			"DATABASE_URL: must be a postgres:// or postgresql:// URL"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			a, _ := offline(t, tt.env)
			err := execute(a, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestEventsDatabaseErrorsHideThePassword(t *testing.T) {
	dsn := "postgres://healthd:s3cret@127.0.0.1:1/healthd?sslmode=disable"
	for _, args := range [][]string{
		{"events", "--cluster", "c1"},
		{"events", "--cluster", "c1", "--database-url", dsn},
	} {
		var out, errOut bytes.Buffer
		a := newApp(&out, &errOut, func(k string) string {
			if k == "DATABASE_URL" {
				return dsn
			}
			return ""
		})
		a.timeout = 10 * time.Second
		err := execute(a, args...)
		if err == nil {
			t.Fatalf("%s: got success, want a connection error", strings.Join(args, " "))
		}
		msg := err.Error() + out.String() + errOut.String()
		if strings.Contains(msg, "s3cret") {
			t.Errorf("%s: got %q, want no password", strings.Join(args, " "), msg)
		}
		if !strings.Contains(msg, "postgres://healthd:xxxxx@127.0.0.1:1/healthd") || !strings.Contains(msg, "--database-url") {
			t.Errorf("%s: got %q, want the redacted URL and the flag to fix it", strings.Join(args, " "), msg)
		}
	}
}

func TestEventsHelpAndOtherCommands(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"events", "--help"}, &out, &out); code != 0 {
		t.Fatalf("events --help: exit %d", code)
	}
	for _, want := range []string{"--cluster", "--node", "--since", "--limit", "--json", "--database-url", "newest event comes last", "Go duration"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("events --help lacks %q; got:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"enable", "--help"}, &out, &out); code != 0 || strings.Contains(out.String(), "database-url") {
		t.Errorf("enable --help: got exit %d and\n%s\nwant no database flag", code, out.String())
	}
	// register writes the cluster's row only for --nova-project.
	out.Reset()
	if code := run(context.Background(), []string{"register", "--help"}, &out, &out); code != 0 ||
		!strings.Contains(out.String(), "--nova-project") || !strings.Contains(out.String(), "--database-url") {
		t.Errorf("register --help: got exit %d and\n%s\nwant --nova-project and the database flag", code, out.String())
	}

	// A broken DATABASE_URL concerns events only.
	file := writeFile(t, "good.yaml", goodPolicy)
	a, _ := offline(t, map[string]string{"DATABASE_URL": "mysql://root:hunter2@db/x"})
	if err := execute(a, "validate", "--policy", file); err != nil {
		t.Errorf("validate with a bad DATABASE_URL: got %v, want success", err)
	}

	// --members is checked before anything is written or started.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--members", "server-group:5bbcc3c4-1da2-4437-a48a-66f15b1b13f9"}, "--members: needs --nova-project"},
		{[]string{"--nova-project", "p1", "--members", "server-group:web"}, "--members: server-group:<ID> needs the server group's ID"},
		{[]string{"--nova-project", "p1", "--members", "tags:web"}, "--members: must be empty"},
	} {
		args := append([]string{"register", "--cluster", "c1", "--policy", file}, tc.args...)
		if err := execute(a, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", strings.Join(args, " "), err, tc.want)
		}
	}
}

// status --all-nodes lists every node with its last check from Postgres: a
// node without a record was healthy at the cluster's last sweep.
func TestStatusAllNodes(t *testing.T) {
	dsn := storetest.DSN(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.UpsertCluster(ctx, health.Cluster{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"n1", "n2"} {
		if err := st.UpsertNode(ctx, health.Node{ID: id, ClusterID: "c1", Name: "web-" + id, Status: health.NodeActive}); err != nil {
			t.Fatal(err)
		}
	}
	at := eventsNow.Add(-time.Minute)
	if err := st.RecordSweep(ctx, "c1", health.SweepSummary{At: at, Nodes: 2, Healthy: 1, Unhealthy: 1},
		[]health.CheckRecord{{NodeID: "n2", Verdict: health.Unhealthy, Reason: "503", Since: at.Add(-time.Hour), CheckedAt: at}}); err != nil {
		t.Fatal(err)
	}
	a, out, _ := eventsApp(t, dsn)
	if err := execute(a, "status", "--cluster", "c1", "--all-nodes"); err != nil {
		t.Fatalf("status --all-nodes: %v", err)
	}
	for _, want := range []string{
		"Last sweep:  2026-11-25 11:59:00 UTC (1m0s ago): 2 nodes, 1 healthy, 1 unhealthy, 0 unknown, 0 skipped",
		"web-n1  n1  ACTIVE  healthy    -",
		"web-n2  n2  ACTIVE  unhealthy  2026-11-25 10:59:00 UTC (1h1m0s ago)  2026-11-25 11:59:00 UTC (1m0s ago)  503",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q; got:\n%s", want, out.String())
		}
	}
}
