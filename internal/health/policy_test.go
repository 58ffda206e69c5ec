package health_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/clusterhealth/healthd/internal/health"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/policies")

// spec builds a full YAML spec around detection and recovery bodies written
// without indentation.
func spec(detection, recovery string) []byte {
	indent := func(s string) string {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		for i, l := range lines {
			lines[i] = "    " + l
		}
		return strings.Join(lines, "\n")
	}
	return []byte("type: senlin.policy.health\nversion: 1.2\nproperties:\n  detection:\n" +
		indent(detection) + "\n  recovery:\n" + indent(recovery) + "\n")
}

const (
	pollingModes = "detection_modes:\n  - type: NODE_STATUS_POLLING"
	recreate     = "actions:\n  - name: RECREATE"
)

// pollURL is a detection body with one NODE_STATUS_POLL_URL mode whose
// options are the given YAML lines.
func pollURL(options ...string) string {
	s := "detection_modes:\n  - type: NODE_STATUS_POLL_URL\n    options:"
	if len(options) == 0 {
		return s + " {}"
	}
	for _, o := range options {
		s += "\n      " + o
	}
	return s
}

func mustParse(t *testing.T, data []byte, lim health.Limits) health.Policy {
	t.Helper()
	p, err := health.ParsePolicy(data, lim)
	if err != nil {
		t.Fatalf("ParsePolicy: got error\n%v\nwant none; spec:\n%s", err, data)
	}
	return p
}

// parseErrors returns the problems ParsePolicy reports, failing the test when
// it accepts the spec or returns another error type.
func parseErrors(t *testing.T, data []byte, lim health.Limits) []health.FieldError {
	t.Helper()
	_, err := health.ParsePolicy(data, lim)
	if err == nil {
		t.Fatalf("ParsePolicy: got no error, want a validation error; spec:\n%s", data)
	}
	var ve *health.ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) == 0 {
		t.Fatalf("ParsePolicy: got error %T %q, want a non-empty *ValidationError", err, err)
	}
	return ve.Errors
}

