package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap/zaptest"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/bridge"
	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/metrics"
	"github.com/clusterhealth/healthd/workflows"
)

// fixture is a delivery captured from the real oslo.messaging notifier.
type fixture struct {
	name       string
	exchange   string
	routingKey string
	body       []byte
	event      bridge.Event
}

func loadFixture(t testing.TB, name string) fixture {
	t.Helper()
	dir := filepath.Join("..", "bridge", "testdata", "oslo")
	body, err := os.ReadFile(filepath.Join(dir, name+".body.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, name+".amqp.json"))
	if err != nil {
		t.Fatal(err)
	}
	var props struct {
		Exchange   string `json:"exchange"`
		RoutingKey string `json:"routing_key"`
	}
	if err := json.Unmarshal(raw, &props); err != nil {
		t.Fatal(err)
	}
	n, err := bridge.ParseDelivery(props.Exchange, props.RoutingKey, body)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	ev, _ := bridge.Classify(n)
	return fixture{name: name, exchange: props.Exchange, routingKey: props.RoutingKey, body: body, event: ev}
}

func amqpURL() string {
	if u := os.Getenv("TEST_AMQP_URL"); u != "" {
		return u
	}
	return app.Defaults().Bridge.URL
}

// eventsStack runs health, engine and bridge against a real Temporal dev
// server, a fresh database and the local RabbitMQ, with exchanges and queues
// of the test's own.
type eventsStack struct {
	app      *app.Main
	cfg      app.Config
	temporal client.Client
	ch       *amqp.Channel
	exchange map[string]string // oslo control exchange -> the test's exchange
	hooks    *nodes
}

func startEventsStack(t testing.TB) *eventsStack {
	return startEventsStackOn(t, startTemporal(t).Address, nil)
}

// startEventsStackOn is startEventsStack against the Temporal frontend at
// address, with tweak applied to the configuration last.
func startEventsStackOn(t testing.TB, address string, tweak func(*app.Config)) *eventsStack {
	cfg := testConfig(t, address)
	cfg.Bridge.URL = amqpURL()
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	cfg.Bridge.NovaExchange = "nova.e2e." + suffix
	cfg.Bridge.HeatExchange = "heat.e2e." + suffix
	cfg.Bridge.NovaQueue = "healthd.nova.e2e." + suffix
	cfg.Bridge.HeatQueue = "healthd.heat.e2e." + suffix
	cfg.Bridge.DeadLetterExchange = "healthd.dlx.e2e." + suffix
	cfg.Bridge.DeadLetterQueue = "healthd.dead.e2e." + suffix
	if tweak != nil {
		tweak(&cfg)
	}

	// The test's own connection, and the removal of the exchanges and queues,
	// come first so that they are cleaned up last, after the app stopped.
	conn, err := amqp.Dial(cfg.Bridge.URL)
	if err != nil {
		t.Fatalf("connect to RabbitMQ at %s (is it running? scripts/ensure-services.sh starts it): %v", config.RedactURL(cfg.Bridge.URL), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, x := range []string{cfg.Bridge.NovaExchange, cfg.Bridge.HeatExchange, cfg.Bridge.DeadLetterExchange} {
			if strings.Contains(x, ".e2e.") { // the test's own, not a real Nova's
				_ = ch.ExchangeDelete(x, false, false)
			}
		}
		for _, q := range []string{cfg.Bridge.NovaQueue, cfg.Bridge.HeatQueue, cfg.Bridge.DeadLetterQueue} {
			_, _ = ch.QueueDelete(q, false, false, false)
		}
	})

	m := runApp(t, cfg, zaptest.NewLogger(t), app.RoleHealth, app.RoleEngine, app.RoleBridge)
	require.Eventually(t, func() bool { return m.Ready() == nil }, 30*time.Second, waitTick, "waiting for the bridge to be ready")

	return &eventsStack{app: m, cfg: cfg, temporal: dialTemporal(t, address), ch: ch, hooks: newNodes(t),
		exchange: map[string]string{"nova": cfg.Bridge.NovaExchange, "heat": cfg.Bridge.HeatExchange}}
}

func (s *eventsStack) publish(t testing.TB, f fixture, body []byte) {
	t.Helper()
	err := s.ch.PublishWithContext(context.Background(), s.exchange[f.exchange], f.routingKey, false, false, amqp.Publishing{
		ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: amqp.Persistent, Body: body,
	})
	if err != nil {
		t.Fatalf("publish %s: %v", f.name, err)
	}
}

func (s *eventsStack) registerEvents(t testing.TB, ctx context.Context, clusterID, project string, nodeIDs ...string) {
	t.Helper()
	var nodes []health.Node
	for _, id := range nodeIDs {
		nodes = append(nodes, health.Node{ID: id, Name: "node-" + id[:8]})
	}
	s.registerEventsWith(t, ctx, clusterID, project, health.Safety{}, nodes...)
}

// registerEventsWith stores a cluster of the nodes (active, made an hour
// ago unless they say otherwise) whose recoveries call the stack's webhook,
// and starts its workflow with eventsRegistration.
func (s *eventsStack) registerEventsWith(t testing.TB, ctx context.Context, clusterID, project string, safety health.Safety, nodes ...health.Node) {
	t.Helper()
	st := s.app.Store
	if err := st.UpsertCluster(ctx, health.Cluster{ID: clusterID, Name: "events", Project: project, ProfileType: "os.nova.server-1.0",
		RecoverWebhook: s.hooks.hook.URL}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.ClusterID = clusterID
		if n.Status == "" {
			n.Status = health.NodeActive
		}
		if n.InitAt.IsZero() {
			n.InitAt = time.Now().Add(-time.Hour)
		}
		if err := st.UpsertNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(clusterID), TaskQueue: workflows.TaskQueue},
		workflows.WorkflowName, workflows.Input{Registration: eventsRegistration(clusterID, safety)}); err != nil {
		t.Fatalf("start workflow: %v", err)
	}
}

// eventsRegistration is the registration of a cluster that watches
// lifecycle events only (RECREATE), with safety as its properties.healthd.
func eventsRegistration(clusterID string, safety health.Safety) health.Registration {
	return health.Registration{ClusterID: clusterID, Interval: 60, NodeUpdateTimeout: 60, RecoveryConditional: health.AnyFailed,
		DetectionModes: []health.DetectionMode{{Type: health.LifecycleEvents}},
		Recovery:       health.RecoveryAction{Name: health.OpRecreate}, NodeDeleteTimeout: 20, Safety: safety}
}

func (s *eventsStack) status(ctx context.Context, clusterID string) workflows.Status {
	return clusterStatus(ctx, s.temporal, clusterID)
}

// stackNodePhysicalIDs are the physical ids an engine records for the stack
// nodes of the Heat fixtures: the stack id at the end of their stack_identity.
var stackNodePhysicalIDs = map[string]string{
	"member.heat.orchestration.stack.delete.end.messagingv2": "2f4e9a63-0d5a-4c5e-9c1b-7f3c9e7b1a20",
}

// TestBridgeFixturesBecomeRecoveries publishes every captured failure
// notification of a cluster member to its exchange and routing key; each one
// must reach the cluster's workflow and end in a recovery action.
func TestBridgeFixturesBecomeRecoveries(t *testing.T) {
	ctx := context.Background()
	s := startEventsStack(t)
	fixtures := []fixture{
		loadFixture(t, "member.nova.compute.instance.shutdown.end.messagingv2"),
		loadFixture(t, "member.nova.versioned.instance.power_off.end.messagingv2"),
		loadFixture(t, "member.heat.orchestration.stack.delete.end.messagingv2"),
	}
	ev := fixtures[0].event
	s.registerEvents(t, ctx, ev.ClusterID, ev.Signal.Project, ev.Signal.NodeID)
	require.Eventually(t, func() bool { return s.status(ctx, ev.ClusterID).ClusterID != "" }, 30*time.Second, waitTick, "waiting for the workflow to learn its cluster")

	for i, f := range fixtures {
		if f.event.ClusterID != ev.ClusterID || f.event.Signal.NodeID != ev.Signal.NodeID {
			t.Fatalf("%s: got cluster %s node %s, want the member %s/%s", f.name, f.event.ClusterID, f.event.Signal.NodeID, ev.ClusterID, ev.Signal.NodeID)
		}
		// The node's physical resource is the one the event is about: for a
		// Heat stack node the engine records the bare stack id, while the
		// notification names the stack by its ARN.
		physicalID, ok := stackNodePhysicalIDs[f.name]
		if !ok {
			physicalID = f.event.Signal.PhysicalID
		}
		if err := s.app.Store.UpsertNode(ctx, health.Node{ID: ev.Signal.NodeID, ClusterID: ev.ClusterID, Name: "member",
			PhysicalID: physicalID, Status: health.NodeActive}); err != nil {
			t.Fatal(err)
		}
		s.publish(t, f, f.body)
		want := int64(i + 1)
		require.Eventually(t, func() bool {
			return s.status(ctx, ev.ClusterID).Counters.RecoveriesSucceeded == want
		}, 30*time.Second, waitTick, "waiting for %s to be recovered", f.name)
		acts, err := s.app.Store.ListActions(ctx, ev.ClusterID)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(acts); got != i+1 {
			t.Fatalf("after %s: got %d actions, want %d", f.name, got, i+1)
		}
		if acts[0].NodeID != ev.Signal.NodeID || acts[0].Params.Operation != health.OpRecreate {
			t.Errorf("after %s: got action %+v, want RECREATE of %s", f.name, acts[0], ev.Signal.NodeID)
		}
		// The node is back, as Nova says after a recovery; without that word
		// the next capture, whose timestamp is older than this recovery,
		// would be taken for a stale copy of the failure it recovered.
		if err := healthclient.New(s.temporal).NodeBack(ctx, ev.ClusterID, health.RecoverSignal{NodeID: ev.Signal.NodeID,
			Event: bridge.EventPowerOn, State: "active", Source: health.SourceNova, Project: ev.Signal.Project}); err != nil {
			t.Fatal(err)
		}
		require.Eventually(t, func() bool {
			return s.status(ctx, ev.ClusterID).Counters.NodeBackSignals == want
		}, 30*time.Second, waitTick, "waiting for the node-back signal after %s", f.name)
	}
	// Notifications about instances and stacks of no cluster are counted as
	// ignored, and a body that cannot be parsed is dead-lettered; neither
	// becomes an action.
	others := []string{
		"nova.compute.instance.shutdown.end.messagingv2", "nova.compute.instance.shutdown.end.messaging",
		"nova.compute.instance.shutdown.end.notifications-topic.messagingv2",
		"heat.orchestration.stack.delete.end.messagingv2", "heat.orchestration.stack.delete.end.messaging",
		"heat.orchestration.stack.delete.error.messagingv2",
	}
	for _, name := range others {
		f := loadFixture(t, name)
		s.publish(t, f, f.body)
	}
	s.publish(t, fixtures[0], []byte(`{"oslo.version": "2.0", "oslo.message": "{not json"}`))
	require.Eventually(t, func() bool {
		return bridgeCount(t, s, metrics.BridgeIgnored) == float64(len(others)) && bridgeCount(t, s, metrics.BridgeMalformed) == 1
	}, 30*time.Second, waitTick, "waiting for the other notifications to be settled")
	dead, err := s.ch.QueueDeclarePassive(s.cfg.Bridge.DeadLetterQueue, true, false, false, false, nil)
	if err != nil || dead.Messages != 1 {
		t.Errorf("dead-letter queue %s: got %d messages (err %v), want the malformed one", s.cfg.Bridge.DeadLetterQueue, dead.Messages, err)
	}
	if acts, _ := s.app.Store.ListActions(ctx, ev.ClusterID); len(acts) != len(fixtures) {
		t.Errorf("after notifications of no cluster: got %d actions, want %d", len(acts), len(fixtures))
	}

	// A redelivery of a message already acted on is ignored (same message id).
	s.publish(t, fixtures[0], fixtures[0].body)
	require.Eventually(t, func() bool {
		return s.status(ctx, ev.ClusterID).Counters.SignalsIgnored == 1
	}, 30*time.Second, waitTick, "waiting for the duplicate to be ignored")
	recordHistory(t, s.temporal, workflows.WorkflowID(ev.ClusterID), "lifecycle_events_recovery")
	if acts, _ := s.app.Store.ListActions(ctx, ev.ClusterID); len(acts) != len(fixtures) {
		t.Errorf("after a duplicate: got %d actions, want %d", len(acts), len(fixtures))
	}
}
