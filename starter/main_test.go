package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/temporalclient"
	"github.com/clusterhealth/healthd/internal/triage"
	"github.com/clusterhealth/healthd/workflows"
)

const goodPolicy = `
type: senlin.policy.health
version: 1.1
properties:
  detection:
    interval: 120
    detection_modes:
      - type: NODE_STATUS_POLL_URL
        options:
          poll_url: "http://{nodename}:8080/healthz"
  recovery:
    actions:
      - name: RECREATE
`

const badPolicy = `
type: senlin.policy.health
version: 1.3
properties:
  detection:
    interval: 10
    detection_modes:
      - type: NODE_STATUS_POLL_URL
        options:
          poll_url: "ftp://x"
  recovery:
    actions:
      - name: REBOOTT
`

// badPolicyPaths are the field paths of every problem of badPolicy.
var badPolicyPaths = []string{
	"version",
	"properties.detection.interval",
	"properties.detection.detection_modes[0].options.poll_url",
	"properties.recovery.actions[0].name",
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// offline is a starter that fails the test if it tries to reach Temporal.
func offline(t *testing.T, env map[string]string) (*app, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	a := newApp(&out, &out, func(k string) string { return env[k] })
	a.dial = func(context.Context, temporalclient.Config) (*healthclient.Client, func(), error) {
		t.Error("the command contacted Temporal, want it to fail before")
		return nil, nil, context.Canceled
	}
	return a, &out
}

// execute runs the command line on a and returns its error.
func execute(a *app, args ...string) error {
	cmd := a.rootCmd()
	cmd.SetArgs(args)
	return cmd.ExecuteContext(context.Background())
}

func TestValidateGoodPolicy(t *testing.T) {
	file := writeFile(t, "good.yaml", goodPolicy)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"validate", "--policy", file, "--cluster", "c1"}, &out, &errOut); code != 0 {
		t.Fatalf("exit status: got %d, want 0; stderr:\n%s", code, errOut.String())
	}
	var reg health.Registration
	if err := json.Unmarshal(out.Bytes(), &reg); err != nil {
		t.Fatalf("output is not a registration: %v\n%s", err, out.String())
	}
	if reg.ClusterID != "c1" || reg.Interval != 120 || reg.IntervalMax != 3600 || reg.NodeUpdateTimeout != 300 {
		t.Errorf("registration: got cluster %q interval %d max %d grace %d, want c1 120 3600 300",
			reg.ClusterID, reg.Interval, reg.IntervalMax, reg.NodeUpdateTimeout)
	}
	if len(reg.DetectionModes) != 1 || reg.DetectionModes[0].PollURLRetryLimit != 3 || !reg.DetectionModes[0].PollURLSSLVerify {
		t.Errorf("detection modes: got %+v, want one with Senlin's defaults filled in", reg.DetectionModes)
	}
	if !strings.HasPrefix(out.String(), "{\n  \"cluster_id\"") {
		t.Errorf("output: got %q, want indented JSON", out.String())
	}
}

func TestValidateBadPolicy(t *testing.T) {
	file := writeFile(t, "bad.yaml", badPolicy)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"validate", "--policy", file}, &out, &errOut); code != 1 {
		t.Fatalf("exit status: got %d, want 1", code)
	}
	if out.Len() != 0 {
		t.Errorf("stdout: got %q, want nothing", out.String())
	}
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	if len(lines) != 1+len(badPolicyPaths) {
		t.Fatalf("stderr: got %d lines, want a heading and one line per problem (%d):\n%s", len(lines), len(badPolicyPaths), errOut.String())
	}
	if !strings.Contains(lines[0], file) {
		t.Errorf("first line: got %q, want the file name in it", lines[0])
	}
	for i, path := range badPolicyPaths {
		if got := strings.TrimSpace(lines[i+1]); !strings.HasPrefix(got, path+": ") {
			t.Errorf("problem %d: got %q, want it to start with %q", i, got, path+": ")
		}
	}
}

