package healthclient_test

import (
	"errors"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/workflows"
)

// The tests of this file, and the examples, use only what a program outside
// this module can import: TestExamplesUsePublicPackagesOnly checks their
// imports. Helpers of client_test.go (the shared Temporal dev server) are
// called, not imported.

// publicOnly are the files that must import no internal package.
var publicOnly = []string{"example_test.go", "public_test.go"}

func TestExamplesUsePublicPackagesOnly(t *testing.T) {
	files, err := filepath.Glob("example*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no example*_test.go file found, want at least example_test.go")
	}
	for _, f := range publicOnly {
		if !slices.Contains(files, f) {
			files = append(files, f)
		}
	}
	fset := token.NewFileSet()
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("parse %s: %v", file, err)
		}
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			if strings.Contains(path, "/internal/") || strings.HasSuffix(path, "/internal") {
				t.Errorf("%s imports %s: an engine outside this module cannot; use what package healthclient exports",
					fset.Position(imp.Pos()), path)
			}
		}
	}
}

// modulePath is the import path of this module.
const modulePath = "github.com/clusterhealth/healthd"

// TestPublicAPINamesOnlyExportedTypes walks every type reachable from the
// package's API (Client's methods, ParsePolicy, and the fields and methods of
// what they take and return) and fails for each type of an internal package
// of this module that package healthclient does not export under a name, so
// that a user outside the module can name every value it handles.
func TestPublicAPINamesOnlyExportedTypes(t *testing.T) {
	named := map[reflect.Type]bool{}
	for _, typ := range []reflect.Type{
		reflect.TypeFor[healthclient.Registration](), reflect.TypeFor[healthclient.DetectionMode](),
		reflect.TypeFor[healthclient.DetectionType](), reflect.TypeFor[healthclient.Conditional](),
		reflect.TypeFor[healthclient.RecoveryAction](), reflect.TypeFor[healthclient.Operation](),
		reflect.TypeFor[healthclient.RecoverSignal](), reflect.TypeFor[healthclient.RecoverParams](), reflect.TypeFor[healthclient.Limits](),
		reflect.TypeFor[healthclient.Policy](), reflect.TypeFor[healthclient.ValidationError](),
		reflect.TypeFor[healthclient.FieldError](), reflect.TypeFor[healthclient.Verdict](),
		reflect.TypeFor[healthclient.Safety](), reflect.TypeFor[healthclient.Budget](), reflect.TypeFor[healthclient.EscalationStep](),
		reflect.TypeFor[healthclient.Flap](), reflect.TypeFor[healthclient.Approval](), reflect.TypeFor[healthclient.Outcome](),
		reflect.TypeFor[healthclient.Decision](), reflect.TypeFor[healthclient.DecisionAction](), reflect.TypeFor[healthclient.Pause](),
		reflect.TypeFor[healthclient.SweepSummary](), reflect.TypeFor[healthclient.PollTemplate](),
	} {
		named[typ] = true
	}

	seen := map[reflect.Type]bool{}
	var missing []string
	var walk func(typ reflect.Type, from string)
	walk = func(typ reflect.Type, from string) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		if typ.Name() != "" {
			pkg := typ.PkgPath()
			if pkg != modulePath && !strings.HasPrefix(pkg, modulePath+"/") {
				return // the standard library's and the SDK's types are theirs to export
			}
			if strings.Contains(pkg, "/internal/") && !named[typ] {
				missing = append(missing, typ.String()+" (reached from "+from+")")
			}
			for i := range typ.NumMethod() {
				m := typ.Method(i)
				walk(m.Type, typ.String()+"."+m.Name)
			}
			if typ.Kind() != reflect.Pointer && typ.Kind() != reflect.Interface {
				walk(reflect.PointerTo(typ), from)
			}
		}
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Chan:
			walk(typ.Elem(), from)
		case reflect.Map:
			walk(typ.Key(), from)
			walk(typ.Elem(), from)
		case reflect.Func:
			for i := range typ.NumIn() {
				walk(typ.In(i), from)
			}
			for i := range typ.NumOut() {
				walk(typ.Out(i), from)
			}
		case reflect.Struct:
			for i := range typ.NumField() {
				if f := typ.Field(i); f.IsExported() {
					walk(f.Type, typ.String()+"."+f.Name)
				}
			}
		}
	}
	walk(reflect.TypeFor[*healthclient.Client](), "healthclient.Client")
	walk(reflect.TypeOf(healthclient.New), "healthclient.New")
	walk(reflect.TypeOf(healthclient.ParsePolicy), "healthclient.ParsePolicy")
	for _, typ := range []reflect.Type{
		reflect.TypeFor[healthclient.RegisterOptions](), reflect.TypeFor[healthclient.ListFilter](), reflect.TypeFor[healthclient.ListEntry](),
		reflect.TypeFor[workflows.Status](), reflect.TypeFor[workflows.EnableSignal](), reflect.TypeFor[workflows.DisableSignal](),
		reflect.TypeFor[workflows.UnregisterSignal](), reflect.TypeFor[workflows.UpdateSignal](),
	} {
		walk(typ, typ.String())
	}
	if !seen[reflect.TypeFor[healthclient.Registration]()] || !seen[reflect.TypeFor[workflows.Status]()] {
		t.Fatal("the walk did not reach Registration and Status: it is broken")
	}
	for _, m := range missing {
		t.Errorf("%s is not exported by package healthclient: add an alias to types.go", m)
	}
}

