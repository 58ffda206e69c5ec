package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/metrics"
)

// hostileBody is a notification the bridge must dead-letter: reason is a
// substring of the parse error or of the malformed outcome's reason.
type hostileBody struct {
	name    string
	fixture string // the capture whose exchange and routing key it goes to
	body    []byte
	reason  string
}

// nested returns depth levels of open, then close.
func nested(open, close string, depth int) string {
	return strings.Repeat(open, depth) + strings.Repeat(close, depth)
}

// deepValue is a JSON value nesting depth arrays.
func deepValue(depth int) any {
	var v any = "bottom"
	for range depth {
		v = []any{v}
	}
	return v
}

// hostileBodies are huge, deep, wrongly typed, invalid UTF-8 and odd-ID
// notifications, most of them a member capture with one thing changed.
func hostileBodies(t *testing.T) []hostileBody {
	t.Helper()
	var out []hostileBody
	add := func(name, fx string, body []byte, reason string) {
		out = append(out, hostileBody{name, fx, body, reason})
	}
	edit := func(fx string, e func(m map[string]any)) []byte { return editFixture(t, fx, e) }

	// Size: 10 MiB, and one byte over the cap; neither is parsed.
	add("10 MiB body", memberNova, []byte(`{"publisher_id": "`+strings.Repeat("x", 10<<20)+`"}`), "exceeds 1048576")
	add("cap plus one", memberNova, bytes.Repeat([]byte(" "), MaxBodyBytes+1), "exceeds 1048576")
	huge := edit(memberNova, func(m map[string]any) { payloadOf(m)["display_name"] = strings.Repeat("y", MaxBodyBytes) })
	add("member padded past the cap", memberNova, huge, "exceeds")

	// Depth: 10,000 levels in the body, in the message and in the payload.
	add("10,000 nested arrays", memberNova, []byte(nested("[", "]", 10000)), "nests deeper than 32")
	add("10,000 nested objects", memberNova, []byte(nested(`{"a":`, "}", 10000)), "nests deeper than 32")
	add("10,000 unclosed arrays", memberNova, []byte(strings.Repeat("[", 10000)), "nests deeper than 32")
	add("10,000 levels in the payload", memberNova,
		edit(memberNova, func(m map[string]any) { payloadOf(m)["display_name"] = deepValue(10000) }), "oslo.message: nests deeper than 32")
	add("33 levels in the metadata", memberNovaVersioned,
		edit(memberNovaVersioned, func(m map[string]any) { metadataOf(m)["x"] = deepValue(MaxDepth) }), "nests deeper than 32")

	// Invalid UTF-8: raw in the body, inside the message string, in the
	// cluster ID; and a lone surrogate, which decodes to U+FFFD.
	add("invalid UTF-8 outside strings", memberNova, []byte("{\xff}"), "not valid UTF-8")
	good := fixtureByName(t, memberNova).body
	add("invalid UTF-8 in a payload string", memberNova, bytes.Replace(good, []byte("stopped"), []byte("stop\xffped"), 1), "not valid UTF-8")
	add("invalid UTF-8 in the cluster id", memberNova, bytes.Replace(good, []byte(fxCluster), []byte("c\xc3"), 1), "not valid UTF-8")
	add("lone surrogate in the cluster id", memberNova,
		bytes.Replace(good, []byte(fxCluster), []byte(`\\ud800`), 1), "holds '\ufffd'")

	// Wrong types in every field the parser reads. A fallback key is read
	// only when the keys before it are absent.
	wrong := []any{42, true, []any{}, map[string]any{"k": "v"}}
	topLevel := []struct {
		key     string
		without []string
	}{
		{"message_id", nil}, {"_unique_id", []string{"message_id"}}, {"publisher_id", nil}, {"event_type", nil},
		{"priority", nil}, {"timestamp", nil}, {"_context_project_id", nil},
		{"_context_project", []string{"_context_project_id"}}, {"_context_tenant", []string{"_context_project_id", "_context_project"}},
		{"_context_user_id", nil}, {"_context_user", nil},
	}
	for _, f := range topLevel {
		for _, v := range wrong {
			add(fmt.Sprintf("%s is %T", f.key, v), memberNova, edit(memberNova, func(m map[string]any) {
				for _, k := range f.without {
					delete(m, k)
				}
				m[f.key] = v
			}), f.key+" is ")
		}
	}
	notObject := []any{42, true, "x", []any{}}
	notString := []any{42, true, []any{"x"}, map[string]any{}}
	payloadFields := []struct {
		fx     string
		what   string
		values []any
		set    func(m map[string]any, v any)
		reason string
	}{
		{memberNova, "payload", notObject, func(m map[string]any, v any) { m["payload"] = v }, "payload is "},
		{memberNova, "metadata", notObject, func(m map[string]any, v any) { payloadOf(m)["metadata"] = v }, "no metadata object"},
		{memberNova, "metadata.cluster_id", notString, func(m map[string]any, v any) { metadataOf(m)["cluster_id"] = v }, "cluster_id is not a string"},
		{memberNova, "metadata.cluster_node_id", notString, func(m map[string]any, v any) { metadataOf(m)["cluster_node_id"] = v }, "cluster_node_id is not a string"},
		{memberNova, "state", notString, func(m map[string]any, v any) { payloadOf(m)["state"] = v }, "state is not a string"},
		{memberNova, "instance_id", notString, func(m map[string]any, v any) { payloadOf(m)["instance_id"] = v }, "instance_id is not a string"},
		{memberNovaVersioned, "nova_object.data", notObject, func(m map[string]any, v any) { payloadOf(m)["nova_object.data"] = v }, "no nova_object.data object"},
		{memberNovaVersioned, "versioned metadata", notObject, func(m map[string]any, v any) { novaDataOf(m)["metadata"] = v }, "no metadata object"},
		{memberNovaVersioned, "versioned cluster_id", notString, func(m map[string]any, v any) { metadataOf(m)["cluster_id"] = v }, "cluster_id is not a string"},
		{memberNovaVersioned, "versioned state", notString, func(m map[string]any, v any) { novaDataOf(m)["state"] = v }, "state is not a string"},
		{memberNovaVersioned, "uuid", notString, func(m map[string]any, v any) { novaDataOf(m)["uuid"] = v }, "uuid is not a string"},
		{memberHeat, "tags", []any{42, true, "x", map[string]any{}}, func(m map[string]any, v any) { payloadOf(m)["tags"] = v }, "tags is not a list"},
		{memberHeat, "a tag", []any{42, true, nil, []any{}, map[string]any{}}, func(m map[string]any, v any) {
			payloadOf(m)["tags"] = []any{"cluster_id=" + fxCluster, v}
		}, "tags holds a non-string"},
		{memberHeat, "heat state", notString, func(m map[string]any, v any) { payloadOf(m)["state"] = v }, "state is not a string"},
		{memberHeat, "stack_identity", notString, func(m map[string]any, v any) { payloadOf(m)["stack_identity"] = v }, "stack_identity is not a string"},
	}
	for _, f := range payloadFields {
		for _, v := range f.values {
			add(fmt.Sprintf("%s is %T", f.what, v), f.fx, edit(f.fx, func(m map[string]any) { f.set(m, v) }), f.reason)
		}
	}
	envelope := func(version, message any) []byte {
		b, err := json.Marshal(map[string]any{"oslo.version": version, "oslo.message": message})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, v := range []any{42, true, []any{}, map[string]any{}} {
		add(fmt.Sprintf("oslo.version is %T", v), memberNova, envelope(v, "{}"), "oslo.version is ")
		add(fmt.Sprintf("oslo.message is %T", v), memberNova, envelope("2.0", v), "oslo.message is ")
	}
	add("oslo.version of 10 KiB", memberNova, envelope(strings.Repeat("9", 10<<10), "{}"), "is not 2.x")

	// Cluster IDs the workflow would refuse, and signals over their bounds.
	for _, id := range []string{"my cluster", "../etc", "a/b", "c\n1", "-rf", strings.Repeat("c", 129), "c'; DROP TABLE nodes; --"} {
		add(fmt.Sprintf("nova cluster id %q", id), memberNova, edit(memberNova, func(m map[string]any) { metadataOf(m)["cluster_id"] = id }), "cluster_id: ")
	}
	add("heat cluster id with a space", memberHeat, edit(memberHeat, func(m map[string]any) {
		payloadOf(m)["tags"] = []any{"cluster_id=a b", "cluster_node_id=" + fxNode}
	}), "cluster_id: ")
	add("node id of 257 bytes", memberNova, edit(memberNova, func(m map[string]any) {
		metadataOf(m)["cluster_node_id"] = strings.Repeat("n", 257)
	}), "recover signal: node_id: is 257 bytes long")
	add("state of 2 KiB", memberNovaVersioned, edit(memberNovaVersioned, func(m map[string]any) {
		novaDataOf(m)["state"] = strings.Repeat("s", 2048)
	}), "recover signal: state: is 2048 bytes long")
	add("message id of 1 KiB", memberHeat, edit(memberHeat, func(m map[string]any) { m["message_id"] = strings.Repeat("m", 1024) }),
		"recover signal: message_id: is 1024 bytes long")
	add("node id with a newline", memberHeat, edit(memberHeat, func(m map[string]any) {
		payloadOf(m)["tags"] = []any{"cluster_id=" + fxCluster, "cluster_node_id=n\n1"}
	}), `node_id: must not hold the control character '\n'`)
	return out
}

// TestHostileNotificationsAreMalformed: each hostile body is refused by the
// parser or classified malformed, with a short one-line reason that says why.
func TestHostileNotificationsAreMalformed(t *testing.T) {
	for _, h := range hostileBodies(t) {
		t.Run(h.name, func(t *testing.T) {
			f := fixtureByName(t, h.fixture)
			var reason string
			n, err := ParseDelivery(f.amqp.Exchange, f.amqp.RoutingKey, h.body)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("got error %v, want one wrapping ErrMalformed", err)
				}
				reason = err.Error()
			} else {
				ev, out := Classify(n)
				if out.Kind != KindMalformed || ev != (Event{}) {
					t.Fatalf("got %+v, %+v; want malformed without an event", ev, out)
				}
				reason = out.Reason
			}
			if !strings.Contains(reason, h.reason) {
				t.Errorf("got reason %q, want it to contain %q", reason, h.reason)
			}
			if len(reason) > maxReasonBytes+3 || strings.ContainsAny(reason, "\n\r") {
				t.Errorf("got a reason of %d bytes %q, want one line of at most %d", len(reason), reason, maxReasonBytes)
			}
		})
	}
}