func TestValidateUsesConfiguredLimits(t *testing.T) {
	file := writeFile(t, "good.yaml", goodPolicy) // interval 120
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"minimum from the environment", map[string]string{"HEALTH_CHECK_INTERVAL_MIN": "300"}, nil,
			"properties.detection.interval: Specified interval of 120 seconds has to be larger than health_check_interval_min of 300"},
		{"flag overrides the environment", map[string]string{"HEALTH_CHECK_INTERVAL_MIN": "300"},
			[]string{"--health-check-interval-min", "60"}, ""},
		{"unparsable environment", map[string]string{"HEALTH_CHECK_INTERVAL_MIN": "abc"}, nil,
			`HEALTH_CHECK_INTERVAL_MIN: must be a positive integer, got "abc" (or flag --health-check-interval-min)`},
		{"flag replaces an unparsable environment", map[string]string{"HEALTH_CHECK_INTERVAL_MIN": "abc"},
			[]string{"--health-check-interval-min", "60"}, ""},
		{"unrelated bad setting is not reported", map[string]string{"AMQP_URL": "http://x", "TEMPORAL_ADDRESS": "nope"}, nil, ""},
		{"maximum below minimum", nil, []string{"--check-interval-max", "30"}, "CHECK_INTERVAL_MAX: must not be below HEALTH_CHECK_INTERVAL_MIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, out := offline(t, tt.env)
			err := execute(a, append(tt.args, "validate", "--policy", file)...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got error %v, want one containing %q; output:\n%s", err, tt.wantErr, out)
			}
		})
	}
}

func TestRegisterBadPolicyContactsNoServer(t *testing.T) {
	file := writeFile(t, "bad.yaml", badPolicy)
	a, out := offline(t, nil)
	err := execute(a, "register", "--cluster", "c1", "--policy", file)
	if err == nil {
		t.Fatal("got success, want the policy's problems")
	}
	for _, path := range badPolicyPaths {
		if !strings.Contains(err.Error(), "\n  "+path+": ") {
			t.Errorf("error: got %q, want a line for %s", err, path)
		}
	}
	if out.Len() != 0 {
		t.Errorf("output: got %q, want nothing", out)
	}

	// Through run, with no Temporal server anywhere: exit 1, the problems, and
	// no word about connecting.
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--temporal-address", "127.0.0.1:1", "register", "--cluster", "c1", "--policy", file}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "properties.detection.interval") || strings.Contains(stderr.String(), "connect") {
		t.Errorf("run: got exit %d, stderr %q, want 1 with the policy's problems only", code, stderr.String())
	}
}

func TestBadArgumentsContactNoServer(t *testing.T) {
	good := writeFile(t, "good.yaml", goodPolicy)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"register", "--policy", good}, `required flag(s) "cluster" not set`},
		{[]string{"register", "--cluster", " ", "--policy", good}, "--cluster must not be empty"},
		{[]string{"register", "--cluster", "c1", "--policy", filepath.Join(t.TempDir(), "missing.yaml")}, "read policy"},
		{[]string{"disable", "--cluster", "c1", "--for", "0s"}, "--for must be a duration of at least 1s"},
		{[]string{"disable", "--cluster", "c1", "--for", "-5m"}, "--for must be a duration of at least 1s"},
		{[]string{"disable", "--cluster", "c1", "--for", "soon"}, `invalid argument "soon" for "--for" flag`},
		{[]string{"recover", "--cluster", "c1"}, `required flag(s) "node" not set`},
		{[]string{"recover", "--cluster", "c1", "--node", ""}, "--node must not be empty"},
		{[]string{"list", "--state", "sick"}, `--state "sick" is not a health state: use one of healthy, degraded`},
		{[]string{"list", "--enabled", "--disabled"}, "none of the others can be"},
		{[]string{"status", "--cluster", "c1", "extra"}, `unknown command "extra"`},
		{[]string{"--temporal-address", "nohost", "status", "--cluster", "c1"}, "must be host:port"},
		{[]string{"--timeout", "0s", "status", "--cluster", "c1"}, "--timeout must be a positive duration"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			a, _ := offline(t, nil)
			err := execute(a, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConnectionErrorNamesTheAddress(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--temporal-address", "127.0.0.1:1", "--timeout", "5s", "status", "--cluster", "c1"}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit status: got %d, want 1", code)
	}
	for _, want := range []string{"127.0.0.1:1", "is the Temporal server running", "--temporal-address"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr: got %q, want %q in it", errOut.String(), want)
		}
	}
}