// wantError asserts that errs holds exactly one problem at path and that its
// rule contains every fragment.
func wantError(t *testing.T, errs []health.FieldError, path string, fragments ...string) {
	t.Helper()
	var found []health.FieldError
	for _, e := range errs {
		if e.Path == path {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("got %d errors at %q, want 1; all errors:\n%s", len(found), path, (&health.ValidationError{Errors: errs}).Error())
	}
	for _, f := range fragments {
		if !strings.Contains(found[0].Rule, f) {
			t.Errorf("error at %s: got rule %q, want it to contain %q", path, found[0].Rule, f)
		}
	}
}

// wantOnly asserts that errs holds a single problem, at path.
func wantOnly(t *testing.T, errs []health.FieldError, path string, fragments ...string) {
	t.Helper()
	if len(errs) != 1 {
		t.Fatalf("got %d errors, want 1 at %s:\n%s", len(errs), path, (&health.ValidationError{Errors: errs}).Error())
	}
	wantError(t, errs, path, fragments...)
}

func readSpec(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "policies", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// validSpecs are the testdata specs ParsePolicy must accept with DefaultLimits.
func validSpecs(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, ext := range []string{"*.yaml", "*.json"} {
		m, err := filepath.Glob(filepath.Join("testdata", "policies", ext))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.HasPrefix(filepath.Base(f), "invalid_") {
				names = append(names, filepath.Base(f))
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("no specs in testdata/policies")
	}
	return names
}

func TestPolicy_Scenario01_Defaults(t *testing.T) {
	p := mustParse(t, readSpec(t, "defaults.yaml"), health.DefaultLimits)
	got := p.Registration("c-1")
	want := health.Registration{
		ClusterID:           "c-1",
		PolicyVersion:       "1.1",
		Interval:            60,
		IntervalMax:         3600,
		NodeUpdateTimeout:   300,
		RecoveryConditional: health.AnyFailed,
		DetectionModes: []health.DetectionMode{{
			Type:                        health.NodeStatusPolling,
			PollURLSSLVerify:            true,
			PollURLConnErrorAsUnhealthy: true,
			PollURLRetryLimit:           3,
			PollURLRetryInterval:        3,
		}},
		Recovery:          health.RecoveryAction{Name: health.OpRecreate},
		NodeDeleteTimeout: 20,
		NodeForceRecreate: false,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Registration:\ngot  %+v\nwant %+v", got, want)
	}
	if p.Version != "1.1" || p.Limits != health.DefaultLimits {
		t.Errorf("got version %q limits %+v, want 1.1 and %+v", p.Version, p.Limits, health.DefaultLimits)
	}
	if err := got.Validate(health.DefaultLimits); err != nil {
		t.Errorf("Validate: got %v, want nil", err)
	}
}

func TestPolicy_Scenario02_UnknownDetectionType(t *testing.T) {
	errs := parseErrors(t, spec("detection_modes:\n  - type: FOO", recreate), health.DefaultLimits)
	wantOnly(t, errs, "properties.detection.detection_modes[0].type",
		"'FOO' must be one of the allowed values: LIFECYCLE_EVENTS, NODE_STATUS_POLLING, NODE_STATUS_POLL_URL, HYPERVISOR_STATUS_POLLING")
}

func TestPolicy_Scenario03_InvalidRecoveryConditional(t *testing.T) {
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{"SOME_FAILED", false},
		{"any_failed", false},
		{"All_Failed", false},
		{"ALL_FAILED", true},
		{"ANY_FAILED", true},
	} {
		t.Run(tc.value, func(t *testing.T) {
			data := spec("recovery_conditional: "+tc.value+"\n"+pollingModes, recreate)
			if tc.ok {
				if got := mustParse(t, data, health.DefaultLimits).RecoveryConditional; string(got) != tc.value {
					t.Errorf("got %q, want %q", got, tc.value)
				}
				return
			}
			wantOnly(t, parseErrors(t, data, health.DefaultLimits), "properties.detection.recovery_conditional",
				"'"+tc.value+"' must be one of the allowed values: ALL_FAILED, ANY_FAILED")
		})
	}
}

func TestPolicy_Scenario04_TooManyActions(t *testing.T) {
	errs := parseErrors(t, spec(pollingModes, "actions:\n  - name: REBOOT\n  - name: RECREATE"), health.DefaultLimits)
	wantOnly(t, errs, "properties.recovery.actions", "Only one 'actions' is supported for now.")
}

func TestPolicy_Scenario05_IntervalFloor(t *testing.T) {
	events := "detection_modes:\n  - type: LIFECYCLE_EVENTS"
	for _, tc := range []struct {
		name     string
		interval string
		modes    string
		lim      health.Limits
		wantRule string // empty: accepted
	}{
		{"below", "10", pollingModes, health.Limits{IntervalMin: 20, IntervalMax: 3600},
			"Specified interval of 10 seconds has to be larger than health_check_interval_min of 20 seconds set in configuration."},
		{"equal passes", "20", pollingModes, health.Limits{IntervalMin: 20, IntervalMax: 3600}, ""},
		{"above", "21", pollingModes, health.Limits{IntervalMin: 20}, ""},
		{"checked for events too", "10", events, health.Limits{IntervalMin: 20},
			"Specified interval of 10 seconds has to be larger than health_check_interval_min of 20 seconds set in configuration."},
		{"default 60 against default min", "60", pollingModes, health.DefaultLimits, ""},
		{"default min", "59", pollingModes, health.DefaultLimits, "health_check_interval_min of 60 seconds"},
		{"zero with no minimum (F-14)", "0", pollingModes, health.Limits{}, "Specified interval of 0 seconds has to be larger than 0."},
		{"negative with no minimum", "-5", pollingModes, health.Limits{}, "Specified interval of -5 seconds has to be larger than 0."},
		{"negative with a minimum", "-5", pollingModes, health.Limits{IntervalMin: 1}, "health_check_interval_min of 1 seconds"},
		{"one with no minimum", "1", pollingModes, health.Limits{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := spec("interval: "+tc.interval+"\n"+tc.modes, recreate)
			if tc.wantRule == "" {
				mustParse(t, data, tc.lim)
				return
			}
			wantOnly(t, parseErrors(t, data, tc.lim), "properties.detection.interval", tc.wantRule)
		})
	}
}

func TestPolicy_Scenario06_EventsCannotBeMixed(t *testing.T) {
	for _, tc := range []struct {
		types    []string
		wantRule string
	}{
		{[]string{"LIFECYCLE_EVENTS", "NODE_STATUS_POLLING"}, "Invalid detection modes in health policy: LIFECYCLE_EVENTS, NODE_STATUS_POLLING"},
		{[]string{"NODE_STATUS_POLL_URL", "LIFECYCLE_EVENTS"}, "Invalid detection modes in health policy: NODE_STATUS_POLL_URL, LIFECYCLE_EVENTS"},
		{[]string{"LIFECYCLE_EVENTS"}, ""},
		{[]string{"NODE_STATUS_POLLING", "NODE_STATUS_POLL_URL", "HYPERVISOR_STATUS_POLLING"}, ""},
	} {
		t.Run(strings.Join(tc.types, "+"), func(t *testing.T) {
			modes := "detection_modes:"
			for _, ty := range tc.types {
				modes += "\n  - type: " + ty
				if ty == "NODE_STATUS_POLL_URL" {
					modes += "\n    options: {poll_url: 'http://mon.example/{nodename}'}"
				}
			}
			data := spec(modes, recreate)
			if tc.wantRule == "" {
				mustParse(t, data, health.DefaultLimits)
				return
			}
			errs := parseErrors(t, data, health.DefaultLimits)
			wantOnly(t, errs, "properties.detection.detection_modes")
			if !strings.HasPrefix(errs[0].Rule, tc.wantRule) {
				t.Errorf("got rule %q, want it to start with %q", errs[0].Rule, tc.wantRule)
			}
		})
	}
}

func TestPolicy_Scenario07_IdenticalDuplicates(t *testing.T) {
	for name, modes := range map[string]string{
		"status polling": "detection_modes:\n  - type: NODE_STATUS_POLLING\n  - type: NODE_STATUS_POLLING",
		"same options written differently": "detection_modes:\n" +
			"  - {type: NODE_STATUS_POLL_URL, options: {poll_url: 'http://a/{nodename}', poll_url_retry_limit: 3}}\n" +
			"  - {type: NODE_STATUS_POLL_URL, options: {poll_url_ssl_verify: 'yes', poll_url: 'http://a/{nodename}'}}",
	} {
		t.Run(name, func(t *testing.T) {
			errs := parseErrors(t, spec(modes, recreate), health.DefaultLimits)
			wantOnly(t, errs, "properties.detection.detection_modes")
			if want := "Duplicate detection modes are not allowed in health policy"; !strings.HasPrefix(errs[0].Rule, want) {
				t.Errorf("got rule %q, want it to start with %q", errs[0].Rule, want)
			}
		})
	}
}

func TestPolicy_Scenario08_SameTypeDifferentOptions(t *testing.T) {
	modes := "detection_modes:\n" +
		"  - {type: NODE_STATUS_POLL_URL, options: {poll_url: 'http://a.example/{nodename}'}}\n" +
		"  - {type: NODE_STATUS_POLLING}\n" +
		"  - {type: NODE_STATUS_POLL_URL, options: {poll_url: 'http://b.example/{nodename}'}}"
	errs := parseErrors(t, spec(modes, recreate), health.DefaultLimits)
	wantOnly(t, errs, "properties.detection.detection_modes[2].type",
		"NODE_STATUS_POLL_URL is already used by detection_modes[0]", "may appear only once")
}

func TestPolicy_Scenario09_UnknownOptionKey(t *testing.T) {
	errs := parseErrors(t, spec(pollURL("poll_url: http://mon.example/{nodename}",
		"poll_url_conn_error_as_unhealty: false"), recreate), health.DefaultLimits)
	wantOnly(t, errs, "properties.detection.detection_modes[0].options.poll_url_conn_error_as_unhealty",
		"Unrecognizable spec item 'poll_url_conn_error_as_unhealty'")
}

func TestPolicy_Scenario10_RecoveryAndFencingEnums(t *testing.T) {
	for _, tc := range []struct {
		name     string
		recovery string
		path     string // empty: accepted
		rule     string
	}{
		{"MIGRATE", "actions: [{name: MIGRATE}]", "properties.recovery.actions[0].name",
			"'MIGRATE' must be one of the allowed values: REBOOT, REBUILD, RECREATE"},
		{"lower case", "actions: [{name: recreate}]", "properties.recovery.actions[0].name", "'recreate' must be one of"},
		{"missing name", "actions: [{params: {a: 1}}]", "properties.recovery.actions[0].name", "Required spec item 'name' not provided"},
		{"STORAGE", recreate + "\nfencing: [STORAGE]", "properties.recovery.fencing[0]",
			"'STORAGE' must be one of the allowed values: COMPUTE"},
		{"second item", recreate + "\nfencing: [COMPUTE, compute]", "properties.recovery.fencing[1]", "'compute' must be one of"},
		{"not a list", recreate + "\nfencing: COMPUTE", "properties.recovery.fencing", "must be a list"},
		{"COMPUTE", recreate + "\nfencing: [COMPUTE]", "", ""},
		{"REBOOT", "actions: [{name: REBOOT}]", "", ""},
		{"REBUILD", "actions: [{name: REBUILD}]", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := spec(pollingModes, tc.recovery)
			if tc.path == "" {
				mustParse(t, data, health.DefaultLimits)
				return
			}
			wantOnly(t, parseErrors(t, data, health.DefaultLimits), tc.path, tc.rule)
		})
	}
}

func TestPolicy_Fencing(t *testing.T) {
	for _, tc := range []struct {
		recovery string
		want     []string
	}{
		{recreate, nil},
		{recreate + "\nfencing: []", nil},
		{recreate + "\nfencing: ~", nil},
		{recreate + "\nfencing: [COMPUTE]", []string{"COMPUTE"}},
		{recreate + "\nfencing: [COMPUTE, COMPUTE]", []string{"COMPUTE", "COMPUTE"}},
	} {
		got := mustParse(t, spec(pollingModes, tc.recovery), health.DefaultLimits).Fencing
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got fencing %#v, want %#v", tc.recovery, got, tc.want)
		}
	}
}

