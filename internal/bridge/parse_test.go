package bridge

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
)

// The cluster, node and project of the member.* captures.
const (
	fxCluster = "7a1f3c2e-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
	fxNode    = "0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a"
	fxProject = "6f70656e737461636b20342065766572"
	fxUser    = "3b7a3c2d1f0e4a5b9c8d7e6f5a4b3c2d"
	fxServer  = "178b0921-8f85-4257-88b6-2e743b5a975c"
	// fxStackID is the id at the end of the fixture's stack_identity, the ARN
	// arn:openstack:heat::<tenant>:stacks/web-stack/<id>: what an engine
	// records as the physical id of a stack node.
	fxStackID = "2f4e9a63-0d5a-4c5e-9c1b-7f3c9e7b1a20"

	memberNova          = "member.nova.compute.instance.shutdown.end.messagingv2"
	memberNovaVersioned = "member.nova.versioned.instance.power_off.end.messagingv2"
	memberHeat          = "member.heat.orchestration.stack.delete.end.messagingv2"
)

// fixtureWant is what parsing and classifying a capture must give.
type fixtureWant struct {
	envelope  string
	priority  string
	messageID string
	kind      Kind
	reason    string // a substring of Outcome.Reason
	cluster   string
	signal    health.RecoverSignal
}

// fixtureWants covers every capture in testdata/oslo.
var fixtureWants = map[string]fixtureWant{
	"heat.orchestration.stack.delete.end.messaging": {
		envelope: "", priority: "INFO", messageID: "87dee289-8569-41c9-8f39-3918009a1ede",
		kind: KindIgnored, reason: "no cluster id",
	},
	"heat.orchestration.stack.delete.end.messagingv2": {
		envelope: "2.0", priority: "INFO", messageID: "986942a7-79e2-40a3-9d3a-17a451c62754",
		kind: KindIgnored, reason: "no cluster id",
	},
	"heat.orchestration.stack.delete.error.messagingv2": {
		envelope: "2.0", priority: "ERROR", messageID: "b612961c-c436-4cd7-b15a-5911ffcd8b16",
		kind: KindIgnored, reason: "not a failure event",
	},
	"nova.compute.instance.shutdown.end.messaging": {
		envelope: "", priority: "INFO", messageID: "ec922f46-7777-4880-bc82-ed1375c71c6d",
		kind: KindIgnored, reason: "no cluster id",
	},
	"nova.compute.instance.shutdown.end.messagingv2": {
		envelope: "2.0", priority: "INFO", messageID: "6019128a-02ad-4ddf-92e2-a0588aaff6ab",
		kind: KindIgnored, reason: "no cluster id",
	},
	"nova.compute.instance.shutdown.end.notifications-topic.messagingv2": {
		envelope: "2.0", priority: "INFO", messageID: "1b614f43-8ff8-4af7-a518-ecb6401090a6",
		kind: KindIgnored, reason: "no cluster id",
	},
	memberNova: {
		envelope: "2.0", priority: "INFO", messageID: "438bc29d-2541-4984-908b-75b916a31d60",
		kind: KindRecover, cluster: fxCluster,
		signal: health.RecoverSignal{
			NodeID: fxNode, Event: EventShutdown, State: "stopped", PhysicalID: fxServer,
			Publisher: "compute.host1", Timestamp: "2026-11-24 14:43:47.419559",
			MessageID: "438bc29d-2541-4984-908b-75b916a31d60", Project: fxProject, Source: SourceNova,
		},
	},
	memberNovaVersioned: {
		envelope: "2.0", priority: "INFO", messageID: "b23e2f7b-8f32-4c1f-bce4-8f251fea8e0d",
		kind: KindRecover, cluster: fxCluster,
		signal: health.RecoverSignal{
			NodeID: fxNode, Event: EventPowerOff, State: "stopped", PhysicalID: fxServer,
			Publisher: "nova-compute:host1", Timestamp: "2026-11-24 14:43:47.974991",
			MessageID: "b23e2f7b-8f32-4c1f-bce4-8f251fea8e0d", Project: fxProject, Source: SourceNova,
		},
	},
	memberHeat: {
		envelope: "2.0", priority: "INFO", messageID: "588cee80-aab1-4f93-9366-c288b19000f5",
		kind: KindRecover, cluster: fxCluster,
		signal: health.RecoverSignal{
			NodeID: fxNode, Event: EventDelete, State: "DELETE_COMPLETE", PhysicalID: fxStackID,
			Publisher: "orchestration.host1", Timestamp: "2026-11-24 14:43:48.523069",
			MessageID: "588cee80-aab1-4f93-9366-c288b19000f5", Project: fxProject, Source: SourceHeat,
		},
	},
}