func TestHelpExplainsEveryCommand(t *testing.T) {
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{})
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" || c.Hidden {
			continue
		}
		if c.Short == "" || c.Long == "" || !strings.Contains(c.Example, "starter "+c.Name()) {
			t.Errorf("%s: got short %q, long %d bytes, example %q, want all three", c.Name(), c.Short, len(c.Long), c.Example)
		}
	}
}

func TestWriteStatus(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	reg := health.Registration{ClusterID: "c1", Interval: 60, NodeUpdateTimeout: 300,
		DetectionModes: []health.DetectionMode{{Type: health.NodeStatusPollURL}}, Recovery: health.RecoveryAction{Name: health.OpRecreate}}
	st := workflows.Status{
		ClusterID: "c1", Registration: reg, Enabled: false, EnabledNote: "disabled by alice: upgrade",
		DisabledUntil: now.Add(30 * time.Minute), State: workflows.StateDisabled,
		LastRound: now.Add(-90 * time.Second), Runs: 2, Rules: "event-burst",
		Counters: workflows.Counters{Rounds: 12, MissedRounds: 1, Healthy: 20, Unhealthy: 1, RecoveriesRequested: 2, RecoveriesSucceeded: 1},
		Nodes: []workflows.NodeStatus{
			{ID: "n1", NodeState: workflows.NodeState{Name: "web-1", Status: "ACTIVE", Verdict: health.Healthy, Since: now.Add(-time.Hour)}},
			{ID: "n2", NodeState: workflows.NodeState{Name: "web-2", Status: "ACTIVE", Verdict: health.Unhealthy,
				Reason: "3 attempts failed,\nlast: 503", Since: now.Add(-2 * time.Minute)}, Recovering: true},
		},
		InFlight: []workflows.Recovery{{NodeID: "n2", NodeName: "web-2", ActionID: "a2", Source: "poll", Requested: now.Add(-time.Minute), Deadline: now.Add(4 * time.Minute)}},
		Recent:   []workflows.Recovery{{NodeID: "n3", ActionID: "a1", Source: "operator", Outcome: "SUCCEEDED", Finished: now.Add(-time.Hour)}},
	}
	var b bytes.Buffer
	if err := writeStatus(&b, st, now); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"Workflow:          cluster-health/c1 (continued as new 1 times)",
		"Rules:             event-burst, older than the current " + triage.Current.String() + ": this run keeps them until it continues as new",
		"State:             disabled",
		"Checks:            disabled (disabled by alice: upgrade)",
		"Disabled until:    2026-11-25 12:30:00 UTC (in 30m0s)",
		"Policy:            NODE_STATUS_POLL_URL every 60s, grace 300s, RECREATE",
		"Last round:        2026-11-25 11:58:30 UTC (1m30s ago)",
		"Next round:        none scheduled",
		"Rounds:            12 (missed 1, failed 0)",
		"Nodes (2)",
		"web-2  n2  ACTIVE  unhealthy (recovering)  2026-11-25 11:58:00 UTC (2m0s ago)    3 attempts failed, last: 503",
		"Recoveries in flight (1)",
		"web-2  a2      poll    2026-11-25 11:59:00 UTC (1m0s ago)",
		"Recent recoveries (1)",
		"n3    a1      operator  SUCCEEDED",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status output lacks %q; got:\n%s", want, got)
		}
	}
}

func TestWriteList(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	if err := writeList(&b, nil, now); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "no registered clusters match\n" {
		t.Errorf("empty list: got %q", got)
	}
	b.Reset()
	entries := []healthclient.ListEntry{{ClusterID: "c1", RunID: "r1", State: "degraded", Enabled: true, UnhealthyNodes: 2, StartTime: now.Add(-time.Hour)}}
	if err := writeList(&b, entries, now); err != nil {
		t.Fatal(err)
	}
	want := "CLUSTER  STATE     CHECKS   UNHEALTHY  RUN STARTED                           RUN ID\n" +
		"c1       degraded  enabled  2          2026-11-25 11:00:00 UTC (1h0m0s ago)  r1\n"
	if got := b.String(); got != want {
		t.Errorf("list:\ngot\n%s\nwant\n%s", got, want)
	}
}