func TestPolicy_Scenario11_BooleanAndIntegerParsing(t *testing.T) {
	t.Run("ssl verify yes", func(t *testing.T) {
		p := mustParse(t, spec(pollURL("poll_url: http://m/{nodename}", `poll_url_ssl_verify: "yes"`), recreate), health.DefaultLimits)
		if !p.DetectionModes[0].PollURLSSLVerify {
			t.Errorf("got ssl verify false, want true")
		}
	})
	t.Run("ssl verify maybe", func(t *testing.T) {
		errs := parseErrors(t, spec(pollURL("poll_url: http://m/{nodename}", `poll_url_ssl_verify: "maybe"`), recreate), health.DefaultLimits)
		wantOnly(t, errs, "properties.detection.detection_modes[0].options.poll_url_ssl_verify",
			"The value 'maybe' is not a valid Boolean")
	})
	t.Run("interval 120", func(t *testing.T) {
		if got := mustParse(t, spec(`interval: "120"`+"\n"+pollingModes, recreate), health.DefaultLimits).Interval; got != 120 {
			t.Errorf("got interval %d, want 120", got)
		}
	})
	t.Run("interval abc", func(t *testing.T) {
		errs := parseErrors(t, spec(`interval: "abc"`+"\n"+pollingModes, recreate), health.DefaultLimits)
		wantOnly(t, errs, "properties.detection.interval", "The value 'abc' is not a valid Integer")
	})
}