func TestParseDeliveryFixtures(t *testing.T) {
	fixtures := loadFixtures(t)
	if len(fixtures) != len(fixtureWants) {
		t.Errorf("got %d fixtures, want %d (one table entry per capture)", len(fixtures), len(fixtureWants))
	}
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			want, ok := fixtureWants[f.name]
			if !ok {
				t.Fatalf("no expectation for fixture %s", f.name)
			}
			n, err := ParseDelivery(f.amqp.Exchange, f.amqp.RoutingKey, f.body)
			if err != nil {
				t.Fatalf("ParseDelivery: %v", err)
			}
			if n.Exchange != f.amqp.Exchange || n.RoutingKey != f.amqp.RoutingKey {
				t.Errorf("got exchange %q key %q, want %q %q", n.Exchange, n.RoutingKey, f.amqp.Exchange, f.amqp.RoutingKey)
			}
			if n.Envelope != want.envelope {
				t.Errorf("got envelope %q, want %q", n.Envelope, want.envelope)
			}
			if n.Priority != want.priority {
				t.Errorf("got priority %q, want %q", n.Priority, want.priority)
			}
			if n.MessageID != want.messageID {
				t.Errorf("got message id %q, want %q", n.MessageID, want.messageID)
			}
			if n.Project != fxProject {
				t.Errorf("got project %q, want %q", n.Project, fxProject)
			}
			if n.User != fxUser {
				t.Errorf("got user %q, want %q", n.User, fxUser)
			}
			if n.Payload == nil {
				t.Errorf("got no payload, want the decoded payload")
			}
			ts, err := n.Time()
			if err != nil || ts.Year() != 2026 || ts.Location() != time.UTC {
				t.Errorf("Time: got %v, %v; want a 2026 UTC time", ts, err)
			}

			ev, out := Classify(n)
			if out.Kind != want.kind || !strings.Contains(out.Reason, want.reason) {
				t.Fatalf("got outcome %+v, want kind %s with reason containing %q", out, want.kind, want.reason)
			}
			if ev.ClusterID != want.cluster {
				t.Errorf("got cluster %q, want %q", ev.ClusterID, want.cluster)
			}
			if ev.Signal != want.signal {
				t.Errorf("got signal %+v, want %+v", ev.Signal, want.signal)
			}
		})
	}
}

// editFixture decodes a capture's message (inside its envelope when there is
// one), lets edit change it, and encodes it back the same way.
func editFixture(t *testing.T, name string, edit func(msg map[string]any)) []byte {
	t.Helper()
	f := fixtureByName(t, name)
	var outer map[string]any
	if err := json.Unmarshal(f.body, &outer); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	inner, wrapped := outer["oslo.message"].(string)
	msg := outer
	if wrapped {
		msg = nil
		if err := json.Unmarshal([]byte(inner), &msg); err != nil {
			t.Fatalf("decode %s oslo.message: %v", name, err)
		}
	}
	edit(msg)
	body, err := json.Marshal(msg)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if !wrapped {
		return body
	}
	outer["oslo.message"] = string(body)
	if body, err = json.Marshal(outer); err != nil {
		t.Fatalf("encode envelope: %v", err)
	}
	return body
}

// payloadOf returns the payload object of a decoded message.
func payloadOf(msg map[string]any) map[string]any { return msg["payload"].(map[string]any) }

// novaDataOf returns the nova_object.data of a versioned payload.
func novaDataOf(msg map[string]any) map[string]any {
	return payloadOf(msg)["nova_object.data"].(map[string]any)
}

// metadataOf returns the instance metadata of a legacy or versioned payload.
func metadataOf(msg map[string]any) map[string]any {
	if d, ok := payloadOf(msg)["nova_object.data"].(map[string]any); ok {
		return d["metadata"].(map[string]any)
	}
	return payloadOf(msg)["metadata"].(map[string]any)
}

