package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store/storetest"
)

func TestHealthEvents(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	events := []health.HealthEvent{
		{ClusterID: "c1", NodeID: "n1", At: t0, From: health.Healthy, To: health.Unhealthy, Reason: "poll url failed"},
		{ClusterID: "c1", NodeID: "n1", At: t0.Add(time.Minute), From: health.Unhealthy, To: health.Unhealthy,
			Reason: "recovery requested", ActionID: "6f1c2d4e-0000-4000-8000-000000000001"},
		{ClusterID: "c1", NodeID: "n1", At: t0.Add(2 * time.Minute), From: health.Unhealthy, To: health.Healthy},
		{ClusterID: "c2", NodeID: "n7", At: t0, From: health.Healthy, To: health.Unknown},
	}
	if err := s.AddHealthEvents(ctx, events); err != nil {
		t.Fatalf("AddHealthEvents: %v", err)
	}
	if err := s.AddHealthEvents(ctx, nil); err != nil {
		t.Fatalf("AddHealthEvents(nil): got %v, want nil", err)
	}

	tests := []struct {
		name    string
		cluster string
		limit   int
		want    []health.HealthEvent
	}{
		{"all, newest first", "c1", 0, []health.HealthEvent{events[2], events[1], events[0]}},
		{"limited", "c1", 2, []health.HealthEvent{events[2], events[1]}},
		{"other cluster", "c2", 10, []health.HealthEvent{events[3]}},
		{"unknown cluster", "c9", 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListHealthEvents(ctx, tt.cluster, tt.limit)
			if err != nil {
				t.Fatalf("ListHealthEvents: %v", err)
			}
			if len(got) != len(tt.want) || len(got) > 0 && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ListHealthEvents(%q, %d):\ngot  %+v\nwant %+v", tt.cluster, tt.limit, got, tt.want)
			}
		})
	}
}

func TestAddHealthEventsStampsZeroTimes(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	before := time.Now()
	if err := s.AddHealthEvents(ctx, []health.HealthEvent{{ClusterID: "c1", NodeID: "n1", From: health.Healthy, To: health.Unhealthy}}); err != nil {
		t.Fatalf("AddHealthEvents: %v", err)
	}
	got, err := s.ListHealthEvents(ctx, "c1", 1)
	if err != nil {
		t.Fatalf("ListHealthEvents: %v", err)
	}
	if len(got) != 1 || !about(got[0].At, before) {
		t.Fatalf("ListHealthEvents: got %+v, want one event stamped about %v", got, before)
	}
}

func TestAddHealthEventsIsAllOrNothing(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	// A NUL byte is not valid in Postgres text, so the second insert fails.
	err := s.AddHealthEvents(ctx, []health.HealthEvent{
		{ClusterID: "c1", NodeID: "n1", From: health.Healthy, To: health.Unhealthy},
		{ClusterID: "c1", NodeID: "n2", From: health.Healthy, To: health.Unhealthy, Reason: "bad\x00byte"},
	})
	if err == nil {
		t.Fatal("AddHealthEvents with an invalid event: got nil error, want one")
	}
	got, err := s.ListHealthEvents(ctx, "c1", 0)
	if err != nil {
		t.Fatalf("ListHealthEvents: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("events after a failed batch: got %d, want 0", len(got))
	}
}