func TestPolicy_BooleanCoercion(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want bool
		ok   bool
	}{
		{"true", true, true}, {"false", false, true}, {"True", true, true}, {"FALSE", false, true},
		{`"1"`, true, true}, {`"t"`, true, true}, {`"TRUE"`, true, true}, {`"On"`, true, true},
		{`"y"`, true, true}, {`"YES"`, true, true}, {`" yes "`, true, true},
		{`"0"`, false, true}, {`"f"`, false, true}, {`"false"`, false, true}, {`"off"`, false, true},
		{`"N"`, false, true}, {`"no"`, false, true}, {"yes", true, true}, {"off", false, true},
		{"1", true, true}, {"0", false, true},
		{`"maybe"`, false, false}, {"2", false, false}, {"1.0", false, false}, {`""`, false, false},
		{"[true]", false, false}, {"{a: b}", false, false},
	} {
		t.Run(tc.yaml, func(t *testing.T) {
			data := spec(pollingModes, recreate+"\nnode_force_recreate: "+tc.yaml)
			if !tc.ok {
				errs := parseErrors(t, data, health.DefaultLimits)
				wantOnly(t, errs, "properties.recovery.node_force_recreate")
				return
			}
			if got := mustParse(t, data, health.DefaultLimits).NodeForceRecreate; got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPolicy_IntegerCoercion(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want int
		rule string // empty: accepted
	}{
		{"45", 45, ""}, {`"45"`, 45, ""}, {`" 45 "`, 45, ""}, {`"+45"`, 45, ""}, {`"0045"`, 45, ""},
		{"45.0", 45, ""}, {"0", 0, ""}, {"0x2d", 45, ""}, {"2147483647", 2147483647, ""},
		{`"abc"`, 0, "The value 'abc' is not a valid Integer"},
		{"4.5", 0, "The value '4.5' is not a valid Integer"},
		{`"4.5"`, 0, "The value '4.5' is not a valid Integer"},
		{"true", 0, "The value 'true' is not a valid Integer"},
		{`""`, 0, "The value '' is not a valid Integer"},
		{"[45]", 0, "must be an integer, got a list"},
		{"-1", 0, "The value '-1' must not be negative"},
		{`"-1"`, 0, "The value '-1' must not be negative"},
		{"2147483648", 0, "out of range"},
		{"99999999999999999999", 0, "out of range"},
		{".inf", 0, "not a valid Integer"},
	} {
		t.Run(tc.yaml, func(t *testing.T) {
			data := spec(pollingModes, recreate+"\nnode_delete_timeout: "+tc.yaml)
			if tc.rule != "" {
				wantOnly(t, parseErrors(t, data, health.DefaultLimits), "properties.recovery.node_delete_timeout", tc.rule)
				return
			}
			if got := mustParse(t, data, health.DefaultLimits).NodeDeleteTimeout; got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPolicy_NegativeDurationsAndCounts(t *testing.T) {
	for _, tc := range []struct {
		detection, recovery, path string
	}{
		{"node_update_timeout: -1\n" + pollingModes, recreate, "properties.detection.node_update_timeout"},
		{pollURL("poll_url: http://m/{nodename}", "poll_url_retry_limit: -1"), recreate,
			"properties.detection.detection_modes[0].options.poll_url_retry_limit"},
		{pollURL("poll_url: http://m/{nodename}", "poll_url_retry_interval: -3"), recreate,
			"properties.detection.detection_modes[0].options.poll_url_retry_interval"},
		{pollingModes, recreate + "\nnode_delete_timeout: -20", "properties.recovery.node_delete_timeout"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			wantOnly(t, parseErrors(t, spec(tc.detection, tc.recovery), health.DefaultLimits), tc.path, "must not be negative")
		})
	}
	t.Run("zero is allowed", func(t *testing.T) {
		p := mustParse(t, spec("node_update_timeout: 0\n"+pollURL("poll_url: http://m/{nodename}",
			"poll_url_retry_limit: 0", "poll_url_retry_interval: 0"), recreate+"\nnode_delete_timeout: 0"), health.DefaultLimits)
		m := p.DetectionModes[0]
		if p.NodeUpdateTimeout != 0 || p.NodeDeleteTimeout != 0 || m.PollURLRetryLimit != 0 || m.PollURLRetryInterval != 0 {
			t.Errorf("got %+v, want zero timeouts and retries", p)
		}
		if m.Attempts() != 1 {
			t.Errorf("got %d attempts, want 1", m.Attempts())
		}
	})
}

func TestPolicy_Scenario12_EmptyOrMissingLists(t *testing.T) {
	for _, tc := range []struct {
		name, detection, recovery, path, rule string
	}{
		{"empty detection_modes", "detection_modes: []", recreate,
			"properties.detection.detection_modes", "At least one detection mode is required"},
		{"missing detection_modes", "interval: 60", recreate,
			"properties.detection.detection_modes", "Required spec item 'detection_modes' not provided"},
		{"null detection_modes", "detection_modes:", recreate,
			"properties.detection.detection_modes", "Required spec item 'detection_modes' not provided"},
		{"detection_modes not a list", "detection_modes: NODE_STATUS_POLLING", recreate,
			"properties.detection.detection_modes", "must be a list, got 'NODE_STATUS_POLLING'"},
		{"empty actions", pollingModes, "actions: []",
			"properties.recovery.actions", "At least one recovery action is required"},
		{"missing actions", pollingModes, "node_delete_timeout: 20",
			"properties.recovery.actions", "Required spec item 'actions' not provided"},
		{"action not a map", pollingModes, "actions: [RECREATE]",
			"properties.recovery.actions[0]", "must be a map, got 'RECREATE'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOnly(t, parseErrors(t, spec(tc.detection, tc.recovery), health.DefaultLimits), tc.path, tc.rule)
		})
	}
	t.Run("empty detection and recovery", func(t *testing.T) {
		data := []byte("type: senlin.policy.health\nversion: 1.2\nproperties:\n  detection: {}\n  recovery: {}\n")
		errs := parseErrors(t, data, health.DefaultLimits)
		wantError(t, errs, "properties.detection.detection_modes", "Required spec item 'detection_modes' not provided")
		wantError(t, errs, "properties.recovery.actions", "Required spec item 'actions' not provided")
	})
}

func TestPolicy_Scenario13_URLOptionDefaults(t *testing.T) {
	p := mustParse(t, spec(pollURL("poll_url: http://mon.example/{nodename}/health"), recreate), health.DefaultLimits)
	got := p.Registration("c-1").DetectionModes
	want := []health.DetectionMode{{
		Type:                        health.NodeStatusPollURL,
		PollURL:                     "http://mon.example/{nodename}/health",
		PollURLSSLVerify:            true,
		PollURLConnErrorAsUnhealthy: true,
		PollURLHealthyResponse:      "",
		PollURLRetryLimit:           3,
		PollURLRetryInterval:        3,
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("modes:\ngot  %+v\nwant %+v", got, want)
	}
	if got[0].Attempts() != 3 || got[0].RetryInterval() != 3*time.Second {
		t.Errorf("got %d attempts %v apart, want 3 attempts 3s apart", got[0].Attempts(), got[0].RetryInterval())
	}
	if u, err := got[0].URLFor("web-1"); err != nil || u != "http://mon.example/web-1/health" {
		t.Errorf("got URL %q, %v; want http://mon.example/web-1/health", u, err)
	}
}

func TestPolicy_Scenario52_BrokenURLConfigurationIsReported(t *testing.T) {
	const opts = "properties.detection.detection_modes[0].options"
	noOptions := "detection_modes:\n  - type: NODE_STATUS_POLL_URL"
	for _, tc := range []struct {
		name, detection, path, rule string
	}{
		{"no options", noOptions, opts, "Required spec item 'options' not provided"},
		{"null options", noOptions + "\n    options:", opts, "Required spec item 'options' not provided"},
		{"empty options", pollURL(), opts + ".poll_url", "Required spec item 'poll_url' not provided"},
		{"options without poll_url", pollURL("poll_url_retry_limit: 2"), opts + ".poll_url", "Required spec item 'poll_url' not provided"},
		{"empty poll_url", pollURL(`poll_url: ""`), opts + ".poll_url", "Required spec item 'poll_url' not provided"},
		{"ftp", pollURL("poll_url: ftp://mon.example/{nodename}"), opts + ".poll_url", "must be an http or https URL"},
		{"no scheme", pollURL("poll_url: mon.example/{nodename}/health"), opts + ".poll_url", "must be an http or https URL"},
		{"no host", pollURL("poll_url: http:///{nodename}"), opts + ".poll_url", "has no host"},
		{"bad host", pollURL("poll_url: 'http://[::1/{nodename}'"), opts + ".poll_url", "is not a valid URL once {nodename} is expanded"},
		{"bad escape", pollURL("poll_url: 'http://m/%zz/{nodename}'"), opts + ".poll_url", "is not a valid URL"},
		{"poll_url not a string", pollURL("poll_url: [http://m/]"), opts + ".poll_url", "must be a string, got a list"},
		{"bad regexp", pollURL("poll_url: http://m/{nodename}", `poll_url_healthy_response: "ok("`), opts + ".poll_url_healthy_response",
			"The value 'ok(' is not a valid regular expression (Go RE2 syntax): missing closing )"},
		{"python-only regexp", pollURL("poll_url: http://m/{nodename}", `poll_url_healthy_response: "status: (?!down)"`),
			opts + ".poll_url_healthy_response", "invalid or unsupported Perl syntax"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOnly(t, parseErrors(t, spec(tc.detection, recreate), health.DefaultLimits), tc.path, tc.rule)
		})
	}
	for _, u := range []string{
		"http://mon.example/{nodename}/health",
		"https://{nodename}.nodes.example:8443/healthz?full=1",
		"HTTP://10.0.0.1:8080/static",
	} {
		t.Run("accepts "+u, func(t *testing.T) {
			mustParse(t, spec(pollURL("poll_url: '"+u+"'", `poll_url_healthy_response: "status: (ok|degraded)"`), recreate), health.DefaultLimits)
		})
	}
	t.Run("URL checks only apply to NODE_STATUS_POLL_URL", func(t *testing.T) {
		p := mustParse(t, spec("detection_modes:\n  - type: NODE_STATUS_POLLING\n    options: {poll_url: ftp://x, poll_url_healthy_response: '('}",
			recreate), health.DefaultLimits)
		if got := p.DetectionModes[0].PollURL; got != "ftp://x" {
			t.Errorf("got poll_url %q, want the given one kept", got)
		}
	})
}

func TestPolicy_ErrorAggregation(t *testing.T) {
	_, err := health.ParsePolicy(readSpec(t, "invalid_many.yaml"), health.DefaultLimits)
	var ve *health.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %T %v, want *ValidationError", err, err)
	}
	golden := filepath.Join("testdata", "policies", "invalid_many.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, rerr := os.ReadFile(golden)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if got := err.Error() + "\n"; got != string(want) {
		t.Errorf("Error():\ngot\n%s\nwant\n%s", got, want)
	}
	if got, wantN := len(ve.Errors), strings.Count(string(want), "\n"); got != wantN {
		t.Errorf("got %d errors, want %d (one per line)", got, wantN)
	}
	var fe health.FieldError
	if !errors.As(err, &fe) || fe != ve.Errors[0] {
		t.Errorf("errors.As FieldError: got %+v, want the first error %+v", fe, ve.Errors[0])
	}
}

func TestPolicy_ErrorsOfEveryLevelTogether(t *testing.T) {
	data := []byte(`
type: senlin.policy.health
version: 1.2
colour: blue
properties:
  detection:
    interval: 10
    node_update_timeout: soon
    detection_modes:
      - type: LIFECYCLE_EVENTS
        mode: fast
      - type: NODE_STATUS_POLLING
  recovery:
    actions:
      - name: RECREATE
        params: [1, 2]
    node_delete_timeout: -1
`)
	errs := parseErrors(t, data, health.DefaultLimits)
	want := []health.FieldError{
		{Path: "properties.detection.interval", Rule: "Specified interval of 10 seconds has to be larger than health_check_interval_min of 60 seconds set in configuration."},
		{Path: "properties.detection.node_update_timeout", Rule: "The value 'soon' is not a valid Integer"},
		{Path: "properties.detection.detection_modes", Rule: "Invalid detection modes in health policy: LIFECYCLE_EVENTS, NODE_STATUS_POLLING (LIFECYCLE_EVENTS must be the only mode; polling modes can be combined)"},
		{Path: "properties.detection.detection_modes[0].mode", Rule: "Unrecognizable spec item 'mode'"},
		{Path: "properties.recovery.actions[0].params", Rule: "must be a map, got a list"},
		{Path: "properties.recovery.node_delete_timeout", Rule: "The value '-1' must not be negative"},
		{Path: "colour", Rule: "Unrecognizable spec item 'colour'"}, // unknown keys sort after known ones
	}
	if !reflect.DeepEqual(errs, want) {
		t.Errorf("errors:\ngot\n%s\nwant\n%s", (&health.ValidationError{Errors: errs}).Error(), (&health.ValidationError{Errors: want}).Error())
	}
}

func TestPolicy_UnknownKeysAtEveryLevel(t *testing.T) {
	for _, tc := range []struct {
		data []byte
		path string
	}{
		{append(spec(pollingModes, recreate), "extra: 1\n"...), "extra"},
		{spec(pollingModes, recreate+"\nretries: 2"), "properties.recovery.retries"},
		{spec("type: NODE_STATUS_POLLING", recreate), "properties.detection.type"}, // the 1.0 layout
		{spec("detection_modes:\n  - {type: NODE_STATUS_POLLING, interval: 5}", recreate), "properties.detection.detection_modes[0].interval"},
		{spec(pollingModes, "actions: [{name: RECREATE, type: WORKFLOW}]"), "properties.recovery.actions[0].type"},
		{spec(pollingModes, recreate+"\n'odd key.x': 1"), `properties.recovery["odd key.x"]`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			errs := parseErrors(t, tc.data, health.DefaultLimits)
			wantError(t, errs, tc.path, "Unrecognizable spec item")
		})
	}
	t.Run("properties", func(t *testing.T) {
		data := []byte("type: senlin.policy.health\nversion: 1.2\nproperties:\n  detection: {detection_modes: [{type: NODE_STATUS_POLLING}]}\n" +
			"  recovery: {actions: [{name: RECREATE}]}\n  scaling: {}\n")
		wantOnly(t, parseErrors(t, data, health.DefaultLimits), "properties.scaling", "Unrecognizable spec item 'scaling'")
	})
}

func TestPolicy_DuplicateKeys(t *testing.T) {
	yamlSpec := spec("interval: 60\ninterval: 120\n"+pollingModes, recreate)
	wantOnly(t, parseErrors(t, yamlSpec, health.DefaultLimits), "properties.detection.interval", "Duplicate spec item 'interval'")
	jsonSpec := []byte(`{"type": "senlin.policy.health", "version": 1.2, "type": "senlin.policy.health", "properties": {
		"detection": {"detection_modes": [{"type": "NODE_STATUS_POLLING"}]}, "recovery": {"actions": [{"name": "RECREATE"}]}}}`)
	wantOnly(t, parseErrors(t, jsonSpec, health.DefaultLimits), "type", "Duplicate spec item 'type'")
}

func TestPolicy_YAMLAndJSONGiveEqualRegistrations(t *testing.T) {
	t.Run("poll_url.yaml and poll_url.json", func(t *testing.T) {
		y := mustParse(t, readSpec(t, "poll_url.yaml"), health.DefaultLimits).Registration("c")
		j := mustParse(t, readSpec(t, "poll_url.json"), health.DefaultLimits).Registration("c")
		if !reflect.DeepEqual(y, j) {
			t.Errorf("registrations differ:\nYAML %+v\nJSON %+v", y, j)
		}
	})
	// Every valid YAML spec converted to JSON by a generic YAML decoder must
	// give the same registration.
	for _, name := range validSpecs(t) {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			data := readSpec(t, name)
			var v any
			if err := yaml.Unmarshal(data, &v); err != nil {
				t.Fatal(err)
			}
			js, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			y := mustParse(t, data, health.DefaultLimits).Registration("c")
			j := mustParse(t, js, health.DefaultLimits).Registration("c")
			if !reflect.DeepEqual(y, j) {
				t.Errorf("registrations differ:\nYAML %+v\nJSON %+v\nJSON spec %s", y, j, js)
			}
		})
	}
}