// parseAndClassify runs both steps, failing on a parse error.
func parseAndClassify(t *testing.T, routingKey string, body []byte) (Notification, Event, Outcome) {
	t.Helper()
	n, err := ParseDelivery("nova", routingKey, body)
	if err != nil {
		t.Fatalf("ParseDelivery: %v", err)
	}
	ev, out := Classify(n)
	return n, ev, out
}

// TestClassifyEdgeCases follows the reference's event-driven scenarios 67-75
// and 78, each built by editing a capture in memory.
func TestClassifyEdgeCases(t *testing.T) {
	setEvent := func(eventType, priority string) func(map[string]any) {
		return func(m map[string]any) {
			m["event_type"] = eventType
			m["priority"] = priority
		}
	}
	tests := []struct {
		name    string
		fixture string
		edit    func(map[string]any)
		kind    Kind
		reason  string // substring of the outcome's reason
		check   func(t *testing.T, n Notification, ev Event)
	}{
		// 67: the event map, legacy and versioned.
		{"67 legacy pause.end", memberNova, setEvent("compute.instance.pause.end", "INFO"), KindRecover, "", wantEvent(EventPause)},
		{"67 legacy power_off.end", memberNova, setEvent("compute.instance.power_off.end", "INFO"), KindRecover, "", wantEvent(EventPowerOff)},
		{"67 legacy shutdown.end", memberNova, setEvent("compute.instance.shutdown.end", "INFO"), KindRecover, "", wantEvent(EventShutdown)},
		{"67 legacy soft_delete.end", memberNova, setEvent("compute.instance.soft_delete.end", "INFO"), KindRecover, "", wantEvent(EventSoftDelete)},
		{"67 legacy rebuild.error at ERROR priority is handled", memberNova, setEvent("compute.instance.rebuild.error", "ERROR"), KindRecover, "", wantEvent(EventRebuild)},
		{"67 legacy delete.end ignored", memberNova, setEvent("compute.instance.delete.end", "INFO"), KindIgnored, "not a failure event", nil},
		{"67 legacy delete.start ignored", memberNova, setEvent("compute.instance.delete.start", "INFO"), KindIgnored, "not a failure event", nil},
		{"67 legacy create.end ignored", memberNova, setEvent("compute.instance.create.end", "INFO"), KindIgnored, "not a failure event", nil},
		{"67 versioned pause.end", memberNovaVersioned, setEvent("instance.pause.end", "INFO"), KindRecover, "", wantEvent(EventPause)},
		{"67 versioned shutdown.end", memberNovaVersioned, setEvent("instance.shutdown.end", "INFO"), KindRecover, "", wantEvent(EventShutdown)},
		{"67 versioned soft_delete.end", memberNovaVersioned, setEvent("instance.soft_delete.end", "INFO"), KindRecover, "", wantEvent(EventSoftDelete)},
		{"67 versioned rebuild.error at ERROR priority is handled", memberNovaVersioned, setEvent("instance.rebuild.error", "ERROR"), KindRecover, "", wantEvent(EventRebuild)},
		{"67 versioned delete.end ignored", memberNovaVersioned, setEvent("instance.delete.end", "INFO"), KindIgnored, "not a failure event", nil},
		{"67 versioned event type from a legacy publisher ignored", memberNova, setEvent("instance.power_off.end", "INFO"), KindIgnored, "not a failure event", nil},
		{"67 legacy event type from a versioned publisher ignored", memberNovaVersioned, setEvent("compute.instance.power_off.end", "INFO"), KindIgnored, "not a failure event", nil},

		// A node back: Nova says the server is active again, Heat that a
		// stack operation completed. Derived from the captures by editing
		// the event type and the state.
		{"back legacy power_on.end", memberNova, novaBack("compute.instance.power_on.end", "active", ""), KindBack, "(back)", wantBack(EventPowerOn)},
		{"back legacy reboot.end", memberNova, novaBack("compute.instance.reboot.end", "active", ""), KindBack, "", wantBack(EventRebooted)},
		{"back legacy rebuild.end", memberNova, novaBack("compute.instance.rebuild.end", "active", ""), KindBack, "", wantBack(EventRebuilt)},
		{"back legacy update to active", memberNova, novaBack("compute.instance.update", "active", "stopped"), KindBack, "", wantBack(EventActive)},
		{"back legacy update active to active ignored", memberNova, novaBack("compute.instance.update", "active", "active"), KindIgnored, "not a change to active", nil},
		{"back legacy update without old_state ignored", memberNova, novaBack("compute.instance.update", "active", ""), KindIgnored, "not a change to active", nil},
		{"back legacy power_on.end not active ignored", memberNova, novaBack("compute.instance.power_on.end", "error", ""), KindIgnored, "is not active", nil},
		{"back versioned power_on.end", memberNovaVersioned, novaBack("instance.power_on.end", "active", ""), KindBack, "", wantBack(EventPowerOn)},
		{"back versioned resume.end", memberNovaVersioned, novaBack("instance.resume.end", "active", ""), KindBack, "", wantBack(EventResumed)},
		{"back versioned update to active", memberNovaVersioned, novaBack("instance.update", "active", "stopped"), KindBack, "", wantBack(EventActive)},
		{"back versioned update within active ignored", memberNovaVersioned, novaBack("instance.update", "active", "active"), KindIgnored, "not a change to active", nil},
		{"back versioned state not a string", memberNovaVersioned, func(m map[string]any) {
			novaBack("instance.power_on.end", "active", "")(m)
			novaDataOf(m)["state"] = 1
		}, KindMalformed, "state is not a string", nil},
		{"back heat update complete", memberHeat, func(m map[string]any) {
			m["event_type"] = "orchestration.stack.update.end"
			payloadOf(m)["state"] = "UPDATE_COMPLETE"
		}, KindBack, "", wantBack(EventComplete)},
		{"back heat suspend complete ignored", memberHeat, func(m map[string]any) {
			m["event_type"] = "orchestration.stack.suspend.end"
			payloadOf(m)["state"] = "SUSPEND_COMPLETE"
		}, KindIgnored, "not a failure event", nil},
		{"back heat update failed ignored", memberHeat, func(m map[string]any) {
			m["event_type"] = "orchestration.stack.update.end"
			payloadOf(m)["state"] = "UPDATE_FAILED"
		}, KindIgnored, "not a failure event", nil},

		// 68: another cluster, or none.
		{"68 other cluster is signalled to that cluster", memberNova, func(m map[string]any) { metadataOf(m)["cluster_id"] = "other" }, KindRecover, "",
			func(t *testing.T, _ Notification, ev Event) {
				if ev.ClusterID != "other" {
					t.Errorf("got cluster %q, want %q", ev.ClusterID, "other")
				}
			}},
		{"68 no cluster_id", memberNova, func(m map[string]any) { delete(metadataOf(m), "cluster_id") }, KindIgnored, "no cluster id", nil},
		{"68 empty cluster_id", memberNova, func(m map[string]any) { metadataOf(m)["cluster_id"] = "" }, KindIgnored, "no cluster id", nil},
		{"68 versioned no cluster_id", memberNovaVersioned, func(m map[string]any) { delete(metadataOf(m), "cluster_id") }, KindIgnored, "no cluster id", nil},

		// 69: no node id.
		{"69 no cluster_node_id", memberNova, func(m map[string]any) { delete(metadataOf(m), "cluster_node_id") }, KindIgnored, "no node id", nil},
		{"69 empty cluster_node_id", memberNova, func(m map[string]any) { metadataOf(m)["cluster_node_id"] = "" }, KindIgnored, "no node id", nil},
		{"69 versioned no cluster_node_id", memberNovaVersioned, func(m map[string]any) { delete(metadataOf(m), "cluster_node_id") }, KindIgnored, "no node id", nil},

		// 70: filters. The project filter belongs to the cluster's workflow,
		// which knows the cluster's project: the signal carries it.
		{"70 other publisher", memberNova, func(m map[string]any) { m["publisher_id"] = "network.host1" }, KindIgnored, "neither nova nor heat", nil},
		{"70 other event family", memberNova, setEvent("compute.volume.x", "INFO"), KindIgnored, "not a failure event", nil},
		{"70 other project is passed on", memberNova, func(m map[string]any) { m["_context_project_id"] = "other-project" }, KindRecover, "",
			func(t *testing.T, _ Notification, ev Event) {
				if ev.Signal.Project != "other-project" {
					t.Errorf("got project %q, want %q", ev.Signal.Project, "other-project")
				}
			}},
		{"70 project falls back to _context_project", memberNova, func(m map[string]any) {
			delete(m, "_context_project_id")
			m["_context_project"] = "p-2"
		}, KindRecover, "", wantProject("p-2")},
		{"70 project falls back to _context_tenant", memberNova, func(m map[string]any) {
			delete(m, "_context_project_id")
			m["_context_tenant"] = "p-3"
		}, KindRecover, "", wantProject("p-3")},
		{"70 no project", memberNova, func(m map[string]any) { delete(m, "_context_project_id") }, KindRecover, "", wantProject("")},

		// 71: missing state or physical id do not stop the event.
		{"71 no state and no instance_id", memberNova, func(m map[string]any) {
			delete(payloadOf(m), "state")
			delete(payloadOf(m), "instance_id")
		}, KindRecover, "", func(t *testing.T, _ Notification, ev Event) {
			if ev.Signal.State != "" || ev.Signal.PhysicalID != "" {
				t.Errorf("got state %q physical id %q, want both empty", ev.Signal.State, ev.Signal.PhysicalID)
			}
		}},
		{"71 versioned no uuid", memberNovaVersioned, func(m map[string]any) { delete(novaDataOf(m), "uuid") }, KindRecover, "",
			func(t *testing.T, _ Notification, ev Event) {
				if ev.Signal.PhysicalID != "" {
					t.Errorf("got physical id %q, want empty", ev.Signal.PhysicalID)
				}
			}},
		{"71 heat no state and no stack_identity", memberHeat, func(m map[string]any) {
			delete(payloadOf(m), "state")
			delete(payloadOf(m), "stack_identity")
		}, KindRecover, "", wantEvent(EventDelete)},

		// 73, 74: Heat tags.
		{"74 tags null", memberHeat, func(m map[string]any) { payloadOf(m)["tags"] = nil }, KindIgnored, "no cluster id", nil},
		{"74 tags empty", memberHeat, func(m map[string]any) { payloadOf(m)["tags"] = []any{} }, KindIgnored, "no cluster id", nil},
		{"74 no cluster_id tag", memberHeat, func(m map[string]any) { payloadOf(m)["tags"] = []any{"cluster_node_id=" + fxNode, "env=prod"} }, KindIgnored, "no cluster id", nil},
		{"74 cluster_id=OTHER", memberHeat, func(m map[string]any) { payloadOf(m)["tags"] = []any{"cluster_id=OTHER", "cluster_node_id=" + fxNode} }, KindRecover, "",
			func(t *testing.T, _ Notification, ev Event) {
				if ev.ClusterID != "OTHER" {
					t.Errorf("got cluster %q, want %q", ev.ClusterID, "OTHER")
				}
			}},
		{"74 cluster tag but no node tag", memberHeat, func(m map[string]any) {
			payloadOf(m)["tags"] = []any{"cluster_id=" + fxCluster, "cluster_node_index=3"}
		}, KindIgnored, "no node id", nil},
		{"74 separator must be =", memberHeat, func(m map[string]any) {
			payloadOf(m)["tags"] = []any{"cluster_id:" + fxCluster, "cluster_node_id:" + fxNode}
		}, KindIgnored, "no cluster id", nil},
		{"74 first tag wins", memberHeat, func(m map[string]any) {
			payloadOf(m)["tags"] = []any{"cluster_node_id=n-1", "cluster_id=c-1", "cluster_id=c-2", "cluster_node_id=n-2"}
		}, KindRecover, "", func(t *testing.T, _ Notification, ev Event) {
			if ev.ClusterID != "c-1" || ev.Signal.NodeID != "n-1" {
				t.Errorf("got cluster %q node %q, want c-1 n-1", ev.ClusterID, ev.Signal.NodeID)
			}
		}},
		{"74 create.start ignored", memberHeat, setEvent("orchestration.stack.create.start", "INFO"), KindIgnored, "not a failure event", nil},
		{"74 delete.error ignored even when tagged", memberHeat, setEvent("orchestration.stack.delete.error", "ERROR"), KindIgnored, "not a failure event", nil},

		// 75: malformed payloads are told apart from ignored notifications.
		{"75 nova payload without metadata", memberNova, func(m map[string]any) { delete(payloadOf(m), "metadata") }, KindMalformed, "no metadata", nil},
		{"75 nova metadata null", memberNova, func(m map[string]any) { payloadOf(m)["metadata"] = nil }, KindMalformed, "no metadata", nil},
		{"75 nova without payload", memberNova, func(m map[string]any) { delete(m, "payload") }, KindMalformed, "no metadata", nil},
		{"75 nova cluster_id not a string", memberNova, func(m map[string]any) { metadataOf(m)["cluster_id"] = 7 }, KindMalformed, "cluster_id is not a string", nil},
		{"75 nova cluster_node_id not a string", memberNova, func(m map[string]any) { metadataOf(m)["cluster_node_id"] = []any{} }, KindMalformed, "cluster_node_id is not a string", nil},
		{"75 versioned without nova_object.data", memberNovaVersioned, func(m map[string]any) { delete(payloadOf(m), "nova_object.data") }, KindMalformed, "no nova_object.data", nil},
		{"75 versioned without metadata", memberNovaVersioned, func(m map[string]any) { delete(novaDataOf(m), "metadata") }, KindMalformed, "no metadata", nil},
		{"75 heat payload without tags", memberHeat, func(m map[string]any) { delete(payloadOf(m), "tags") }, KindMalformed, "no tags", nil},
		{"75 heat tags not a list", memberHeat, func(m map[string]any) { payloadOf(m)["tags"] = "cluster_id=" + fxCluster }, KindMalformed, "not a list", nil},
		{"75 heat tag not a string", memberHeat, func(m map[string]any) { payloadOf(m)["tags"] = []any{"cluster_id=" + fxCluster, 3} }, KindMalformed, "non-string", nil},
		{"75 not a failure event needs no metadata", memberNova, func(m map[string]any) {
			m["event_type"] = "compute.instance.exists"
			delete(payloadOf(m), "metadata")
		}, KindIgnored, "not a failure event", nil},
		// Senlin needed the user for its RPC context; the signal does not.
		{"75 no user id is still acted on", memberNova, func(m map[string]any) {
			delete(m, "_context_user")
			delete(payloadOf(m), "user_id")
		}, KindRecover, "", func(t *testing.T, n Notification, _ Event) {
			if n.User != "" {
				t.Errorf("got user %q, want empty", n.User)
			}
		}},
		{"75 heat no user_identity is still acted on", memberHeat, func(m map[string]any) { delete(payloadOf(m), "user_identity") }, KindRecover, "", wantEvent(EventDelete)},

		// 78: a redelivered notification keeps its message id, which the
		// workflow deduplicates on.
		{"78 message id falls back to _unique_id", memberNova, func(m map[string]any) { delete(m, "message_id") }, KindRecover, "",
			func(t *testing.T, _ Notification, ev Event) {
				if ev.Signal.MessageID != "f388c11116dc4089a579a7e1e8454a4d" {
					t.Errorf("got message id %q, want the _unique_id", ev.Signal.MessageID)
				}
			}},
		{"78 no message id at all", memberNova, func(m map[string]any) {
			delete(m, "message_id")
			delete(m, "_unique_id")
		}, KindRecover, "", func(t *testing.T, _ Notification, ev Event) {
			if ev.Signal.MessageID != "" {
				t.Errorf("got message id %q, want empty", ev.Signal.MessageID)
			}
		}},

		// Priority comes from the routing key when the message has none.
		{"priority from the routing key", memberNova, func(m map[string]any) { delete(m, "priority") }, KindRecover, "",
			func(t *testing.T, n Notification, _ Event) {
				if n.Priority != "ERROR" {
					t.Errorf("got priority %q, want ERROR from notifications.error", n.Priority)
				}
			}},
		{"user falls back from _context_user_id", memberNova, func(m map[string]any) { m["_context_user_id"] = "u-9" }, KindRecover, "",
			func(t *testing.T, n Notification, _ Event) {
				if n.User != "u-9" {
					t.Errorf("got user %q, want u-9", n.User)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := editFixture(t, tt.fixture, tt.edit)
			n, ev, out := parseAndClassify(t, "notifications.error", body)
			if out.Kind != tt.kind || !strings.Contains(out.Reason, tt.reason) {
				t.Fatalf("got outcome %+v, want kind %s with reason containing %q", out, tt.kind, tt.reason)
			}
			if tt.kind == KindRecover && (ev.ClusterID == "" || ev.Signal.NodeID == "") {
				t.Errorf("got event %+v, want cluster and node ids", ev)
			}
			if tt.kind != KindRecover && tt.kind != KindBack && ev != (Event{}) {
				t.Errorf("got event %+v, want none", ev)
			}
			if tt.check != nil {
				tt.check(t, n, ev)
			}
		})
	}
}

// novaBack edits a member Nova notification into event type eventType with
// the server in state, and, when oldState is set, the state it left (as an
// update carries it).
func novaBack(eventType, state, oldState string) func(map[string]any) {
	return func(m map[string]any) {
		m["event_type"] = eventType
		data := payloadOf(m)
		if d, ok := data["nova_object.data"].(map[string]any); ok {
			data = d
			if oldState != "" {
				data["state_update"] = map[string]any{"nova_object.name": "InstanceStateUpdatePayload",
					"nova_object.data": map[string]any{"old_state": oldState, "state": state}}
			}
		} else if oldState != "" {
			data["old_state"] = oldState
		}
		data["state"] = state
	}
}

// wantBack checks a node-back event.
func wantBack(event string) func(*testing.T, Notification, Event) {
	return func(t *testing.T, n Notification, ev Event) {
		t.Helper()
		wantEvent(event)(t, n, ev)
		if !ev.Back || ev.Signal.NodeID == "" || ev.ClusterID == "" {
			t.Errorf("got %+v, want a node-back event of a cluster node", ev)
		}
	}
}

func wantEvent(event string) func(*testing.T, Notification, Event) {
	return func(t *testing.T, _ Notification, ev Event) {
		t.Helper()
		if ev.Signal.Event != event {
			t.Errorf("got event %q, want %q", ev.Signal.Event, event)
		}
	}
}

func wantProject(project string) func(*testing.T, Notification, Event) {
	return func(t *testing.T, _ Notification, ev Event) {
		t.Helper()
		if ev.Signal.Project != project {
			t.Errorf("got project %q, want %q", ev.Signal.Project, project)
		}
	}
}

// TestVersionedLikeLegacy is scenario 72: the versioned form of a failure is
// treated exactly like the legacy one.
func TestVersionedLikeLegacy(t *testing.T) {
	legacy := editFixture(t, memberNova, func(m map[string]any) { m["event_type"] = "compute.instance.power_off.end" })
	_, lev, lout := parseAndClassify(t, "notifications.info", legacy)
	_, vev, vout := parseAndClassify(t, "versioned_notifications.info", fixtureByName(t, memberNovaVersioned).body)
	if lout.Kind != KindRecover || vout.Kind != KindRecover {
		t.Fatalf("got outcomes %+v and %+v, want both recover", lout, vout)
	}
	// What differs between two captures is who published them and when.
	for _, ev := range []*Event{&lev, &vev} {
		ev.Signal.Publisher, ev.Signal.Timestamp, ev.Signal.MessageID = "", "", ""
	}
	if lev != vev {
		t.Errorf("got versioned %+v, want the legacy %+v", vev, lev)
	}
}

// TestSameNotificationTwice is scenario 78 at the parser: a redelivery yields
// the same signal, message id included.
func TestSameNotificationTwice(t *testing.T) {
	f := fixtureByName(t, memberNova)
	_, first, _ := parseAndClassify(t, f.amqp.RoutingKey, f.body)
	_, second, _ := parseAndClassify(t, f.amqp.RoutingKey, f.body)
	if first != second || first.Signal.MessageID == "" {
		t.Errorf("got %+v then %+v, want the same signal with a message id", first, second)
	}
}

func TestParseDeliveryMalformed(t *testing.T) {
	v2 := func(inner string) string {
		b, _ := json.Marshal(map[string]any{"oslo.version": "2.0", "oslo.message": inner})
		return string(b)
	}
	tests := []struct {
		name   string
		body   string
		reason string
	}{
		{"not JSON", "this is not json", "not JSON"},
		{"truncated JSON", `{"oslo.version": "2.0", "oslo.mess`, "not JSON"},
		{"empty body", "", "not JSON"},
		{"null", "null", "null is not a JSON object"},
		{"array", "[1, 2]", "an array is not a JSON object"},
		{"string", `"hello"`, "a string is not a JSON object"},
		{"oslo.message is an object", `{"oslo.version": "2.0", "oslo.message": {"event_type": "x"}}`, "oslo.message is an object, want a JSON string"},
		{"oslo.message is null", `{"oslo.version": "2.0", "oslo.message": null}`, "oslo.message is null"},
		{"oslo.message missing", `{"oslo.version": "2.0"}`, "oslo.message is null"},
		{"oslo.version missing", `{"oslo.message": "{}"}`, "oslo.version is null"},
		{"oslo.version a number", `{"oslo.version": 2, "oslo.message": "{}"}`, "oslo.version is a number"},
		{"oslo.version 1.0", `{"oslo.version": "1.0", "oslo.message": "{}"}`, "not 2.x"},
		{"oslo.message not JSON", v2("not json"), "oslo.message: not JSON"},
		{"oslo.message an array", v2("[]"), "oslo.message: an array is not a JSON object"},
		{"no event_type", `{"publisher_id": "compute.h", "payload": {}}`, "no event_type"},
		{"no publisher_id", `{"event_type": "compute.instance.shutdown.end", "payload": {}}`, "no publisher_id"},
		{"event_type a number", `{"publisher_id": "compute.h", "event_type": 3}`, "event_type is a number"},
		{"message_id an object", `{"publisher_id": "compute.h", "event_type": "e", "message_id": {}}`, "message_id is an object"},
		{"project a list", `{"publisher_id": "compute.h", "event_type": "e", "_context_project_id": []}`, "_context_project_id is an array"},
		{"payload a string", `{"publisher_id": "compute.h", "event_type": "e", "payload": "x"}`, "payload is a string, want an object"},
		{"payload a list", v2(`{"publisher_id": "compute.h", "event_type": "e", "payload": []}`), "payload is an array"},
		{"oversized", `{"publisher_id": "` + strings.Repeat("x", MaxBodyBytes) + `"}`, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDelivery("nova", "notifications.info", []byte(tt.body))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got error %v, want one wrapping ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("got error %q, want it to contain %q", err, tt.reason)
			}
		})
	}
}

