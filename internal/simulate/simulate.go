// Package simulate runs the real ClusterHealth workflow in the Temporal SDK's
// time-skipping test environment, over an in-memory engine whose node health
// and recovery outcomes follow a scenario file, and returns the decision
// timeline: what healthd would do, and why, over hours of simulated time in
// a second or so. `starter simulate` prints it; the shipped scenarios are
// workflow tests too.
package simulate

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
	"go.yaml.in/yaml/v3"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/testkit/enginetest"
	"github.com/clusterhealth/healthd/workflows"
)

//go:embed scenarios/*.yaml
var shipped embed.FS

// Scenario is a timeline of what happens to a cluster's nodes and what its
// operators do. Node names are web-1 .. web-N.
type Scenario struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Nodes is the cluster's node count.
	Nodes int `yaml:"nodes"`
	// Duration is how long the simulation runs.
	Duration Duration `yaml:"duration"`
	// Policy is a Senlin health policy spec, when the scenario carries its
	// own; a --policy file replaces it.
	Policy yaml.Node `yaml:"policy"`
	Steps  []Step    `yaml:"steps"`
	// Expect, when set, is what the timeline must show (checked by tests and
	// by `starter simulate --check`).
	Expect *Expect `yaml:"expect"`
}

// Step is what happens at one time.
type Step struct {
	At Duration `yaml:"at"`
	// Fail and Mend switch nodes' health checks to failing and passing.
	Fail []string `yaml:"fail"`
	Mend []string `yaml:"mend"`
	// RecoveryFails makes the nodes' recoveries fail from now on;
	// RecoveryWorks makes them work again.
	RecoveryFails []string `yaml:"recovery_fails"`
	RecoveryWorks []string `yaml:"recovery_works"`
	// Notify sends, for each node, a lifecycle notification that its
	// server stopped, as the signal bridge does for Nova's power_off.end
	// (list a node twice for Nova's two formats); NotifyBack says its
	// server is active again (power_on.end).
	Notify     []string `yaml:"notify"`
	NotifyBack []string `yaml:"notify_back"`
	// Disable and Enable pause and resume checks, as `starter disable` and
	// `starter enable` do.
	Disable *Pause `yaml:"disable"`
	Enable  *Pause `yaml:"enable"`
	// Approve, Deny, Clear and Maintain are operator updates.
	Approve  *NodeAction `yaml:"approve"`
	Deny     *NodeAction `yaml:"deny"`
	Clear    *NodeAction `yaml:"clear"`
	Maintain *NodeAction `yaml:"maintain"`
}

// Pause is a disable or enable.
type Pause struct {
	Requester  string   `yaml:"requester"`
	Reason     string   `yaml:"reason"`
	For        Duration `yaml:"for"`
	Indefinite bool     `yaml:"indefinite"`
}

// NodeAction is an operator update about one node.
type NodeAction struct {
	Node      string   `yaml:"node"`
	Requester string   `yaml:"requester"`
	Reason    string   `yaml:"reason"`
	For       Duration `yaml:"for"`
	End       bool     `yaml:"end"`
}

// Expect is what a scenario's timeline must show.
type Expect struct {
	// Recoveries is the number of recovery actions asked of the engine.
	Recoveries *int `yaml:"recoveries"`
	// Operations, when set, are their operations in order.
	Operations []string `yaml:"operations"`
	// Contains are lines the printed timeline must contain.
	Contains []string `yaml:"contains"`
}

// Duration is a Go duration in YAML ("5m", "1h30m").
type Duration time.Duration

// UnmarshalYAML reads a Go duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration such as 90s, 5m or 1h30m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Shipped lists the names of the scenarios that come with healthd.
func Shipped() []string {
	entries, _ := shipped.ReadDir("scenarios")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return names
}

// LoadShipped reads a shipped scenario by name.
func LoadShipped(name string) (Scenario, error) {
	data, err := shipped.ReadFile(path.Join("scenarios", name+".yaml"))
	if err != nil {
		return Scenario{}, fmt.Errorf("scenario %q: not shipped (shipped: %s)", name, strings.Join(Shipped(), ", "))
	}
	return Parse(data)
}

