// Package bridge turns OpenStack lifecycle notifications, read from RabbitMQ as
// oslo.messaging publishes them, into recover signals for the ClusterHealth
// workflow of the cluster a failed node belongs to.
//
// The parser (ParseDelivery, Classify) is pure. The consumer (Bridge) owns its
// queues, acknowledges a delivery only once Temporal accepted the signal, and
// dead-letters bodies it cannot parse.
package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clusterhealth/healthd/internal/health"
)

// MaxBodyBytes caps the size of a notification body. Nova and Heat
// notifications are a few kilobytes; anything near this cap is not one. A
// larger body is dead-lettered without being parsed.
const MaxBodyBytes = 1 << 20

// MaxDepth caps how deeply the objects and arrays of a notification nest, in
// the body and again in a messagingv2 envelope's message. Nova's versioned
// payloads, the deepest, nest 6 levels.
const MaxDepth = 32

// maxReasonBytes bounds an outcome's reason, which quotes values of the
// notification into log lines.
const maxReasonBytes = 512

// ErrMalformed is wrapped by every ParseDelivery error: the body is not an
// oslo.messaging notification.
var ErrMalformed = errors.New("malformed notification")

// TimestampLayout is how oslo.messaging writes a notification's timestamp:
// str(utcnow()), UTC without a zone.
const TimestampLayout = "2006-01-02 15:04:05.999999"

// Notification is one decoded oslo.messaging notification, whichever envelope
// carried it.
type Notification struct {
	// Exchange and RoutingKey are where the delivery came from.
	Exchange   string
	RoutingKey string
	// Envelope is the oslo.version of a messagingv2 envelope ("2.0"); empty for a
	// bare message (driver messaging, v1).
	Envelope string
	// MessageID is message_id, falling back to _unique_id.
	MessageID string
	// Publisher is publisher_id, for example "compute.host1" or "nova-compute:host1".
	Publisher string
	// EventType is event_type, for example "compute.instance.power_off.end".
	EventType string
	// Priority is the upper-case priority (INFO, ERROR, ...); from the routing
	// key when the message has none.
	Priority string
	// Timestamp is the message's timestamp as published (see TimestampLayout).
	Timestamp string
	// Project is the request context's project: _context_project_id, falling
	// back to _context_project and _context_tenant.
	Project string
	// User is the request context's user: _context_user_id, falling back to
	// _context_user.
	User string
	// Payload is the decoded payload object; nil when the message has none.
	Payload map[string]any
}

// Time parses Timestamp as UTC.
func (n Notification) Time() (time.Time, error) {
	t, err := time.ParseInLocation(TimestampLayout, n.Timestamp, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse notification timestamp: %w", err)
	}
	return t, nil
}

// ParseDelivery decodes a delivery body in either oslo.messaging envelope: v2
// ({"oslo.version": "2.0", "oslo.message": "<the message as a JSON string>"},
// decoded twice) or v1 (the message object itself). A body over MaxBodyBytes,
// one that is not valid UTF-8 (oslo.messaging writes ASCII JSON) and one that
// nests deeper than MaxDepth are refused before they are decoded. Every
// error wraps ErrMalformed. It does no I/O and keeps nothing of body.
func ParseDelivery(exchange, routingKey string, body []byte) (Notification, error) {
	n := Notification{Exchange: exchange, RoutingKey: routingKey}
	if len(body) > MaxBodyBytes {
		return n, malformed("body of %d bytes exceeds %d", len(body), MaxBodyBytes)
	}
	if !utf8.Valid(body) {
		return n, malformed("body is not valid UTF-8")
	}
	msg, err := decodeObject(body)
	if err != nil {
		return n, malformed("body: %v", err)
	}
	_, hasVersion := msg["oslo.version"]
	_, hasMessage := msg["oslo.message"]
	if hasVersion || hasMessage {
		if n.Envelope, msg, err = unwrapV2(msg); err != nil {
			return n, err
		}
	}

	fields := []struct {
		dst  *string
		keys []string
	}{
		{&n.MessageID, []string{"message_id", "_unique_id"}},
		{&n.Publisher, []string{"publisher_id"}},
		{&n.EventType, []string{"event_type"}},
		{&n.Priority, []string{"priority"}},
		{&n.Timestamp, []string{"timestamp"}},
		{&n.Project, []string{"_context_project_id", "_context_project", "_context_tenant"}},
		{&n.User, []string{"_context_user_id", "_context_user"}},
	}
	for _, f := range fields {
		if *f.dst, err = firstString(msg, f.keys...); err != nil {
			return n, err
		}
	}
	if n.Publisher == "" {
		return n, malformed("message has no publisher_id")
	}
	if n.EventType == "" {
		return n, malformed("message has no event_type")
	}
	n.Priority = strings.ToUpper(n.Priority)
	if n.Priority == "" {
		if i := strings.LastIndexByte(routingKey, '.'); i >= 0 {
			n.Priority = strings.ToUpper(routingKey[i+1:])
		}
	}
	if raw, ok := msg["payload"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &n.Payload); err != nil {
			return n, malformed("payload is %s, want an object", kindOf(raw))
		}
	}
	return n, nil
}