func TestPolicy_Versions(t *testing.T) {
	body := "\nproperties:\n  detection: {detection_modes: [{type: NODE_STATUS_POLLING}]}\n  recovery: {actions: [{name: RECREATE}]}\n"
	for _, tc := range []struct {
		version string
		want    string // empty: rejected
	}{
		{"1.0", "1.0"}, {"1.1", "1.1"}, {"1.2", "1.2"},
		{`"1.0"`, "1.0"}, {`'1.1'`, "1.1"}, {`"1.2"`, "1.2"},
		{"1.10", "1.1"}, {"1.20", "1.2"},
		{"1", "1.0"}, // JSON encoders write 1.0 as 1
		{"2.0", ""}, {`"2.0"`, ""}, {"2", ""}, {`"1"`, ""}, {"1.3", ""}, {`"1.0 "`, ""}, {"[1.0]", ""}, {"", ""},
	} {
		t.Run(tc.version, func(t *testing.T) {
			data := []byte("type: senlin.policy.health\nversion: " + tc.version + body)
			if tc.want == "" {
				errs := parseErrors(t, data, health.DefaultLimits)
				wantOnly(t, errs, "version")
				return
			}
			p := mustParse(t, data, health.DefaultLimits)
			if p.Version != tc.want || p.Registration("c").PolicyVersion != tc.want {
				t.Errorf("got version %q, want %q", p.Version, tc.want)
			}
		})
	}
	t.Run("JSON number", func(t *testing.T) {
		data := []byte(`{"type": "senlin.policy.health", "version": 1.0, "properties": {
			"detection": {"detection_modes": [{"type": "NODE_STATUS_POLLING"}]}, "recovery": {"actions": [{"name": "RECREATE"}]}}}`)
		if got := mustParse(t, data, health.DefaultLimits).Version; got != "1.0" {
			t.Errorf("got %q, want 1.0", got)
		}
	})
	t.Run("2.0 message", func(t *testing.T) {
		errs := parseErrors(t, []byte("type: senlin.policy.health\nversion: 2.0"+body), health.DefaultLimits)
		wantOnly(t, errs, "version", "'2.0' must be one of the allowed values: 1.0, 1.1, 1.2")
	})
}

func TestPolicy_TypeAndLayout(t *testing.T) {
	body := "properties:\n  detection: {detection_modes: [{type: NODE_STATUS_POLLING}]}\n  recovery: {actions: [{name: RECREATE}]}\n"
	for _, tc := range []struct {
		name, data, path, rule string
	}{
		{"missing type", "version: 1.2\n" + body, "type", "Required spec item 'type' not provided"},
		{"other type", "type: senlin.policy.deletion\nversion: 1.2\n" + body, "type",
			"'senlin.policy.deletion' must be one of the allowed values: senlin.policy.health"},
		{"missing version", "type: senlin.policy.health\n" + body, "version", "Required spec item 'version' not provided"},
		{"missing properties", "type: senlin.policy.health\nversion: 1.2\n", "properties", "Required spec item 'properties' not provided"},
		{"bare properties", body, "type", "Required spec item 'type' not provided"},
		{"properties not a map", "type: senlin.policy.health\nversion: 1.2\nproperties: [1]\n", "properties", "must be a map, got a list"},
		{"missing detection", "type: senlin.policy.health\nversion: 1.2\nproperties:\n  recovery: {actions: [{name: RECREATE}]}\n",
			"properties.detection", "Required spec item 'detection' not provided"},
		{"description not a string", "type: senlin.policy.health\nversion: 1.2\ndescription: {a: b}\n" + body, "description", "must be a string"},
		{"not a map", "just a string", "", "the policy must be a map with type, version and properties, got 'just a string'"},
		{"list", "[1, 2]", "", "the policy must be a map"},
		{"null", "null", "", "the policy must be a map"},
		{"empty", "", "", "the policy document is empty"},
		{"comments only", "# nothing\n", "", "the policy document is empty"},
		{"bad YAML", "type: [senlin", "", "the policy is not valid YAML or JSON"},
		{"bad JSON", `{"type": "senlin.policy.health"`, "", "the policy is not valid YAML or JSON"},
		{"two documents", "type: senlin.policy.health\nversion: 1.2\n" + body + "---\ntype: x\n", "", "the policy must be a single YAML document"},
		{"complex key", "type: senlin.policy.health\nversion: 1.2\n? [a, b]\n: c\n" + body, "", "keys must be strings, got a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := parseErrors(t, []byte(tc.data), health.DefaultLimits)
			wantError(t, errs, tc.path, tc.rule)
		})
	}
}

func TestPolicy_NullMeansDefault(t *testing.T) {
	data := spec("interval: ~\nnode_update_timeout: null\nrecovery_conditional:\n"+
		"detection_modes:\n  - type: NODE_STATUS_POLL_URL\n    options:\n      poll_url: http://m/{nodename}\n      poll_url_retry_limit: ~",
		recreate+"\nnode_delete_timeout: ~\nnode_force_recreate:")
	p := mustParse(t, data, health.DefaultLimits)
	if p.Interval != 60 || p.NodeUpdateTimeout != 300 || p.RecoveryConditional != health.AnyFailed ||
		p.NodeDeleteTimeout != 20 || p.NodeForceRecreate || p.DetectionModes[0].PollURLRetryLimit != 3 {
		t.Errorf("got %+v, want the defaults", p)
	}
}

