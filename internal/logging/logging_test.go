package logging_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/clusterhealth/healthd/internal/logging"
)

func TestNew(t *testing.T) {
	tests := []struct {
		format, level string
		enabled       zapcore.Level
		disabled      zapcore.Level // below enabled; ignored for debug
	}{
		{"json", "debug", zapcore.DebugLevel, zapcore.DebugLevel - 1},
		{"json", "info", zapcore.InfoLevel, zapcore.DebugLevel},
		{"console", "warn", zapcore.WarnLevel, zapcore.InfoLevel},
		{"console", "error", zapcore.ErrorLevel, zapcore.WarnLevel},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.level, func(t *testing.T) {
			l, err := logging.New(tt.format, tt.level)
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if !l.Core().Enabled(tt.enabled) {
				t.Errorf("got %s disabled, want enabled", tt.enabled)
			}
			if l.Core().Enabled(tt.disabled) {
				t.Errorf("got %s enabled, want disabled", tt.disabled)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		format, level, wantErr string
	}{
		{"xml", "info", `format "xml"`},
		{"", "info", `format ""`},
		{"json", "verbose", `level "verbose"`},
		{"json", "INFO", `level "INFO"`},
		{"console", "", `level ""`},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.level, func(t *testing.T) {
			l, err := logging.New(tt.format, tt.level)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got logger %v, error %v, want an error naming %s", l, err, tt.wantErr)
			}
		})
	}
}

func observed(t *testing.T) (log.Logger, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	return logging.Temporal(zap.New(core, zap.AddCaller())), logs
}

func TestTemporalFields(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		keyvals []any
		want    map[string]any
	}{
		{"none", nil, map[string]any{}},
		{"snake_case keys kept", []any{"cluster_id", "c-1", "node_id", "n-1"}, map[string]any{"cluster_id": "c-1", "node_id": "n-1"}},
		{"SDK keys kept", []any{"WorkflowID", "cluster-health/c-1", "Attempt", 2}, map[string]any{"WorkflowID": "cluster-health/c-1", "Attempt": int64(2)}},
		{"typed values", []any{"error", errBoom, "elapsed", 1500 * time.Millisecond, "ok", true}, map[string]any{"error": "boom", "elapsed": 1500 * time.Millisecond, "ok": true}},
		{"odd count", []any{"cluster_id", "c-1", "dangling"}, map[string]any{"cluster_id": "c-1", "!BADKEY": "dangling"}},
		{"non-string key", []any{42, "answer"}, map[string]any{"42": "answer"}},
		{"zap field in place of a pair", []any{zap.String("node_id", "n-1"), "cluster_id", "c-1"}, map[string]any{"node_id": "n-1", "cluster_id": "c-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, logs := observed(t)
			l.Info("round finished", tt.keyvals...)
			entries := logs.AllUntimed()
			if len(entries) != 1 {
				t.Fatalf("got %d entries, want 1", len(entries))
			}
			if got := entries[0].ContextMap(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got fields %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTemporalLevels(t *testing.T) {
	l, logs := observed(t)
	l.Debug("d")
	l.Info("i")
	l.Warn("w")
	l.Error("e")
	var got []string
	for _, e := range logs.AllUntimed() {
		got = append(got, e.Level.String()+":"+e.Message)
	}
	want := []string{"debug:d", "info:i", "warn:w", "error:e"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestTemporalWith(t *testing.T) {
	l, logs := observed(t)
	child := l.(log.WithLogger).With("cluster_id", "c-1")
	child.Info("child", "node_id", "n-1")
	l.Info("parent")

	entries := logs.AllUntimed()
	if len(entries) != 2 {
		t.Fatalf("got %d entries, want 2", len(entries))
	}
	if got, want := entries[0].ContextMap(), map[string]any{"cluster_id": "c-1", "node_id": "n-1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got child fields %v, want %v", got, want)
	}
	if got := entries[1].ContextMap(); len(got) != 0 {
		t.Errorf("got parent fields %v, want none (With must not mutate)", got)
	}
}

// logVia logs through one extra frame, as the SDK's wrappers do.
func logVia(l log.Logger, msg string) {
	l.(log.WithSkipCallers).WithCallerSkip(1).Info(msg)
}

func TestTemporalCaller(t *testing.T) {
	l, logs := observed(t)
	l.Info("direct")
	logVia(l, "wrapped")
	for _, e := range logs.AllUntimed() {
		if got := filepath.Base(e.Caller.File); got != "logging_test.go" {
			t.Errorf("got caller %s for %q, want logging_test.go", e.Caller.String(), e.Message)
		}
		if e.Message == "wrapped" && strings.Contains(e.Caller.Function, "logVia") {
			t.Errorf("got caller %s for %q, want the caller of logVia", e.Caller.Function, e.Message)
		}
	}
}

func greet(ctx workflow.Context, clusterID string) error {
	workflow.GetLogger(ctx).Info("round started", "cluster_id", clusterID)
	return nil
}

func TestWorkflowLoggerGoesThroughZap(t *testing.T) {
	l, logs := observed(t)
	var s testsuite.WorkflowTestSuite
	s.SetLogger(l)
	env := s.NewTestWorkflowEnvironment()
	env.ExecuteWorkflow(greet, "c-1")
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("got workflow error %v, want nil", err)
	}

	found := logs.FilterMessage("round started").AllUntimed()
	if len(found) != 1 {
		t.Fatalf("got %d \"round started\" entries, want 1", len(found))
	}
	fields := found[0].ContextMap()
	if got := fields["cluster_id"]; got != "c-1" {
		t.Errorf("got cluster_id %v, want c-1", got)
	}
	if got := filepath.Base(found[0].Caller.File); got != "logging_test.go" {
		t.Errorf("got caller %s, want logging_test.go", found[0].Caller.String())
	}
}