// unwrapV2 decodes the message string of a messagingv2 envelope.
func unwrapV2(env map[string]json.RawMessage) (string, map[string]json.RawMessage, error) {
	version, ok := jsonString(env["oslo.version"])
	if !ok {
		return "", nil, malformed("envelope: oslo.version is %s, want a string", kindOf(env["oslo.version"]))
	}
	if major, _, _ := strings.Cut(version, "."); major != "2" {
		return "", nil, malformed("envelope: oslo.version %s is not 2.x", clip(strconv.Quote(version), 64))
	}
	inner, ok := jsonString(env["oslo.message"])
	if !ok {
		return "", nil, malformed("envelope: oslo.message is %s, want a JSON string", kindOf(env["oslo.message"]))
	}
	msg, err := decodeObject([]byte(inner))
	if err != nil {
		return "", nil, malformed("envelope: oslo.message: %v", err)
	}
	return version, msg, nil
}

// decodeObject decodes a JSON object one level deep, once it has checked that
// it nests no deeper than MaxDepth.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	if err := checkDepth(data, MaxDepth); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		if errors.As(err, new(*json.UnmarshalTypeError)) {
			return nil, fmt.Errorf("%s is not a JSON object", kindOf(data))
		}
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if m == nil {
		return nil, errors.New("null is not a JSON object")
	}
	return m, nil
}