func TestPolicy_AliasesAndMergeKeys(t *testing.T) {
	p := mustParse(t, readSpec(t, "multi_mode.yaml"), health.DefaultLimits)
	m, ok := p.Registration("c").Mode(health.NodeStatusPollURL)
	if !ok {
		t.Fatal("got no NODE_STATUS_POLL_URL mode, want one")
	}
	if m.PollURLRetryLimit != 5 || m.PollURLRetryInterval != 0 || m.PollURLHealthyResponse != "ok" {
		t.Errorf("got %+v, want merged retry options 5/0 and pattern ok", m)
	}
	t.Run("explicit keys win over merged ones", func(t *testing.T) {
		p := mustParse(t, spec("detection_modes:\n  - type: NODE_STATUS_POLL_URL\n    options:\n"+
			"      <<: [{poll_url_retry_limit: 7, poll_url: 'http://a/'}, {poll_url_retry_limit: 9, poll_url_retry_interval: 4}]\n"+
			"      poll_url: http://b/{nodename}", recreate), health.DefaultLimits)
		m := p.DetectionModes[0]
		if m.PollURL != "http://b/{nodename}" || m.PollURLRetryLimit != 7 || m.PollURLRetryInterval != 4 {
			t.Errorf("got %+v, want poll_url http://b/{nodename}, retry limit 7, interval 4", m)
		}
	})
	t.Run("merge of a scalar", func(t *testing.T) {
		errs := parseErrors(t, spec("detection_modes:\n  - type: NODE_STATUS_POLLING\n    options:\n      <<: 5", recreate), health.DefaultLimits)
		wantOnly(t, errs, "properties.detection.detection_modes[0].options", "a '<<' merge key needs a map or a list of maps")
	})
	t.Run("alias bomb", func(t *testing.T) {
		// Ten levels of ten aliases: 10^10 nodes once expanded.
		params := "actions:\n  - name: RECREATE\n    params:\n      l0: &l0 [x, x, x, x, x, x, x, x, x, x]"
		for i := 1; i < 10; i++ {
			prev := fmt.Sprintf("*l%d", i-1)
			params += fmt.Sprintf("\n      l%d: &l%d [%s]", i, i, strings.Repeat(prev+", ", 9)+prev)
		}
		start := time.Now()
		errs := parseErrors(t, spec(pollingModes, params), health.DefaultLimits)
		wantError(t, errs, "", "the policy is too complex")
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("got %v to reject an alias bomb, want well under 5s", d)
		}
	})
}

func TestPolicy_ParamsAreJSONValues(t *testing.T) {
	data := spec(pollingModes, `actions:
  - name: REBOOT
    params:
      type: SOFT
      count: 3
      ratio: 0.5
      big: 0x10
      on: yes
      flag: true
      nothing: ~
      when: 2024-05-10
      1: one
      list: [1, "2", {k: v}, []]
      map: {}`)
	got := mustParse(t, data, health.DefaultLimits).Recovery.Params
	want := map[string]any{
		"type": "SOFT", "count": 3.0, "ratio": 0.5, "big": 16.0, "on": "yes", "flag": true, "nothing": nil,
		"when": "2024-05-10", "1": "one",
		"list": []any{1.0, "2", map[string]any{"k": "v"}, []any{}},
		"map":  map[string]any{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("params:\ngot  %#v\nwant %#v", got, want)
	}
	for _, tc := range []struct {
		name, params, path, rule string
	}{
		{"infinity", "{x: .inf}", "properties.recovery.actions[0].params.x", "The value '.inf' is not a number JSON can represent"},
		{"nan in a list", "{x: [1, .nan]}", "properties.recovery.actions[0].params.x[1]", "not a number JSON can represent"},
		{"duplicate key", "{x: 1, x: 2}", "properties.recovery.actions[0].params.x", "Duplicate spec item 'x'"},
		{"complex key", "{[a]: 1}", "properties.recovery.actions[0].params", "keys must be strings"},
		{"not a map", "REBOOT_HARD", "properties.recovery.actions[0].params", "must be a map, got 'REBOOT_HARD'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := parseErrors(t, spec(pollingModes, "actions:\n  - name: REBOOT\n    params: "+tc.params), health.DefaultLimits)
			wantOnly(t, errs, tc.path, tc.rule)
		})
	}
	for _, params := range []string{"{}", "~", ""} {
		p := mustParse(t, spec(pollingModes, "actions:\n  - name: REBOOT\n    params: "+params), health.DefaultLimits)
		if p.Recovery.Params != nil {
			t.Errorf("params %q: got %#v, want nil", params, p.Recovery.Params)
		}
	}
}

func TestRegistration_JSONRoundTrip(t *testing.T) {
	for _, name := range validSpecs(t) {
		t.Run(name, func(t *testing.T) {
			reg := mustParse(t, readSpec(t, name), health.DefaultLimits).Registration("cluster-" + name)
			if err := reg.Validate(health.DefaultLimits); err != nil {
				t.Fatalf("Validate: got %v, want nil", err)
			}
			data, err := json.Marshal(reg)
			if err != nil {
				t.Fatal(err)
			}
			var back health.Registration
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, reg) {
				t.Errorf("round trip:\ngot  %#v\nwant %#v", back, reg)
			}
		})
	}
}

func TestPolicy_RegistrationSharesNoMemory(t *testing.T) {
	p := mustParse(t, readSpec(t, "multi_mode.yaml"), health.DefaultLimits)
	r := p.Registration("c")
	r.DetectionModes[0].PollURL = "changed"
	r.Recovery.Params["image"] = "changed"
	r.Recovery.Params["tags"].([]any)[0] = "changed"
	if p.DetectionModes[0].PollURL == "changed" || p.Recovery.Params["image"] == "changed" ||
		p.Recovery.Params["tags"].([]any)[0] == "changed" {
		t.Errorf("got the policy changed through its registration, want an independent copy")
	}
	if r.IntervalMax != health.DefaultLimits.IntervalMax {
		t.Errorf("got IntervalMax %d, want %d", r.IntervalMax, health.DefaultLimits.IntervalMax)
	}
	lim := health.Limits{IntervalMin: 30, IntervalMax: 45}
	if got := mustParse(t, readSpec(t, "multi_mode.yaml"), lim).Registration("c"); got.IntervalMax != 45 || got.RoundInterval() != 45*time.Second {
		t.Errorf("got IntervalMax %d round %v, want 45 and 45s", got.IntervalMax, got.RoundInterval())
	}
}

