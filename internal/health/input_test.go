package health_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/clusterhealth/healthd/internal/health"
)

func TestCheckClusterID(t *testing.T) {
	tests := []struct {
		id   string
		want string // a substring of the error; "" when valid
	}{
		{"c1", ""},
		{"7a1f3c2e-5b6d-4e8f-9a0b-1c2d3e4f5a6b", ""},
		{"prod.eu-west:web_tier", ""},
		{"A", ""},
		{strings.Repeat("a", health.MaxClusterIDLen), ""},
		{"", "cluster_id: required"},
		{strings.Repeat("a", health.MaxClusterIDLen+1), "is 129 bytes long"},
		{"my cluster", `holds ' ' at byte 2`},
		{"a/b", `holds '/' at byte 1`},
		{"../etc", `holds '.' at byte 0`},
		{"-rf", `holds '-' at byte 0`},
		{":x", `holds ':' at byte 0`},
		{"a\nb", `holds '\n' at byte 1`},
		{"a\x00b", `holds '\x00' at byte 1`},
		{"a'b", `holds '\'' at byte 1`},
		{`a"b`, `holds '"' at byte 1`},
		{"a;DROP TABLE nodes", `holds ';' at byte 1`},
		{"a{b=\"c\"}", `holds '{' at byte 1`},
		{"a%2Fb", `holds '%' at byte 1`},
		{"clüster", `holds 'ü' at byte 2`},
		{"a\u202eb", `holds '\u202e' at byte 1`},
		{"a\xffb", "is not valid UTF-8"},
	}
	for _, tt := range tests {
		err := health.CheckClusterID(tt.id)
		if tt.want == "" {
			if err != nil {
				t.Errorf("CheckClusterID(%q): got %v, want nil", tt.id, err)
			}
			continue
		}
		var fe health.FieldError
		if !errors.As(err, &fe) || fe.Path != "cluster_id" || !strings.Contains(err.Error(), tt.want) ||
			!strings.Contains(err.Error(), health.ClusterIDRule) || strings.ContainsAny(err.Error(), "\n\x00") {
			t.Errorf("CheckClusterID(%q): got %v, want a one-line cluster_id error containing %q and the rule", tt.id, err, tt.want)
		}
	}
}

func TestRegistrationValidateChecksClusterID(t *testing.T) {
	reg := health.Registration{
		ClusterID: "c 1", Interval: 60, NodeUpdateTimeout: 300, RecoveryConditional: health.AnyFailed,
		DetectionModes: []health.DetectionMode{{Type: health.NodeStatusPolling}},
		Recovery:       health.RecoveryAction{Name: health.OpRecreate},
	}
	err := reg.Validate(health.DefaultLimits)
	var ve *health.ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Path != "cluster_id" || !strings.Contains(ve.Errors[0].Rule, "holds ' '") {
		t.Fatalf("Validate: got %v, want one cluster_id error about the space", err)
	}
	reg.ClusterID = "c-1"
	if err := reg.Validate(health.DefaultLimits); err != nil {
		t.Fatalf("Validate: got %v, want nil", err)
	}
}

func TestRecoverSignalValidate(t *testing.T) {
	long := strings.Repeat("x", health.MaxIDBytes+1)
	text := strings.Repeat("y", health.MaxTextBytes+1)
	tests := []struct {
		name string
		sig  health.RecoverSignal
		want []string // substrings of the error; none when valid
	}{
		{"minimal", health.RecoverSignal{NodeID: "n1"}, nil},
		{"full", health.RecoverSignal{NodeID: "n1", Event: "SHUTDOWN", State: "stopped\nby host", PhysicalID: "srv-1",
			Publisher: "compute.h1", Timestamp: "2026-11-24 14:43:47.419559", MessageID: "m-1", Project: "p", Source: "nova"}, nil},
		{"at the bounds", health.RecoverSignal{NodeID: long[1:], Event: text[1:], State: text[1:]}, nil},
		{"no node", health.RecoverSignal{}, []string{"node_id: required"}},
		{"blank node", health.RecoverSignal{NodeID: " \t"}, []string{"node_id: required"}},
		{"node too long", health.RecoverSignal{NodeID: long}, []string{"node_id: is 257 bytes long, more than the 256 allowed"}},
		{"node with a newline", health.RecoverSignal{NodeID: "n\n1"}, []string{`node_id: must not hold the control character '\n'`}},
		{"node not UTF-8", health.RecoverSignal{NodeID: "n\xff"}, []string{"node_id: must be valid UTF-8 text"}},
		{"event and state too long", health.RecoverSignal{NodeID: "n1", Event: text, State: text},
			[]string{"event: is 1025 bytes long", "state: is 1025 bytes long"}},
		{"every identifier too long", health.RecoverSignal{NodeID: "n1", PhysicalID: long, Publisher: long, Timestamp: long,
			MessageID: long, Project: long, Source: long},
			[]string{"physical_id:", "publisher:", "timestamp:", "message_id:", "project:", "source:"}},
		{"event with a NUL", health.RecoverSignal{NodeID: "n1", Event: "a\x00"}, []string{`event: must not hold the control character '\x00'`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.sig.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got nil, want errors containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
			var fe health.FieldError
			if !errors.As(err, &fe) {
				t.Errorf("got %T, want FieldErrors", err)
			}
		})
	}
}

func TestCheckPauseSeconds(t *testing.T) {
	for _, v := range []int{0, 1, health.MaxPauseSeconds} {
		if err := health.CheckPauseSeconds("for_seconds", v); err != nil {
			t.Errorf("CheckPauseSeconds(%d): got %v, want nil", v, err)
		}
	}
	for _, v := range []int{-1, health.MaxPauseSeconds + 1, int(^uint(0) >> 1)} {
		err := health.CheckPauseSeconds("for_seconds", v)
		if err == nil || !strings.HasPrefix(err.Error(), "for_seconds: must be from 0 to 31622400") {
			t.Errorf("CheckPauseSeconds(%d): got %v, want for_seconds: must be from 0 to 31622400 ...", v, err)
		}
	}
}