// checkDepth reports JSON that nests objects and arrays deeper than limit. It
// only counts brackets outside strings; whether the JSON is valid is for the
// decoder to say.
func checkDepth(data []byte, limit int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > limit {
				return fmt.Errorf("nests deeper than %d levels", limit)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// clip cuts s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// firstString returns the first of keys present with a non-empty string value.
// A present key with another type (null aside) is malformed.
func firstString(msg map[string]json.RawMessage, keys ...string) (string, error) {
	for _, k := range keys {
		raw, ok := msg[k]
		if !ok || isNull(raw) {
			continue
		}
		s, ok := jsonString(raw)
		if !ok {
			return "", malformed("%s is %s, want a string", k, kindOf(raw))
		}
		if s != "" {
			return s, nil
		}
	}
	return "", nil
}

// jsonString decodes a raw JSON string; null, absent and other kinds are not.
func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if isNull(raw) || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// kindOf names the JSON kind of a raw value, for error messages.
func kindOf(raw []byte) string {
	if isNull(raw) {
		return "null"
	}
	switch bytes.TrimSpace(raw)[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Lifecycle event names carried by recover signals, as Senlin spells them.
const (
	EventPause      = "PAUSE"
	EventPowerOff   = "POWER_OFF"
	EventRebuild    = "REBUILD"
	EventShutdown   = "SHUTDOWN"
	EventSoftDelete = "SOFT_DELETE"
	EventDelete     = "DELETE"
)

// Events that say a node is back, carried by node-back signals.
const (
	EventPowerOn  = "POWER_ON"
	EventRebooted = "REBOOTED"
	EventRebuilt  = "REBUILT"
	EventUnpaused = "UNPAUSED"
	EventResumed  = "RESUMED"
	EventRestored = "RESTORED"
	// EventActive: an instance.update from another state to active.
	EventActive = "ACTIVE"
	// EventComplete: a Heat stack operation ended *_COMPLETE.
	EventComplete = "COMPLETE"
)

// novaActive is the vm_state of a server that is up.
const novaActive = "active"

// novaBackEvents maps Nova event types (legacy and versioned) that end with
// the server active to back events; instance.update counts only when it
// moves the server from another state to active.
var novaBackEvents = map[string]string{
	"compute.instance.power_on.end": EventPowerOn, "instance.power_on.end": EventPowerOn,
	"compute.instance.reboot.end": EventRebooted, "instance.reboot.end": EventRebooted,
	"compute.instance.rebuild.end": EventRebuilt, "instance.rebuild.end": EventRebuilt,
	"compute.instance.unpause.end": EventUnpaused, "instance.unpause.end": EventUnpaused,
	"compute.instance.resume.end": EventResumed, "instance.resume.end": EventResumed,
	"compute.instance.restore.end": EventRestored, "instance.restore.end": EventRestored,
	"compute.instance.update": EventActive, "instance.update": EventActive,
}

// Sources of recover signals produced here.
const (
	SourceNova = health.SourceNova
	SourceHeat = health.SourceHeat
)

// novaLegacyEvents maps legacy (unversioned) Nova event types to events.
// compute.instance.delete.end is left out on purpose: deleting a server also
// emits shutdown.end, and Senlin dropped it after it caused two recoveries.
var novaLegacyEvents = map[string]string{
	"compute.instance.pause.end":       EventPause,
	"compute.instance.power_off.end":   EventPowerOff,
	"compute.instance.rebuild.error":   EventRebuild,
	"compute.instance.shutdown.end":    EventShutdown,
	"compute.instance.soft_delete.end": EventSoftDelete,
}

// novaVersionedEvents maps versioned Nova event types to the same events.
var novaVersionedEvents = map[string]string{
	"instance.pause.end":       EventPause,
	"instance.power_off.end":   EventPowerOff,
	"instance.rebuild.error":   EventRebuild,
	"instance.shutdown.end":    EventShutdown,
	"instance.soft_delete.end": EventSoftDelete,
}

// heatEvents maps Heat event types to events. Only a completed delete means the
// node lost its stack: orchestration.stack.delete.error (priority ERROR) leaves
// the stack in place (DELETE_FAILED) after someone, usually the engine itself
// while scaling in or recreating, asked for the delete; recovering it would race
// with that request, and node status polling still sees the failed stack.
var heatEvents = map[string]string{
	"orchestration.stack.delete.end": EventDelete,
}

// Kind is the class of a classification outcome.
type Kind string

// Outcome kinds.
const (
	// KindRecover: a failure event of a cluster node; signal its cluster.
	KindRecover Kind = "recover"
	// KindBack: a cluster node is back (its server active again, its stack
	// complete); signal its cluster with a node-back signal.
	KindBack Kind = "back"
	// KindIgnored: a well-formed notification that asks for nothing
	// (other publisher, not a failure event, no cluster or node id).
	KindIgnored Kind = "ignored"
	// KindMalformed: a notification that should carry what a failure event
	// needs (payload metadata, tags, ...) and does not.
	KindMalformed Kind = "malformed"
)

// Outcome is what Classify decided, with a reason fit for a log line.
type Outcome struct {
	Kind   Kind
	Reason string
}

// Event is a failure event of one cluster node, or with Back the word that it
// is back: the signal to send and the cluster whose workflow receives it.
type Event struct {
	ClusterID string
	Signal    health.RecoverSignal
	// Back: the node-back signal, not a recover request.
	Back bool
}

// Classify decides whether a notification is a failure event of a cluster node.
// Nova legacy (publisher compute.*), Nova versioned (publisher nova-compute:*)
// and Heat (publisher orchestration.*) notifications are understood; the event
// type is checked before the payload, so notifications that are not failure
// events are ignored whatever their payload looks like. The priority does not
// matter: ERROR notifications such as instance.rebuild.error are handled (Senlin
// never received them). A member whose cluster ID breaks health.ClusterIDRule,
// whose signal fails RecoverSignal.Validate, or whose state or physical id is
// not a string is malformed. Classify never panics, and its reason is at most
// a few hundred bytes whatever the notification holds.
func Classify(n Notification) (Event, Outcome) {
	ev, out := classify(n)
	out.Reason = clip(out.Reason, maxReasonBytes)
	return ev, out
}

func classify(n Notification) (Event, Outcome) {
	switch {
	case strings.HasPrefix(n.Publisher, "compute."):
		if _, ok := novaBackEvents[n.EventType]; ok {
			return classifyNovaBack(n, n.Payload, "instance_id")
		}
		return classifyNova(n, novaLegacyEvents, n.Payload, "instance_id")
	case strings.HasPrefix(n.Publisher, "nova-compute:"):
		event, ok := novaVersionedEvents[n.EventType]
		_, back := novaBackEvents[n.EventType]
		if !ok && !back {
			return Event{}, notFailure(n)
		}
		data, ok := n.Payload["nova_object.data"].(map[string]any)
		if !ok {
			return Event{}, Outcome{KindMalformed, fmt.Sprintf("%s: payload has no nova_object.data object", n.EventType)}
		}
		if back {
			return classifyNovaBack(n, data, "uuid")
		}
		return classifyNova(n, map[string]string{n.EventType: event}, data, "uuid")
	case strings.HasPrefix(n.Publisher, "orchestration."):
		return classifyHeat(n)
	}
	return Event{}, Outcome{KindIgnored, fmt.Sprintf("publisher %q is neither nova nor heat", n.Publisher)}
}

// classifyNova reads a Nova instance payload (legacy, or the nova_object.data
// of a versioned one): metadata.cluster_id, metadata.cluster_node_id, state and
// the physical id under idKey.
func classifyNova(n Notification, events map[string]string, data map[string]any, idKey string) (Event, Outcome) {
	event, ok := events[n.EventType]
	if !ok {
		return Event{}, notFailure(n)
	}
	meta, ok := data["metadata"].(map[string]any)
	if !ok {
		return Event{}, Outcome{KindMalformed, fmt.Sprintf("%s: payload has no metadata object", n.EventType)}
	}
	clusterID, ok := optString(meta, "cluster_id")
	if !ok {
		return Event{}, Outcome{KindMalformed, fmt.Sprintf("%s: metadata.cluster_id is not a string", n.EventType)}
	}
	nodeID, ok := optString(meta, "cluster_node_id")
	if !ok {
		return Event{}, Outcome{KindMalformed, fmt.Sprintf("%s: metadata.cluster_node_id is not a string", n.EventType)}
	}
	state, ok := optString(data, "state")
	if !ok {
		return Event{}, Outcome{KindMalformed, fmt.Sprintf("%s: payload state is not a string", n.EventType)}
	}
	physicalID, ok := optString(data, idKey)
	if !ok {
		return Event{}, Outcome{KindMalformed, fmt.Sprintf("%s: payload %s is not a string", n.EventType, idKey)}
	}
	return member(n, SourceNova, event, clusterID, nodeID, state, physicalID)
}

// classifyNovaBack reads a Nova instance payload of an event that may say the
// server is back: it is, when the server is active (and, for an update,
// was not before).
func classifyNovaBack(n Notification, data map[string]any, idKey string) (Event, Outcome) {
	state, ok := optString(data, "state")
	if !ok {
		return Event{}, Outcome{KindMalformed, fmt.Sprintf("%s: payload state is not a string", n.EventType)}
	}
	if state != novaActive {
		return Event{}, Outcome{KindIgnored, fmt.Sprintf("%s: state %q is not active", n.EventType, clip(state, 40))}
	}
	if strings.HasSuffix(n.EventType, "instance.update") {
		old, ok := optString(data, "old_state") // legacy
		if su, isMap := data["state_update"].(map[string]any); isMap {
			if sd, isMap := su["nova_object.data"].(map[string]any); isMap {
				old, ok = optString(sd, "old_state") // versioned
			}
		}
		if !ok {
			return Event{}, Outcome{KindMalformed, fmt.Sprintf("%s: old_state is not a string", n.EventType)}
		}
		if old == "" || old == novaActive {
			return Event{}, Outcome{KindIgnored, fmt.Sprintf("%s: not a change to active", n.EventType)}
		}
	}
	ev, out := classifyNova(n, map[string]string{n.EventType: novaBackEvents[n.EventType]}, data, idKey)
	return asBack(ev, out)
}

// asBack turns the recover event of a node into its node-back event.
func asBack(ev Event, out Outcome) (Event, Outcome) {
	if out.Kind == KindRecover {
		ev.Back, out.Kind = true, KindBack
		out.Reason = strings.Replace(out.Reason, " of node ", " (back) of node ", 1)
	}
	return ev, out
}

// heatBack reports whether a Heat notification says a stack operation ended
// complete (not a delete or a suspend).
func heatBack(n Notification) bool {
	if !strings.HasPrefix(n.EventType, "orchestration.stack.") || !strings.HasSuffix(n.EventType, ".end") {
		return false
	}
	state, _ := n.Payload["state"].(string)
	return strings.HasSuffix(state, "_COMPLETE") && state != "DELETE_COMPLETE" && state != "SUSPEND_COMPLETE"
}

// classifyHeat reads a Heat stack payload: tags "cluster_id=<id>" and
// "cluster_node_id=<id>" (the "=" is required, unlike Senlin, which skipped
// whatever character followed the key), stack_identity and state.
func classifyHeat(n Notification) (Event, Outcome) {
	event, ok := heatEvents[n.EventType]
	back := !ok && heatBack(n)
	if back {
		event = EventComplete
	} else if !ok {
		return Event{}, notFailure(n)
	}
	rawTags, ok := n.Payload["tags"]
	if !ok {
		return Event{}, Outcome{KindMalformed, fmt.Sprintf("%s: payload has no tags", n.EventType)}
	}
	var tags []any
	switch t := rawTags.(type) {
	case nil:
	case []any:
		tags = t
	default:
		return Event{}, Outcome{KindMalformed, fmt.Sprintf("%s: payload tags is not a list", n.EventType)}
	}
	var clusterID, nodeID string
	for _, t := range tags {
		s, ok := t.(string)
		if !ok {
			return Event{}, Outcome{KindMalformed, fmt.Sprintf("%s: payload tags holds a non-string", n.EventType)}
		}
		if v, ok := strings.CutPrefix(s, "cluster_id="); ok && clusterID == "" {
			clusterID = v
		}
		if v, ok := strings.CutPrefix(s, "cluster_node_id="); ok && nodeID == "" {
			nodeID = v
		}
	}
	state, ok := optString(n.Payload, "state")
	if !ok {
		return Event{}, Outcome{KindMalformed, fmt.Sprintf("%s: payload state is not a string", n.EventType)}
	}
	// stack_identity is the stack's ARN; a stack node's physical_id is the
	// bare stack id, so the signal carries that.
	stack, ok := optString(n.Payload, "stack_identity")
	if !ok {
		return Event{}, Outcome{KindMalformed, fmt.Sprintf("%s: payload stack_identity is not a string", n.EventType)}
	}
	ev, out := member(n, SourceHeat, event, clusterID, nodeID, state, health.StackID(stack))
	if back {
		return asBack(ev, out)
	}
	return ev, out
}

// member builds the event of a cluster node. A notification about a resource
// that is not one is ignored; one whose cluster ID or recover signal would be
// refused downstream is malformed.
func member(n Notification, source, event, clusterID, nodeID, state, physicalID string) (Event, Outcome) {
	if clusterID == "" {
		return Event{}, Outcome{KindIgnored, fmt.Sprintf("%s: no cluster id", n.EventType)}
	}
	if err := health.CheckClusterID(clusterID); err != nil {
		return Event{}, Outcome{KindMalformed, fmt.Sprintf("%s: %v", n.EventType, err)}
	}
	if nodeID == "" {
		return Event{}, Outcome{KindIgnored, fmt.Sprintf("%s: cluster %s: no node id", n.EventType, clusterID)}
	}
	sig := health.RecoverSignal{
		NodeID:     nodeID,
		Event:      event,
		State:      state,
		PhysicalID: physicalID,
		Publisher:  n.Publisher,
		Timestamp:  n.Timestamp,
		MessageID:  n.MessageID,
		Project:    n.Project,
		Source:     source,
	}
	if err := sig.Validate(); err != nil {
		return Event{}, Outcome{KindMalformed, fmt.Sprintf("%s: cluster %s: recover signal: %s",
			n.EventType, clusterID, strings.ReplaceAll(err.Error(), "\n", "; "))}
	}
	return Event{ClusterID: clusterID, Signal: sig}, Outcome{KindRecover, fmt.Sprintf("%s: %s of node %s", n.EventType, event, nodeID)}
}

func notFailure(n Notification) Outcome {
	return Outcome{KindIgnored, fmt.Sprintf("%s is not a failure event", n.EventType)}
}

// optString reads an optional string: absent and null give "", true; another
// type gives "", false.
func optString(m map[string]any, key string) (string, bool) {
	switch v := m[key].(type) {
	case nil:
		return "", true
	case string:
		return v, true
	default:
		return "", false
	}
}
