package store_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/store/storetest"
)

func TestAddHealthEventsStampsZeroTimes(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	before := time.Now()
	if err := s.AddHealthEvents(ctx, []health.HealthEvent{{ClusterID: "c1", NodeID: "n1", From: health.Healthy, To: health.Unhealthy}}); err != nil {
		t.Fatalf("AddHealthEvents: %v", err)
	}
	got, err := s.HealthTimeline(ctx, store.HealthEventFilter{ClusterID: "c1"})
	if err != nil {
		t.Fatalf("HealthTimeline: %v", err)
	}
	if len(got) != 1 || !about(got[0].At, before) {
		t.Fatalf("HealthTimeline: got %+v, want one event stamped about %v", got, before)
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
	got, err := s.HealthTimeline(ctx, store.HealthEventFilter{ClusterID: "c1"})
	if err != nil {
		t.Fatalf("HealthTimeline: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("events after a failed batch: got %d, want 0", len(got))
	}
}

func TestHealthTimeline(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	// Inserted out of time order, with two events at the same instant, so that
	// the order comes from the query and not from the insertion.
	events := []health.HealthEvent{
		{ClusterID: "c1", NodeID: "n2", At: t0.Add(3 * time.Minute), From: health.Healthy, To: health.Unknown, Reason: "timeout"},
		{ClusterID: "c1", NodeID: "n1", At: t0, From: health.Healthy, To: health.Unhealthy, Reason: "poll url failed"},
		{ClusterID: "c1", NodeID: "n1", At: t0.Add(time.Minute), From: health.Unhealthy, To: health.Unhealthy,
			Reason: "recovery requested", ActionID: "6f1c2d4e-0000-4000-8000-000000000001"},
		{ClusterID: "c1", NodeID: "n1", At: t0.Add(2 * time.Minute), From: health.Unhealthy, To: health.Healthy},
		{ClusterID: "c1", NodeID: "n2", At: t0.Add(2 * time.Minute), From: health.Unknown, To: health.Healthy},
		{ClusterID: "c2", NodeID: "n1", At: t0, From: health.Healthy, To: health.Unknown},
	}
	if err := s.AddHealthEvents(ctx, events); err != nil {
		t.Fatalf("AddHealthEvents: %v", err)
	}
	n1a, n1b, n1c, n2a, n2b, other := events[1], events[2], events[3], events[4], events[0], events[5]

	tests := []struct {
		name string
		f    store.HealthEventFilter
		want []health.HealthEvent
	}{
		{"whole cluster, newest last", store.HealthEventFilter{ClusterID: "c1"}, []health.HealthEvent{n1a, n1b, n1c, n2a, n2b}},
		{"one node", store.HealthEventFilter{ClusterID: "c1", NodeID: "n1"}, []health.HealthEvent{n1a, n1b, n1c}},
		{"since, inclusive", store.HealthEventFilter{ClusterID: "c1", Since: t0.Add(2 * time.Minute)}, []health.HealthEvent{n1c, n2a, n2b}},
		{"since in another zone", store.HealthEventFilter{ClusterID: "c1", Since: t0.Add(150 * time.Second).In(time.FixedZone("CEST", 2*3600))},
			[]health.HealthEvent{n2b}},
		{"limit keeps the newest", store.HealthEventFilter{ClusterID: "c1", Limit: 2}, []health.HealthEvent{n2a, n2b}},
		{"node, since and limit", store.HealthEventFilter{ClusterID: "c1", NodeID: "n1", Since: t0.Add(time.Minute), Limit: 1}, []health.HealthEvent{n1c}},
		{"other cluster", store.HealthEventFilter{ClusterID: "c2"}, []health.HealthEvent{other}},
		{"unknown node", store.HealthEventFilter{ClusterID: "c1", NodeID: "n9"}, nil},
		{"unknown cluster", store.HealthEventFilter{ClusterID: "c9"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.HealthTimeline(ctx, tt.f)
			if err != nil {
				t.Fatalf("HealthTimeline: %v", err)
			}
			if len(got) != len(tt.want) || len(got) > 0 && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("HealthTimeline(%+v):\ngot  %+v\nwant %+v", tt.f, got, tt.want)
			}
		})
	}
}

func TestHealthTimelineDefaultLimit(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	events := make([]health.HealthEvent, store.DefaultHealthEventLimit+5)
	for i := range events {
		events[i] = health.HealthEvent{ClusterID: "c1", NodeID: "n1", At: t0.Add(time.Duration(i) * time.Second), From: health.Healthy, To: health.Unhealthy}
	}
	if err := s.AddHealthEvents(ctx, events); err != nil {
		t.Fatalf("AddHealthEvents: %v", err)
	}
	got, err := s.HealthTimeline(ctx, store.HealthEventFilter{ClusterID: "c1"})
	if err != nil {
		t.Fatalf("HealthTimeline: %v", err)
	}
	if len(got) != store.DefaultHealthEventLimit {
		t.Fatalf("HealthTimeline without a limit: got %d events, want %d", len(got), store.DefaultHealthEventLimit)
	}
	if first, last := got[0].At, got[len(got)-1].At; !first.Equal(events[5].At) || !last.Equal(events[len(events)-1].At) {
		t.Errorf("HealthTimeline without a limit: got %v to %v, want the newest %d, %v to %v",
			first, last, store.DefaultHealthEventLimit, events[5].At, events[len(events)-1].At)
	}
}

func TestHealthTimelineRejectsBadFilters(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	tests := []struct {
		f    store.HealthEventFilter
		want string
	}{
		{store.HealthEventFilter{}, "HealthEventFilter.ClusterID is empty"},
		{store.HealthEventFilter{ClusterID: "c1", Limit: -1}, "HealthEventFilter.Limit must not be negative, got -1"},
	}
	for _, tt := range tests {
		_, err := s.HealthTimeline(ctx, tt.f)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("HealthTimeline(%+v): got %v, want an error containing %q", tt.f, err, tt.want)
		}
	}
}