// Parse reads a scenario file and checks it: every problem at once, each
// naming its step and field.
func Parse(data []byte) (Scenario, error) {
	var sc Scenario
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil && !errors.Is(err, io.EOF) {
		return Scenario{}, fmt.Errorf("scenario: %w", err)
	}
	var errs []error
	if sc.Nodes < 1 || sc.Nodes > 10000 {
		errs = append(errs, fmt.Errorf("nodes: must be from 1 to 10000, got %d", sc.Nodes))
	}
	if sc.Duration <= 0 || time.Duration(sc.Duration) > 31*24*time.Hour {
		errs = append(errs, fmt.Errorf("duration: must be above 0 and at most 31 days, got %s", time.Duration(sc.Duration)))
	}
	for i, st := range sc.Steps {
		if st.At > sc.Duration {
			errs = append(errs, fmt.Errorf("steps[%d].at: %s is after the scenario's duration %s", i, time.Duration(st.At), time.Duration(sc.Duration)))
		}
		for field, names := range map[string][]string{"fail": st.Fail, "mend": st.Mend, "recovery_fails": st.RecoveryFails, "recovery_works": st.RecoveryWorks,
			"notify": st.Notify, "notify_back": st.NotifyBack} {
			for _, n := range names {
				if !sc.hasNode(n) {
					errs = append(errs, fmt.Errorf("steps[%d].%s: no node %q (nodes are web-1 to web-%d)", i, field, n, sc.Nodes))
				}
			}
		}
		for field, a := range map[string]*NodeAction{"approve": st.Approve, "deny": st.Deny, "clear": st.Clear, "maintain": st.Maintain} {
			if a != nil && !sc.hasNode(a.Node) {
				errs = append(errs, fmt.Errorf("steps[%d].%s.node: no node %q (nodes are web-1 to web-%d)", i, field, a.Node, sc.Nodes))
			}
		}
	}
	if len(errs) > 0 {
		return Scenario{}, fmt.Errorf("scenario %s: %w", sc.Name, errors.Join(errs...))
	}
	return sc, nil
}

func (sc Scenario) hasNode(name string) bool {
	var i int
	_, err := fmt.Sscanf(name, "web-%d", &i)
	return err == nil && i >= 1 && i <= sc.Nodes && name == fmt.Sprintf("web-%d", i)
}

// Registration is the scenario's own policy as a registration, if it has one.
func (sc Scenario) Registration() (health.Registration, bool, error) {
	if sc.Policy.Kind == 0 {
		return health.Registration{}, false, nil
	}
	data, err := yaml.Marshal(&sc.Policy)
	if err != nil {
		return health.Registration{}, false, fmt.Errorf("scenario %s: policy: %w", sc.Name, err)
	}
	p, err := health.ParsePolicy(data, health.Limits{})
	if err != nil {
		return health.Registration{}, false, fmt.Errorf("scenario %s: policy: %w", sc.Name, err)
	}
	return p.Registration(ClusterID), true, nil
}

// ClusterID is the simulated cluster's ID.
const ClusterID = "simulated"

// Entry is one line of the timeline.
type Entry struct {
	// At is the time since the simulation started.
	At     time.Duration `json:"at"`
	Node   string        `json:"node,omitempty"`
	What   string        `json:"what"`
	Detail string        `json:"detail,omitempty"`
}

// Result is a simulation's outcome.
type Result struct {
	Timeline []Entry
	// Actions are the recovery actions asked of the engine, in order.
	Actions []health.Action
	// Status is the workflow's status at the end.
	Status workflows.Status
}