// TestCheckDepthIgnoresBracketsInStrings: brackets inside strings, escaped
// quotes included, do not count.
func TestCheckDepthIgnoresBracketsInStrings(t *testing.T) {
	ok := `{"a": "` + strings.Repeat("[{", 100) + `\"[[[", "b": [[1]]}`
	if err := checkDepth([]byte(ok), 3); err != nil {
		t.Errorf("checkDepth: got %v, want nil", err)
	}
	if err := checkDepth([]byte(`{"a": [[[1]]]}`), 3); err == nil {
		t.Error("checkDepth of 4 levels with limit 3: got nil, want an error")
	}
}

// TestBridgeDeadLettersHostileNotifications publishes every hostile body to
// a real RabbitMQ: each is dead-lettered unchanged with its reason logged,
// nothing is signalled, and the consumer goes on to signal a good
// notification sent after them.
func TestBridgeDeadLettersHostileNotifications(t *testing.T) {
	env := newTestEnv(t)
	sig := &fakeSignaller{}
	b := startBridge(t, env.cfg, sig)

	bad := hostileBodies(t)
	bodies := make(map[string]bool, len(bad))
	for _, h := range bad {
		env.publishBody(fixtureByName(t, h.fixture), h.body)
		bodies[string(h.body)] = true
	}
	good := fixtureByName(t, memberNova)
	env.publishFixture(good)

	require.Eventually(t, func() bool {
		return b.count(metrics.BridgeMalformed) == len(bad) && b.count(metrics.BridgeSignalled) == 1
	}, waitTimeout, waitTick, "waiting for %d dead-lettered and the good one signalled", len(bad))
	if err := b.Ready(); err != nil {
		t.Errorf("Ready after the hostile bodies: got %v, want nil (still consuming)", err)
	}
	if _, got := sig.snapshot(); len(got) != 1 || got[0].sig.MessageID != fixtureWants[memberNova].messageID {
		t.Errorf("got signals %+v, want only the good notification's", got)
	}

	var dead []amqp.Delivery
	require.Eventually(t, func() bool {
		dead = append(dead, env.drain(env.cfg.DeadLetterQueue)...)
		return len(dead) >= len(bad)
	}, waitTimeout, waitTick, "waiting for the dead-letter queue to hold %d messages", len(bad))
	if len(dead) != len(bad) {
		t.Errorf("got %d dead-lettered messages, want %d", len(dead), len(bad))
	}
	for _, d := range dead {
		if !bodies[string(d.Body)] {
			t.Errorf("dead-lettered body of %d bytes: want one of the hostile bodies, unchanged", len(d.Body))
		}
		if _, ok := d.Headers["x-death"]; !ok {
			t.Errorf("dead-lettered message: got headers %v, want x-death", d.Headers)
		}
	}
	logged := b.logs.FilterMessage("malformed notification dead-lettered").All()
	if len(logged) != len(bad) {
		t.Errorf("got %d dead-letter log lines, want %d", len(logged), len(bad))
	}
	for _, e := range logged {
		reason, _ := e.ContextMap()["reason"].(string)
		if reason == "" || len(reason) > maxReasonBytes+3 {
			t.Errorf("dead-letter log line: got reason %q, want a short one", reason)
		}
	}
}

// TestBridgeDeadLettersRefusedSignals: a signal the client refuses
// (healthclient.ErrInvalid) is not retried: it is dead-lettered at once.
func TestBridgeDeadLettersRefusedSignals(t *testing.T) {
	env := newTestEnv(t)
	sig := &fakeSignaller{fail: func(call int) error {
		if call == 1 {
			return fmt.Errorf("recover node of cluster c1: %w", healthclient.ErrInvalid)
		}
		return nil
	}}
	b := startBridge(t, env.cfg, sig)
	env.publishFixture(fixtureByName(t, memberNova))
	env.publishFixture(fixtureByName(t, memberHeat))
	require.Eventually(t, func() bool {
		return b.count(metrics.BridgeMalformed) == 1 && b.count(metrics.BridgeSignalled) == 1
	}, waitTimeout, waitTick, "waiting for one dead-lettered and one signalled")
	if n := b.count(metrics.BridgeRetried); n != 0 {
		t.Errorf("got retried=%d, want 0: a refused signal is not retried", n)
	}
	require.Eventually(t, func() bool { return env.ready(env.cfg.DeadLetterQueue) == 1 }, waitTimeout, waitTick,
		"waiting for the refused notification in the dead-letter queue")
}