func TestRegistration_Validate(t *testing.T) {
	base := func() health.Registration {
		return health.Registration{
			ClusterID:           "c-1",
			PolicyVersion:       "1.2",
			Interval:            60,
			IntervalMax:         3600,
			NodeUpdateTimeout:   300,
			RecoveryConditional: health.AnyFailed,
			DetectionModes: []health.DetectionMode{{
				Type: health.NodeStatusPollURL, PollURL: "http://m/{nodename}",
				PollURLSSLVerify: true, PollURLConnErrorAsUnhealthy: true, PollURLRetryLimit: 3, PollURLRetryInterval: 3,
			}},
			Recovery:          health.RecoveryAction{Name: health.OpRecreate, Params: map[string]any{"n": 1, "f": 2.5}},
			NodeDeleteTimeout: 20,
		}
	}
	if err := base().Validate(health.DefaultLimits); err != nil {
		t.Fatalf("base: got %v, want nil", err)
	}
	const mode0 = "properties.detection.detection_modes[0]"
	for _, tc := range []struct {
		name   string
		mutate func(*health.Registration)
		lim    health.Limits
		path   string
		rule   string
	}{
		{"no cluster", func(r *health.Registration) { r.ClusterID = "" }, health.DefaultLimits, "cluster_id", "Required spec item 'cluster_id'"},
		{"interval below minimum", func(r *health.Registration) { r.Interval = 30 }, health.DefaultLimits, "properties.detection.interval", "has to be larger than health_check_interval_min of 60"},
		{"interval zero", func(r *health.Registration) { r.Interval = 0 }, health.Limits{}, "properties.detection.interval", "has to be larger than 0"},
		{"interval too large", func(r *health.Registration) { r.Interval = math.MaxInt32 + 1 }, health.DefaultLimits, "properties.detection.interval", "out of range"},
		{"negative cap", func(r *health.Registration) { r.IntervalMax = -1 }, health.DefaultLimits, "check_interval_max", "must not be negative"},
		{"negative grace", func(r *health.Registration) { r.NodeUpdateTimeout = -1 }, health.DefaultLimits, "properties.detection.node_update_timeout", "must not be negative"},
		{"conditional", func(r *health.Registration) { r.RecoveryConditional = "any_failed" }, health.DefaultLimits, "properties.detection.recovery_conditional", "'any_failed' must be one of"},
		{"version", func(r *health.Registration) { r.PolicyVersion = "2.0" }, health.DefaultLimits, "version", "'2.0' must be one of"},
		{"no modes", func(r *health.Registration) { r.DetectionModes = nil }, health.DefaultLimits, "properties.detection.detection_modes", "At least one detection mode"},
		{"unknown type", func(r *health.Registration) { r.DetectionModes[0].Type = "LB_STATUS_POLLING" }, health.DefaultLimits, mode0 + ".type", "'LB_STATUS_POLLING' must be one of"},
		{"no poll_url", func(r *health.Registration) { r.DetectionModes[0].PollURL = "" }, health.DefaultLimits, mode0 + ".options.poll_url", "Required spec item 'poll_url'"},
		{"bad pattern", func(r *health.Registration) { r.DetectionModes[0].PollURLHealthyResponse = "[" }, health.DefaultLimits, mode0 + ".options.poll_url_healthy_response", "not a valid regular expression"},
		{"negative retries", func(r *health.Registration) { r.DetectionModes[0].PollURLRetryLimit = -2 }, health.DefaultLimits, mode0 + ".options.poll_url_retry_limit", "must not be negative"},
		{"duplicate", func(r *health.Registration) { r.DetectionModes = append(r.DetectionModes, r.DetectionModes[0]) }, health.DefaultLimits, "properties.detection.detection_modes", "Duplicate detection modes"},
		{"same type", func(r *health.Registration) {
			m := r.DetectionModes[0]
			m.PollURL = "http://other/"
			r.DetectionModes = append(r.DetectionModes, m)
		}, health.DefaultLimits, "properties.detection.detection_modes[1].type", "may appear only once"},
		{"mixed", func(r *health.Registration) {
			r.DetectionModes = append(r.DetectionModes, health.DetectionMode{Type: health.LifecycleEvents})
		}, health.DefaultLimits, "properties.detection.detection_modes", "Invalid detection modes in health policy: NODE_STATUS_POLL_URL, LIFECYCLE_EVENTS"},
		{"no action", func(r *health.Registration) { r.Recovery = health.RecoveryAction{} }, health.DefaultLimits, "properties.recovery.actions[0].name", "Required spec item 'name'"},
		{"bad action", func(r *health.Registration) { r.Recovery.Name = "MIGRATE" }, health.DefaultLimits, "properties.recovery.actions[0].name", "'MIGRATE' must be one of"},
		{"NaN param", func(r *health.Registration) { r.Recovery.Params["x"] = math.NaN() }, health.DefaultLimits, "properties.recovery.actions[0].params", "JSON values"},
		{"channel param", func(r *health.Registration) { r.Recovery.Params["x"] = []any{make(chan int)} }, health.DefaultLimits, "properties.recovery.actions[0].params", "JSON values"},
		{"fencing", func(r *health.Registration) { r.Fencing = []string{"NETWORK"} }, health.DefaultLimits, "properties.recovery.fencing[0]", "'NETWORK' must be one of the allowed values: COMPUTE"},
		{"negative delete timeout", func(r *health.Registration) { r.NodeDeleteTimeout = -1 }, health.DefaultLimits, "properties.recovery.node_delete_timeout", "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.mutate(&r)
			err := r.Validate(tc.lim)
			var ve *health.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			wantOnly(t, ve.Errors, tc.path, tc.rule)
		})
	}
}

func TestRegistration_Summary(t *testing.T) {
	for _, tc := range []struct {
		file string
		lim  health.Limits
		want string
	}{
		{"defaults.yaml", health.DefaultLimits, "NODE_STATUS_POLLING every 60s, grace 300s, RECREATE"},
		{"poll_url.yaml", health.DefaultLimits, "NODE_STATUS_POLL_URL every 120s, grace 240s, RECREATE (force)"},
		{"lifecycle_events.yaml", health.DefaultLimits, "LIFECYCLE_EVENTS, grace 600s, REBOOT"},
		{"multi_mode.yaml", health.DefaultLimits,
			"NODE_STATUS_POLLING+HYPERVISOR_STATUS_POLLING+NODE_STATUS_POLL_URL (ALL_FAILED) every 90s, grace 300s, REBUILD"},
		{"senlin_sample.yaml", health.Limits{IntervalMin: 60, IntervalMax: 300}, "NODE_STATUS_POLLING every 300s (capped from 600s), grace 300s, RECREATE"},
	} {
		if got := mustParse(t, readSpec(t, tc.file), tc.lim).Registration("c").Summary(); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.file, got, tc.want)
		}
	}
	if got, want := (health.Registration{}).Summary(), "no detection modes, grace 0s, no recovery action"; got != want {
		t.Errorf("zero registration: got %q, want %q", got, want)
	}
}

