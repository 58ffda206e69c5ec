package app_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
)

// recordHistory writes the workflow's history to workflows/testdata/<name>.json
// when HEALTHD_RECORD_HISTORY is set, for the replay tests of the workflows
// package. Re-record after a deliberate, versioned change of workflow logic.
func recordHistory(t testing.TB, c client.Client, workflowID, name string) {
	t.Helper()
	if os.Getenv("HEALTHD_RECORD_HISTORY") == "" {
		return
	}
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, 0)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("read history of %s: %v", workflowID, err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join("..", "..", "workflows", "testdata", name+".json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d events to %s", len(h.Events), p)
}