// start is the simulated clock's origin: on the cluster's phase, so that
// its rounds fall at whole intervals of the timeline (every interval that
// divides a day).
var start = workflows.PhaseOrigin(ClusterID, 24*time.Hour, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

// Run simulates the scenario under the registration.
func Run(reg health.Registration, sc Scenario) (Result, error) {
	reg.ClusterID = ClusterID
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.WorkflowID(ClusterID)})
	env.SetStartTime(start)
	engine := enginetest.New(env.Now)
	var nodes []health.Node
	for i := 1; i <= sc.Nodes; i++ {
		name := fmt.Sprintf("web-%d", i)
		nodes = append(nodes, health.Node{ID: name, Name: name, PhysicalID: "vm-" + name})
	}
	engine.AddCluster(health.Cluster{ID: ClusterID, Name: ClusterID, Project: "p1"}, nodes...)
	env.RegisterWorkflowWithOptions(workflows.New(workflows.Limits{}), workflow.RegisterOptions{Name: workflows.WorkflowName})
	env.RegisterActivity(engine.Activities())

	var res Result
	note := func(at time.Duration, node, what, detail string) {
		res.Timeline = append(res.Timeline, Entry{At: at, Node: node, What: what, Detail: detail})
	}
	updates, messages := 0, 0
	notify := func(at time.Duration, name, signal string, s health.RecoverSignal) {
		messages++
		s.NodeID, s.Source, s.Project = name, health.SourceNova, "p1"
		s.MessageID = fmt.Sprintf("simulated-%d", messages)
		s.Timestamp = env.Now().UTC().Format("2006-01-02 15:04:05.999999")
		env.SignalWorkflow(signal, s)
	}
	update := func(at time.Duration, name string, a *NodeAction, arg any) {
		updates++
		env.UpdateWorkflow(name, fmt.Sprintf("u%d", updates), &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { note(at, a.Node, "operator "+name+" refused", err.Error()) },
			OnComplete: func(v any, err error) {
				if err != nil {
					note(at, a.Node, "operator "+name+" failed", err.Error())
				}
			},
		}, arg)
	}
	for _, st := range sc.Steps {
		at := time.Duration(st.At)
		env.RegisterDelayedCallback(func() {
			for _, n := range st.Fail {
				engine.SetHealthy(n, false)
				note(at, n, "scenario: fails", "")
			}
			for _, n := range st.Mend {
				engine.SetHealthy(n, true)
				note(at, n, "scenario: mends", "")
			}
			for _, n := range st.Notify {
				engine.SetHealthy(n, false)
				note(at, n, "scenario: Nova reports its server stopped", "")
				notify(at, n, workflows.SignalRecover, health.RecoverSignal{Event: "POWER_OFF", State: "stopped"})
			}
			for _, n := range st.NotifyBack {
				engine.SetHealthy(n, true)
				note(at, n, "scenario: Nova reports its server active again", "")
				notify(at, n, workflows.SignalNodeBack, health.RecoverSignal{Event: "POWER_ON", State: "active"})
			}
			for _, n := range st.RecoveryFails {
				engine.SetRecoveryFails(n, true)
				note(at, n, "scenario: its recoveries fail from now on", "")
			}
			for _, n := range st.RecoveryWorks {
				engine.SetRecoveryFails(n, false)
				note(at, n, "scenario: its recoveries work again", "")
			}
			if p := st.Disable; p != nil {
				note(at, "", "operator disable", fmt.Sprintf("by %s for %s", p.Requester, time.Duration(p.For)))
				env.SignalWorkflow(workflows.SignalDisable, workflows.DisableSignal{Requester: p.Requester, Reason: p.Reason,
					ForSeconds: int(time.Duration(p.For) / time.Second), Indefinite: p.Indefinite})
			}
			if p := st.Enable; p != nil {
				note(at, "", "operator enable", "by "+p.Requester)
				env.SignalWorkflow(workflows.SignalEnable, workflows.EnableSignal{Requester: p.Requester, Reason: p.Reason})
			}
			for name, a := range map[string]*NodeAction{workflows.UpdateApprove: st.Approve, workflows.UpdateDeny: st.Deny, workflows.UpdateClear: st.Clear} {
				if a != nil {
					note(at, a.Node, "operator "+name, a.Reason)
					update(at, name, a, workflows.NodeRequest{NodeID: a.Node, Requester: a.Requester, Reason: a.Reason})
				}
			}
			if a := st.Maintain; a != nil {
				note(at, a.Node, "operator maintain", a.Reason)
				update(at, workflows.UpdateMaintain, a, workflows.MaintainRequest{NodeID: a.Node, Requester: a.Requester, Reason: a.Reason,
					ForSeconds: int(time.Duration(a.For) / time.Second), End: a.End})
			}
		}, at)
	}
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.QueryStatus)
		if err == nil {
			_ = v.Get(&res.Status)
		}
		env.SignalWorkflow(workflows.SignalUnregister, workflows.UnregisterSignal{Requester: "simulation"})
	}, time.Duration(sc.Duration))
	env.ExecuteWorkflow(workflows.WorkflowName, workflows.Input{Registration: reg})
	if err := env.GetWorkflowError(); err != nil {
		return res, fmt.Errorf("simulate %s: the workflow failed: %w", sc.Name, err)
	}

	// At one time, the action comes before what the workflow learnt of it.
	res.Actions = engine.Actions()
	for _, a := range res.Actions {
		note(a.CreatedAt.Sub(start), a.NodeID, "action "+string(a.Params.Operation), "asked of the engine ("+strings.ToLower(string(a.Status))+" at once)")
	}
	for _, e := range engine.Events() {
		if e.To == health.Healthy && e.From == "" {
			continue
		}
		what := string(e.To)
		if e.From != "" && !strings.Contains(what, " ") {
			what = string(e.From) + " → " + what
		}
		note(e.At.Sub(start), e.NodeID, what, e.Reason)
	}
	sort.SliceStable(res.Timeline, func(i, j int) bool { return res.Timeline[i].At < res.Timeline[j].At })
	return res, nil
}

// Write prints the timeline, one entry a line.
func (r Result) Write(w io.Writer) error {
	for _, e := range r.Timeline {
		node := e.Node
		if node == "" {
			node = "cluster"
		}
		line := fmt.Sprintf("%9s  %-8s  %s", clock(e.At), node, e.What)
		if e.Detail != "" {
			line += ": " + e.Detail
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d recovery actions asked of the engine\n", len(r.Actions))
	return err
}

// clock shows a duration as h:mm:ss.
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

// Check reports where the result differs from the scenario's expectations.
func (r Result) Check(sc Scenario) error {
	if sc.Expect == nil {
		return nil
	}
	var errs []error
	if want := sc.Expect.Recoveries; want != nil && len(r.Actions) != *want {
		errs = append(errs, fmt.Errorf("expect.recoveries: got %d recovery actions, want %d", len(r.Actions), *want))
	}
	if want := sc.Expect.Operations; want != nil {
		var got []string
		for _, a := range r.Actions {
			got = append(got, string(a.Params.Operation))
		}
		if !slices.Equal(got, want) {
			errs = append(errs, fmt.Errorf("expect.operations: got %v, want %v", got, want))
		}
	}
	var b strings.Builder
	_ = r.Write(&b)
	for _, want := range sc.Expect.Contains {
		if !strings.Contains(b.String(), want) {
			errs = append(errs, fmt.Errorf("expect.contains: the timeline has no %q", want))
		}
	}
	return errors.Join(errs...)
}