func TestFieldError_Error(t *testing.T) {
	if got, want := (health.FieldError{Path: "a.b[0]", Rule: "bad"}).Error(), "a.b[0]: bad"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := (health.FieldError{Rule: "the policy document is empty"}).Error(), "the policy document is empty"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	ve := &health.ValidationError{Errors: []health.FieldError{{Path: "x", Rule: "one"}, {Path: "y", Rule: "two"}}}
	if got, want := ve.Error(), "x: one\ny: two"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPolicy_MessagesStayOnOneLine(t *testing.T) {
	data := spec("interval: \"1\\n2\"\n"+pollURL("poll_url: \"http://m/\\n{nodename}\"", "poll_url_healthy_response: \"(\\u0000\""),
		recreate+"\n\"bad\\nkey\": 1")
	for _, e := range parseErrors(t, data, health.DefaultLimits) {
		if strings.ContainsAny(e.Error(), "\n\x00") {
			t.Errorf("got %q, want a single line without control characters", e.Error())
		}
	}
}

// healthd's own section, properties.healthd, sets the wait bound apart from
// node_update_timeout (Senlin F-20); Senlin's policies have none and keep
// Senlin's timing.
func TestPolicy_RecoveryWaitTimeout(t *testing.T) {
	base := spec("node_update_timeout: 300\n"+pollingModes, recreate)
	p := mustParse(t, base, health.DefaultLimits)
	if r := p.Registration("c1"); r.WaitTimeout != 0 || r.WaitBound() != 300*time.Second {
		t.Errorf("without the section: got wait timeout %d bound %s, want 0 and node_update_timeout 300s", r.WaitTimeout, r.WaitBound())
	}
	with := append(base, []byte("  healthd:\n    recovery_wait_timeout: 900\n")...)
	p = mustParse(t, with, health.DefaultLimits)
	if r := p.Registration("c1"); r.WaitTimeout != 900 || r.WaitBound() != 900*time.Second || r.Grace() != 300*time.Second {
		t.Errorf("with the section: got wait timeout %d bound %s grace %s, want 900, 900s, 300s", r.WaitTimeout, r.WaitBound(), r.Grace())
	}
	wantOnly(t, parseErrors(t, append(base, []byte("  healthd:\n    recovery_wait_timeout: -5\n")...), health.DefaultLimits),
		"properties.healthd.recovery_wait_timeout", "must not be negative")
	wantOnly(t, parseErrors(t, append(base, []byte("  healthd:\n    wait: 5\n")...), health.DefaultLimits),
		"properties.healthd.wait", "Unrecognizable")
	// A registration that arrives later is validated by the same rule.
	r := p.Registration("c1")
	r.WaitTimeout = -1
	var ve *health.ValidationError
	if err := r.Validate(health.DefaultLimits); !errors.As(err, &ve) || len(ve.Errors) != 1 ||
		ve.Errors[0].Path != "properties.healthd.recovery_wait_timeout" {
		t.Errorf("Validate: got %v, want one error at properties.healthd.recovery_wait_timeout", err)
	}
}

// event_settle and confirm_timeout: how a burst of recover requests is
// collected and how long a recovered node of a cluster without rounds counts
// until it is seen back. Absent, the defaults; event_settle 0 judges each
// request alone, as before.
func TestPolicy_EventSettle(t *testing.T) {
	base := spec("node_update_timeout: 300\n"+pollingModes, recreate)
	r := mustParse(t, base, health.DefaultLimits).Registration("c1")
	if r.Safety.Settle() != health.DefaultEventSettle*time.Second || r.Safety.Confirm() != health.DefaultConfirmTimeout*time.Second {
		t.Errorf("without the settings: got settle %s confirm %s, want the defaults", r.Safety.Settle(), r.Safety.Confirm())
	}
	for _, tc := range []struct {
		yaml             string
		settle, confirm  time.Duration
		path, errorWords string
	}{
		{yaml: "event_settle: 0", settle: 0, confirm: health.DefaultConfirmTimeout * time.Second},
		{yaml: "event_settle: 2\n    confirm_timeout: 600", settle: 2 * time.Second, confirm: 600 * time.Second},
		{yaml: "event_settle: -1", path: "properties.healthd.event_settle", errorWords: "must be from 0"},
		{yaml: "event_settle: 61", path: "properties.healthd.event_settle", errorWords: "to 60 seconds"},
		{yaml: "event_settle: soon", path: "properties.healthd.event_settle", errorWords: "not a valid Integer"},
		{yaml: "confirm_timeout: -3", path: "properties.healthd.confirm_timeout", errorWords: "must be from 0"},
		{yaml: "confirm_timeout: 86401", path: "properties.healthd.confirm_timeout", errorWords: "86400 seconds"},
	} {
		data := append(slices.Clone(base), []byte("  healthd:\n    "+tc.yaml+"\n")...)
		if tc.path != "" {
			wantOnly(t, parseErrors(t, data, health.DefaultLimits), tc.path, tc.errorWords)
			continue
		}
		r := mustParse(t, data, health.DefaultLimits).Registration("c1")
		if r.Safety.Settle() != tc.settle || r.Safety.Confirm() != tc.confirm {
			t.Errorf("%s: got settle %s confirm %s, want %s and %s", tc.yaml, r.Safety.Settle(), r.Safety.Confirm(), tc.settle, tc.confirm)
		}
	}
}

// An approval waits at most 7 days: a longer wait kept a workflow run alive
// for its whole length (see the workflows' TestApprovalDoesNotBlockContinueAsNew).
func TestPolicy_ApprovalTimeoutCap(t *testing.T) {
	base := spec("node_update_timeout: 300\n"+pollingModes, recreate)
	for _, tc := range []struct {
		timeout int
		ok      bool
	}{{health.MaxApprovalTimeout, true}, {health.MaxApprovalTimeout + 1, false}, {365 * 24 * 3600, false}} {
		data := append(slices.Clone(base), fmt.Appendf(nil, "  healthd:\n    approval:\n      operations: [RECREATE]\n      timeout: %d\n", tc.timeout)...)
		if tc.ok {
			if r := mustParse(t, data, health.DefaultLimits).Registration("c1"); r.Safety.ApprovalWait() != time.Duration(tc.timeout)*time.Second {
				t.Errorf("timeout %d: got %s", tc.timeout, r.Safety.ApprovalWait())
			}
			continue
		}
		wantOnly(t, parseErrors(t, data, health.DefaultLimits), "properties.healthd.approval.timeout", "604800 seconds (7 days)")
	}
}

// Policy values that wedge a cluster are refused: a retry schedule that does
// not fit within the interval (a one-year poll_url_retry_interval stopped
// rounds for good), and values too long to carry in every round's input.
// A request's timeout is capped at 30 s.
func TestPolicy_ValuesThatWedge(t *testing.T) {
	const opts = "properties.detection.detection_modes[0].options"
	long := func(n int) string { return strings.Repeat("a", n) }
	for _, tc := range []struct {
		name                string
		detection, recovery string
		path                string
		fragments           []string
	}{
		{"a year between retries", "interval: 60\n" + pollURL("poll_url: http://m/{nodename}", "poll_url_retry_interval: 31536000"), recreate,
			opts + ".poll_url_retry_interval", []string{"take 17520h0m30s", "less than the interval of 60s"}},
		{"retries just too long", "interval: 60\n" + pollURL("poll_url: http://m/{nodename}", "poll_url_retry_limit: 4", "poll_url_retry_interval: 20"), recreate,
			opts + ".poll_url_retry_interval", []string{"3 more attempts 20s apart", "take 1m2s"}},
		{"a long poll_url", pollURL("poll_url: http://m/" + long(2100)), recreate,
			opts + ".poll_url", []string{"at most 2048 bytes"}},
		{"a long pattern", pollURL("poll_url: http://m/", "poll_url_healthy_response: "+long(1100)), recreate,
			opts + ".poll_url_healthy_response", []string{"at most 1024 bytes"}},
		{"long params", pollingModes, recreate + "\n    params: {blob: " + long(5000) + "}",
			"properties.recovery.actions[0].params", []string{"at most 4096 bytes as JSON"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOnly(t, parseErrors(t, spec(tc.detection, tc.recovery), health.DefaultLimits), tc.path, tc.fragments...)
		})
	}
	// What fits is accepted: 2 retries 25 s apart and a 2.5 s timeout in
	// 60 s.
	mustParse(t, spec("interval: 60\n"+pollURL("poll_url: http://m/{nodename}", "poll_url_retry_interval: 25"), recreate), health.DefaultLimits)
	if got := (health.DetectionMode{PollURLRetryInterval: 3600}).RequestTimeout(); got != health.MaxRequestTimeout {
		t.Errorf("the timeout of a request with retries an hour apart: got %s, want %s", got, health.MaxRequestTimeout)
	}
}