func TestParseDeliveryLenient(t *testing.T) {
	// Null context values and a null payload are absent values, not errors.
	body := `{"publisher_id": "compute.h", "event_type": "compute.instance.shutdown.end", "payload": null,
		"message_id": null, "_unique_id": "u-1", "_context_project_id": null, "_context_project": "p-1"}`
	n, err := ParseDelivery("nova", "notifications.warn", []byte(body))
	if err != nil {
		t.Fatalf("ParseDelivery: %v", err)
	}
	if n.MessageID != "u-1" || n.Project != "p-1" || n.Payload != nil || n.Priority != "WARN" || n.Envelope != "" {
		t.Errorf("got %+v, want message id u-1, project p-1, no payload, priority WARN, no envelope", n)
	}
	if _, out := Classify(n); out.Kind != KindMalformed {
		t.Errorf("got outcome %+v for a failure event without payload, want malformed", out)
	}
	if _, err := n.Time(); err == nil {
		t.Errorf("Time of an empty timestamp: got no error, want one")
	}
}

func TestClassifyNeverPanicsOnOddPayloads(t *testing.T) {
	payloads := []map[string]any{
		nil,
		{},
		{"metadata": "x"},
		{"metadata": map[string]any{"cluster_id": nil, "cluster_node_id": nil}},
		{"nova_object.data": []any{}},
		{"nova_object.data": map[string]any{"metadata": 1}},
		{"tags": map[string]any{}},
		{"tags": []any{nil}},
		{"state": 3, "instance_id": false, "metadata": map[string]any{"cluster_id": "c", "cluster_node_id": "n"}},
	}
	for _, p := range payloads {
		for _, pub := range []string{"compute.h", "nova-compute:h", "orchestration.h"} {
			for _, et := range []string{"compute.instance.shutdown.end", "instance.shutdown.end", "orchestration.stack.delete.end"} {
				ev, out := Classify(Notification{Publisher: pub, EventType: et, Payload: p})
				if (out.Kind != KindIgnored && out.Kind != KindMalformed) || out.Reason == "" || len(out.Reason) > maxReasonBytes || ev != (Event{}) {
					t.Errorf("%s %s %v: got %+v %+v, want ignored or malformed with a short reason, and no event", pub, et, p, out, ev)
				}
			}
		}
	}
}