// The status says why requests were ignored, which recoveries are overdue and
// how the worker's interval limits changed the policy.
func TestWriteStatusExplainsHeldBackWork(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	reg := health.Registration{ClusterID: "c1", Interval: 60, NodeUpdateTimeout: 300,
		DetectionModes: []health.DetectionMode{{Type: health.NodeStatusPollURL}}, Recovery: health.RecoveryAction{Name: health.OpRecreate}}
	st := workflows.Status{
		ClusterID: "c1", Registration: reg, Enabled: true, State: workflows.StateRecovering,
		LimitsNote: "interval 5 s is below the worker's HEALTH_CHECK_INTERVAL_MIN of 60 s; rounds run every 60 s",
		Counters: workflows.Counters{RecoverSignals: 3, SignalsIgnored: 2, RecoveriesTimedOut: 1,
			SignalsIgnoredBy: map[string]int64{triage.ReasonNoLifecycle: 1, triage.ReasonDuplicate: 1}},
		LastIgnored: &workflows.IgnoredRequest{At: now.Add(-time.Minute), NodeID: "n1", Source: "nova",
			Reason: triage.ReasonNoLifecycle, Detail: "a nova notification, but the cluster's policy has no LIFECYCLE_EVENTS detection mode"},
		InFlight: []workflows.Recovery{{NodeID: "n2", NodeName: "web-2", ActionID: "a2", Source: "poll", Requested: now.Add(-10 * time.Minute),
			Deadline: now.Add(-5 * time.Minute), Overdue: true}},
		Recent: []workflows.Recovery{{NodeID: "n3", ActionID: "a1", Source: "poll", Outcome: "SUCCEEDED", Overdue: true, Finished: now.Add(-time.Hour)}},
	}
	var b bytes.Buffer
	if err := writeStatus(&b, st, now); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"Interval limits:   interval 5 s is below the worker's HEALTH_CHECK_INTERVAL_MIN of 60 s; rounds run every 60 s",
		"Recoveries:        requested 0, succeeded 0, failed 0, overdue 1, skipped 0",
		"Recover requests:  3 received, 2 ignored (duplicate_message_id 1, no_lifecycle_events 1)",
		"Last ignored:      2026-11-25 11:59:00 UTC (1m0s ago): nova request for node n1: a nova notification, but the cluster's policy has no LIFECYCLE_EVENTS detection mode",
		"OVERDUE since 2026-11-25 11:55:00 UTC (5m0s ago), still watched",
		"SUCCEEDED (overdue)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status output lacks %q; got:\n%s", want, got)
		}
	}
}

// The status says why recoveries are held, cluster-wide and per node.
func TestWriteStatusShowsDecisions(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	reg := health.Registration{ClusterID: "c1", Interval: 60, NodeUpdateTimeout: 300,
		DetectionModes: []health.DetectionMode{{Type: health.NodeStatusPollURL}}, Recovery: health.RecoveryAction{Name: health.OpRecreate}}
	held := "held: 5 of 10 unhealthy, above max_unhealthy 40% (at most 4); recoveries resume once the cluster is back under it"
	st := workflows.Status{
		ClusterID: "c1", Registration: reg, Enabled: true, State: workflows.StateDegraded,
		Hold:  &workflows.NodeDecision{Decision: triage.Decision{Action: triage.Hold, Reason: triage.ReasonMaxUnhealthy, Detail: held}, At: now.Add(-5 * time.Minute)},
		Nodes: []workflows.NodeStatus{{ID: "n1", NodeState: workflows.NodeState{Name: "web-1", Verdict: health.Unhealthy}}},
		Decisions: []workflows.NodeDecision{
			{Decision: triage.Decision{NodeID: "n1", Action: triage.Hold, Reason: triage.ReasonMaxUnhealthy, Detail: held}, At: now.Add(-5 * time.Minute)},
			{Decision: triage.Decision{NodeID: "n7", Action: triage.Recover, Operation: health.OpReboot, DryRun: true, Reason: triage.ReasonUnhealthy,
				Detail: "dry run, not requested: 503"}, At: now.Add(-time.Minute)},
		},
	}
	var b bytes.Buffer
	if err := writeStatus(&b, st, now); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"Recoveries:        HELD since 2026-11-25 11:55:00 UTC (5m0s ago): " + held,
		"Decisions (2 nodes not plainly healthy)",
		"web-1  hold                      max_unhealthy",
		"n7     recover REBOOT (dry run)  unhealthy",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status output lacks %q; got:\n%s", want, got)
		}
	}
}