// spec is a Senlin health policy exercising every section, in the form an
// engine would store it.
const spec = `
type: senlin.policy.health
version: 1.2
properties:
  detection:
    interval: 120
    node_update_timeout: 240
    recovery_conditional: ALL_FAILED
    detection_modes:
      - type: NODE_STATUS_POLLING
      - type: NODE_STATUS_POLL_URL
        options:
          poll_url: "http://{nodename}:8080/healthz"
          poll_url_healthy_response: "ok"
          poll_url_retry_limit: 2
          poll_url_retry_interval: 5
  recovery:
    actions:
      - name: REBUILD
        params:
          image: base-2026
    node_delete_timeout: 30
    node_force_recreate: true
`

func TestParsePolicyWithPublicTypes(t *testing.T) {
	lim := healthclient.Limits{IntervalMin: 60, IntervalMax: 600}
	pol, err := healthclient.ParsePolicy([]byte(spec), lim)
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	var reg healthclient.Registration = pol.Registration("c1")
	if err := reg.Validate(lim); err != nil {
		t.Errorf("Validate of a parsed registration: got %v, want nil", err)
	}
	type field struct {
		name      string
		got, want any
	}
	for _, f := range []field{
		{"ClusterID", reg.ClusterID, "c1"},
		{"PolicyVersion", reg.PolicyVersion, "1.2"},
		{"Interval", reg.Interval, 120},
		{"IntervalMax", reg.IntervalMax, 600},
		{"NodeUpdateTimeout", reg.NodeUpdateTimeout, 240},
		{"RecoveryConditional", reg.RecoveryConditional, healthclient.AllFailed},
		{"DetectionModes", reg.DetectionModes, []healthclient.DetectionMode{
			{Type: healthclient.NodeStatusPolling, PollURLSSLVerify: true, PollURLConnErrorAsUnhealthy: true,
				PollURLRetryLimit: 3, PollURLRetryInterval: 3},
			{Type: healthclient.NodeStatusPollURL, PollURL: "http://{nodename}:8080/healthz", PollURLSSLVerify: true,
				PollURLConnErrorAsUnhealthy: true, PollURLHealthyResponse: "ok", PollURLRetryLimit: 2, PollURLRetryInterval: 5},
		}},
		{"Recovery", reg.Recovery, healthclient.RecoveryAction{Name: healthclient.OpRebuild, Params: map[string]any{"image": "base-2026"}}},
		{"NodeDeleteTimeout", reg.NodeDeleteTimeout, 30},
		{"NodeForceRecreate", reg.NodeForceRecreate, true},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("Registration.%s: got %+v, want %+v", f.name, f.got, f.want)
		}
	}
	var params healthclient.RecoverParams = reg.RecoverParams()
	if params.Operation != healthclient.OpRebuild || params.DeleteTimeout != 30 || !params.ForceRecreate {
		t.Errorf("RecoverParams: got %+v, want REBUILD, delete timeout 30, force recreate", params)
	}
}

func TestParsePolicyErrorsWithPublicTypes(t *testing.T) {
	bad := strings.Replace(spec, "interval: 120", "interval: 10", 1)
	bad = strings.Replace(bad, "name: REBUILD", "name: REBOOTT", 1)
	_, err := healthclient.ParsePolicy([]byte(bad), healthclient.DefaultLimits)
	var ve *healthclient.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("ParsePolicy of a bad spec: got %v, want a *ValidationError", err)
	}
	var paths []string
	for _, fe := range ve.Errors {
		paths = append(paths, fe.Path)
	}
	if want := []string{"properties.detection.interval", "properties.recovery.actions[0].name"}; !slices.Equal(paths, want) {
		t.Errorf("problems: got paths %q, want %q", paths, want)
	}
	var fe healthclient.FieldError
	if !errors.As(err, &fe) || fe.Path != "properties.detection.interval" {
		t.Errorf("errors.As FieldError: got %+v, want the interval's problem", fe)
	}

	reg := healthclient.Registration{ClusterID: "c1", Interval: 60, RecoveryConditional: healthclient.AnyFailed,
		DetectionModes: []healthclient.DetectionMode{{Type: healthclient.LifecycleEvents}},
		Recovery:       healthclient.RecoveryAction{Name: "REPAIR"}}
	if err := reg.Validate(healthclient.DefaultLimits); !errors.As(err, &ve) {
		t.Errorf("Validate of a hand-built registration with an unknown operation: got %v, want a *ValidationError", err)
	}
}

func TestRegisterWithPublicTypes(t *testing.T) {
	hc := healthclient.New(temporalClient(t))
	ctx := testContext(t)
	pol, err := healthclient.ParsePolicy([]byte(spec), healthclient.DefaultLimits)
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	id := clusterID(t)
	if _, err := hc.Register(ctx, pol.Registration(id), healthclient.RegisterOptions{}); err != nil {
		t.Fatalf("Register: %v", err)
	}
	t.Cleanup(func() { _ = hc.Unregister(testContext(t), id, workflows.UnregisterSignal{Reason: "test over"}) })
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := hc.Status(ctx, id)
		require.NoError(c, err, "status")
		if st.Counters.Rounds < 1 || st.NodeCount != 2 {
			c.Errorf("status: no round yet")
			return
		}
		for _, n := range st.Nodes {
			if n.Verdict != healthclient.Healthy {
				c.Errorf("status: node %s is %s, want healthy", n.ID, n.Verdict)
			}
		}
		if !reflect.DeepEqual(st.Registration, pol.Registration(id)) {
			c.Errorf("status: the workflow's registration differs from the one registered")
		}
	}, waitTimeout, waitTick)
	if err := hc.Recover(ctx, id, healthclient.RecoverSignal{NodeID: id + "-n1", Source: "operator"}); err != nil {
		t.Errorf("Recover: %v", err)
	}
}
