package workflows

import (
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays every history recorded from a real
// server (see internal/app's end-to-end tests, HEALTHD_RECORD_HISTORY=1)
// against the current workflow code: a non-deterministic change fails here.
// Each replays under its own workflow ID, the one its input's cluster has.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("got %d recorded histories in testdata, want at least 2", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			file, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer file.Close()
			h, err := client.HistoryFromJSON(file, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatalf("read %s: %v", f, err)
			}
			var in Input
			start := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
			if err := converter.GetDefaultDataConverter().FromPayloads(start.GetInput(), &in); err != nil {
				t.Fatalf("%s: decode the workflow's input: %v", f, err)
			}
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(ClusterHealth, workflow.RegisterOptions{Name: WorkflowName})
			opts := worker.ReplayWorkflowHistoryOptions{OriginalExecution: workflow.Execution{ID: WorkflowID(in.Registration.ClusterID)}}
			if err := r.ReplayWorkflowHistoryWithOptions(nil, h, opts); err != nil {
				t.Errorf("replay %s: %v", f, err)
			}
		})
	}
}
