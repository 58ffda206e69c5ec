package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/bridge"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/metrics"
	"github.com/clusterhealth/healthd/internal/testkit/rabbittest"
	"github.com/clusterhealth/healthd/internal/triage"
	"github.com/clusterhealth/healthd/workflows"
)

// brokerRestartNodes is how many nodes fail, one notification each.
const brokerRestartNodes = 30

// TestBrokerRestartWhileNotificationsFlow restarts a private RabbitMQ node
// while a producer publishes one Nova failure notification per node of a
// LIFECYCLE_EVENTS cluster, with publisher confirms, reconnecting and
// republishing what was not confirmed as a real producer does. Half the
// notifications are confirmed before the restart; then the broker raises a
// memory alarm, so that the next ones are in flight, unconfirmed, when it
// stops; the rest are published once it is back, with one confirmed before
// the restart published again, as a producer that lost its confirm would.
// Every confirmed notification must become exactly one NODE_RECOVER action:
// none lost, none doubled. A notification that reaches the workflow twice
// (published again, or redelivered after a lost ack) carries the same
// message ID and is ignored as a duplicate; nothing is dead-lettered.
func TestBrokerRestartWhileNotificationsFlow(t *testing.T) {
	ctx := context.Background()
	temporalSrv := startTemporal(t)
	broker := rabbittest.Start(t)
	s := startEventsStackOn(t, temporalSrv.Address, func(c *app.Config) {
		c.Bridge.URL = broker.URL
		// Reconnect soon after the broker is back.
		c.Bridge.ReconnectBackoffMin = 100 * time.Millisecond
		c.Bridge.ReconnectBackoffMax = time.Second
	})

	f := loadFixture(t, "member.nova.compute.instance.shutdown.end.messagingv2")
	cid := f.event.ClusterID
	msgs := make([]restartMessage, brokerRestartNodes)
	for i := range msgs {
		msgs[i] = restartMessage{
			messageID:  fmt.Sprintf("5e1f0c2a-0000-4000-8000-%012d", i),
			nodeID:     fmt.Sprintf("0d9e8f7a-0000-4000-8000-%012d", i),
			instanceID: fmt.Sprintf("178b0921-0000-4000-8000-%012d", i),
		}
		msgs[i].body = memberNovaBody(t, f, cid, msgs[i])
	}
	registerRestartCluster(t, ctx, s, cid, f.event.Signal.Project, msgs)
	dumpOnFailure(t, s.temporal, cid)
	require.Eventually(t, func() bool { return s.status(ctx, cid).NodeCount == len(msgs) }, 30*time.Second, waitTick,
		"waiting for the workflow to learn its %d nodes", len(msgs))
	require.Eventually(t, func() bool { return s.app.Ready() == nil }, 30*time.Second, waitTick, "waiting for the bridge to consume")

	p := &confirmingProducer{
		url: broker.URL, exchange: s.cfg.Bridge.NovaExchange, durable: s.cfg.Bridge.ExchangeDurable,
		routingKey: f.routingKey, msgs: msgs, changed: make(chan struct{}, 1), logf: t.Logf,
		confirmed: make([]bool, len(msgs)), publishes: make([]int, len(msgs)),
	}
	pctx, stopProducer := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(pctx)
	}()
	t.Cleanup(func() {
		stopProducer()
		<-done
	})

	// The tally is logged however the test ends.
	var tally restartTally
	defer func() {
		if tally == (restartTally{}) {
			tally = p.tally()
		}
		t.Logf("tally: %s", tally)
	}()

	third := len(msgs) / 3
	p.release(third)
	require.Eventually(t, func() bool { return p.confirmedCount() == third }, 30*time.Second, waitTick,
		"waiting for the first %d notifications to be confirmed", third)

	// Half of the second third flows normally, one every 100 ms.
	releaser := make(chan struct{})
	go func() {
		defer close(releaser)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for n := third + 1; n <= third+third/2; n++ {
			p.release(n)
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	<-releaser
	require.Eventually(t, func() bool { return p.confirmedCount() == third+third/2 }, 30*time.Second, waitTick,
		"waiting for %d notifications to be confirmed", third+third/2)

	// Then the broker raises a memory alarm: it stops reading from the
	// producer's connection, so the rest of the second third is published
	// and left unconfirmed, in flight when the broker stops.
	broker.Ctl(t, "set_vm_memory_high_watermark", "0")
	p.release(2 * third)
	require.Eventually(t, func() bool {
		pending := p.pendingCount()
		return pending > 0 && pending+p.confirmedCount() == 2*third
	}, 30*time.Second, waitTick, "waiting for the rest of the second third to be published and held unconfirmed")
	t.Logf("memory alarm on: %d notifications confirmed, %d published and unconfirmed", p.confirmedCount(), p.pendingCount())
	began := time.Now()
	broker.Stop(t)
	t.Logf("broker stopped with %d notifications confirmed", p.confirmedCount())
	// The memory alarm's threshold is a runtime setting: the restarted
	// broker has its default one.
	broker.Start(t)
	p.release(len(msgs))
	// A producer whose confirm wait timed out cannot tell whether the
	// broker took the message, and publishes it again: the last message
	// confirmed before the alarm reaches the workflow twice, with the same
	// message id.
	resent := third + third/2 - 1
	p.resend(resent)
	require.Eventually(t, func() bool { return p.confirmedCount() == len(msgs) }, 60*time.Second, waitTick,
		"waiting for every notification to be confirmed")
	t.Logf("every notification confirmed %s after the broker began to stop", time.Since(began).Round(time.Millisecond))

	// Settled: every confirmed notification acted on, the workflow has taken
	// every signal the bridge sent, and the queues are empty, with nothing
	// delivered and unacknowledged either.
	signalled := func() int64 { return int64(bridgeCount(t, s, metrics.BridgeSignalled)) }
	queueRe := regexp.MustCompile(`(?m)^(\S+)\s+(\d+)\s+(\d+)$`)
	var st workflows.Status
	var acts []health.Action
	require.Eventually(t, func() bool {
		var err error
		if acts, err = s.app.Store.ListActions(ctx, cid); err != nil || len(acts) < len(msgs) {
			return false
		}
		if st = s.status(ctx, cid); st.Counters.RecoverSignals < signalled() {
			return false
		}
		out, ok := softCtl(broker, "list_queues", "--no-table-headers", "name", "messages_ready", "messages_unacknowledged")
		if !ok {
			return false
		}
		found := false
		for _, m := range queueRe.FindAllStringSubmatch(out, -1) {
			if m[1] == s.cfg.Bridge.NovaQueue {
				if m[2] != "0" || m[3] != "0" {
					return false
				}
				found = true
			}
		}
		if !found {
			return false
		}
		// Read again: a signal counted while rabbitmqctl ran is taken too.
		st = s.status(ctx, cid)
		return st.Counters.RecoverSignals >= signalled()
	}, 60*time.Second, waitTick, "waiting for the notifications to be settled")
	// The actions as of now, after the last signal was taken.
	acts, err := s.app.Store.ListActions(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}

	perNode := map[string]int{}
	for _, a := range acts {
		perNode[a.NodeID]++
		if a.Action != health.ActionNodeRecover {
			t.Errorf("action %s of node %s: got %s, want %s", a.ID, a.NodeID, a.Action, health.ActionNodeRecover)
		}
	}
	tally = p.tally()
	tally.signalled = signalled()
	tally.workflowSignals = st.Counters.RecoverSignals
	tally.actions = len(acts)
	tally.duplicatesIgnored = st.Counters.SignalsIgnoredBy[triage.ReasonDuplicate]
	for _, m := range msgs {
		switch n := perNode[m.nodeID]; {
		case n == 0:
			tally.lost++
			t.Errorf("node %s (message %s, confirmed): no action, want one", m.nodeID, m.messageID)
		case n > 1:
			tally.duplicated++
			t.Errorf("node %s (message %s): %d actions, want one", m.nodeID, m.messageID, n)
		}
		delete(perNode, m.nodeID)
	}
	for node, n := range perNode {
		t.Errorf("node %s: %d actions, want none: it was sent no notification", node, n)
	}
	if tally.nacked < 1 {
		t.Errorf("producer: %d publishes unconfirmed when the broker stopped, want at least 1", tally.nacked)
	}
	if tally.duplicatesIgnored < 1 {
		t.Errorf("workflow: %d duplicates ignored, want at least 1: message %s was published twice", tally.duplicatesIgnored, msgs[resent].messageID)
	}
	// Every signal past the first of each message is a duplicate, ignored
	// for its message ID and for nothing else.
	if want := st.Counters.RecoverSignals - int64(len(msgs)); tally.duplicatesIgnored != want || st.Counters.SignalsIgnored != want {
		t.Errorf("workflow: got %d recover signals, %d ignored (%v); want %d ignored, all as %s",
			st.Counters.RecoverSignals, st.Counters.SignalsIgnored, st.Counters.SignalsIgnoredBy, want, triage.ReasonDuplicate)
	}
	if n := bridgeCount(t, s, metrics.BridgeMalformed) + bridgeCount(t, s, metrics.BridgeIgnored) + bridgeCount(t, s, metrics.BridgeNotRegistered); n != 0 {
		t.Errorf("bridge: %v notifications not signalled, want 0", n)
	}
	out := broker.Ctl(t, "list_queues", "--no-table-headers", "name", "messages_ready", "messages_unacknowledged")
	for _, m := range queueRe.FindAllStringSubmatch(out, -1) {
		if m[1] == s.cfg.Bridge.DeadLetterQueue && (m[2] != "0" || m[3] != "0") {
			t.Errorf("dead-letter queue %s: %s ready and %s unacknowledged, want none", m[1], m[2], m[3])
		}
	}
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(s.cfg.Bridge.DeadLetterQueue) + `\s`).MatchString(out) {
		t.Errorf("rabbitmqctl list_queues: no dead-letter queue %s in %q", s.cfg.Bridge.DeadLetterQueue, out)
	}
}

// restartMessage is one notification of the producer: a node's failure.
type restartMessage struct {
	messageID, nodeID, instanceID string
	body                          []byte
}

// memberNovaBody is the member fixture's body about node m of the cluster:
// the same oslo.messaging v2 envelope, with the node's id, instance and
// message id in the message.
func memberNovaBody(t testing.TB, f fixture, clusterID string, m restartMessage) []byte {
	t.Helper()
	return novaBody(t, f, clusterID, novaEdit{nodeID: m.nodeID, instanceID: m.instanceID, messageID: m.messageID}, bridge.KindRecover)
}

// novaEdit is what novaBody changes in a captured Nova notification.
type novaEdit struct {
	nodeID, instanceID, messageID string
	// eventType and state, when set, replace the capture's; now stamps it
	// with the time it is made, as Nova would.
	eventType, state string
	now              bool
}

// novaBody is a captured member Nova notification (legacy or versioned)
// about another node of the cluster: the same oslo.messaging v2 envelope,
// with e applied to the message. The bridge must classify it as want.
func novaBody(t testing.TB, f fixture, clusterID string, e novaEdit, want bridge.Kind) []byte {
	t.Helper()
	var envelope map[string]any
	if err := json.Unmarshal(f.body, &envelope); err != nil {
		t.Fatal(err)
	}
	raw, _ := envelope["oslo.message"].(string)
	var msg map[string]any
	if err := json.Unmarshal([]byte(raw), &msg); err != nil {
		t.Fatalf("%s: oslo.message: %v", f.name, err)
	}
	msg["message_id"] = e.messageID
	msg["_unique_id"] = strings.ReplaceAll(e.messageID, "-", "")
	if e.eventType != "" {
		msg["event_type"] = e.eventType
	}
	if e.now {
		msg["timestamp"] = time.Now().UTC().Format("2006-01-02 15:04:05.999999")
	}
	data, _ := msg["payload"].(map[string]any)
	idKey := "instance_id"
	if d, ok := data["nova_object.data"].(map[string]any); ok {
		data, idKey = d, "uuid"
	}
	meta, _ := data["metadata"].(map[string]any)
	if data == nil || meta == nil {
		t.Fatalf("%s: no payload metadata", f.name)
	}
	data[idKey] = e.instanceID
	if e.state != "" {
		data["state"] = e.state
	}
	meta["cluster_id"] = clusterID
	meta["cluster_node_id"] = e.nodeID
	inner, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	envelope["oslo.message"] = string(inner)
	body, err := json.Marshal(envelope)
	if err != nil {
		t.Fatal(err)
	}
	n, err := bridge.ParseDelivery(f.exchange, f.routingKey, body)
	if err != nil {
		t.Fatalf("edited %s: %v", f.name, err)
	}
	if ev, out := bridge.Classify(n); out.Kind != want || ev.Signal.NodeID != e.nodeID || ev.Signal.MessageID != e.messageID {
		t.Fatalf("edited %s: got %+v (%s), want a %s signal of node %s with message id %s", f.name, ev, out.Reason, want, e.nodeID, e.messageID)
	}
	return body
}

// registerRestartCluster registers a LIFECYCLE_EVENTS cluster of the
// messages' nodes, as registerEvents does, with the unhealthy short-circuit
// off: every node of the cluster fails at once here.
func registerRestartCluster(t testing.TB, ctx context.Context, s *eventsStack, clusterID, project string, msgs []restartMessage) {
	t.Helper()
	var nodes []health.Node
	for i, m := range msgs {
		nodes = append(nodes, health.Node{ID: m.nodeID, Name: "node-" + strconv.Itoa(i), PhysicalID: m.instanceID})
	}
	s.registerEventsWith(t, ctx, clusterID, project, health.Safety{MaxUnhealthy: "100%"}, nodes...)
}

// softCtl runs rabbitmqctl against the node and reports whether it succeeded,
// without failing the test: for the conditions of require.Eventually, which
// run on another goroutine.
func softCtl(b *rabbittest.Broker, args ...string) (out string, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, soft := r.(softFailure); !soft {
				panic(r)
			}
			ok = false
		}
	}()
	return b.Ctl(softTB{}, args...), true
}

// softFailure is what softTB panics with instead of failing the test.
type softFailure string

// softTB is a testing.TB whose Fatalf panics with a softFailure, which
// softCtl recovers. Only what Broker.Ctl calls is implemented.
type softTB struct{ testing.TB }

func (softTB) Helper() {}

func (softTB) Fatalf(format string, args ...any) { panic(softFailure(fmt.Sprintf(format, args...))) }

// restartTally counts what happened to the producer's notifications.
type restartTally struct {
	published, confirmed, republished, returned int
	nacked                                      int
	connections                                 int
	signalled, workflowSignals                  int64
	actions                                     int
	duplicatesIgnored                           int64
	lost, duplicated                            int
}

func (r restartTally) String() string {
	return fmt.Sprintf("published=%d confirmed=%d republished=%d (returned unroutable=%d, unconfirmed at a close or nacked=%d) producer-connections=%d "+
		"signalled=%d (workflow received %d) actions=%d duplicates-ignored=%d lost=%d duplicated=%d",
		r.published, r.confirmed, r.republished, r.returned, r.nacked, r.connections,
		r.signalled, r.workflowSignals, r.actions, r.duplicatesIgnored, r.lost, r.duplicated)
}

// confirmingProducer publishes messages as oslo.messaging's notifier would
// with publisher confirms on: it declares the exchange, publishes persistent
// messages, mandatory so that one the broker cannot route yet (the bridge's
// binding is gone until it reconnects after a restart) comes back instead of
// being confirmed and dropped, and republishes whatever was not confirmed
// (nacked, returned, or in flight when the connection closed) on a new
// connection, with a short backoff, until everything released is confirmed.
type confirmingProducer struct {
	url, exchange, routingKey string
	durable                   bool
	msgs                      []restartMessage
	logf                      func(format string, args ...any)
	changed                   chan struct{} // a release since the producer last looked

	mu          sync.Mutex
	released    int
	confirmed   []bool
	publishes   []int
	returned    int
	nacked      int
	pending     int // published on the current connection, not answered yet
	connections int
}

// release lets the producer publish the messages [0, n), and those it
// already could.
func (p *confirmingProducer) release(n int) {
	p.mu.Lock()
	p.released = max(p.released, n)
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

func (p *confirmingProducer) confirmedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.confirmed {
		if c {
			n++
		}
	}
	return n
}

// resend makes the producer publish message i again, confirmed or not.
func (p *confirmingProducer) resend(i int) {
	p.mu.Lock()
	p.confirmed[i] = false
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// pendingCount is how many publishes wait for the broker's answer.
func (p *confirmingProducer) pendingCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending
}

func (p *confirmingProducer) tally() restartTally {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := restartTally{returned: p.returned, nacked: p.nacked, connections: p.connections}
	for i := range p.msgs {
		if p.publishes[i] > 0 {
			r.published++
			r.republished += p.publishes[i] - 1
		}
		if p.confirmed[i] {
			r.confirmed++
		}
	}
	return r
}

// run publishes until ctx is done, one connection after another.
func (p *confirmingProducer) run(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		if err := p.connectAndPublish(ctx); err != nil && ctx.Err() == nil {
			p.logf("producer: %v; reconnecting in %s", err, backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
	}
}

// confirmResult is the broker's answer about one publish.
type confirmResult struct {
	i   int
	ack bool
}

// connectAndPublish publishes on one connection until it closes or ctx is done.
func (p *confirmingProducer) connectAndPublish(ctx context.Context) error {
	conn, err := amqp.DialConfig(p.url, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	if err := ch.ExchangeDeclare(p.exchange, amqp.ExchangeTopic, p.durable, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", p.exchange, err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 4*len(p.msgs)))
	p.mu.Lock()
	p.connections++
	p.mu.Unlock()

	results := make(chan confirmResult, len(p.msgs))
	inFlight := map[int]bool{}
	returnedIDs := map[string]int{} // message id -> returns not yet matched with their confirm
	var waits sync.WaitGroup
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()

	settle := func(r confirmResult) {
		// A return comes before the confirm of its publish, so it is
		// already in returns.
		for drained := false; !drained; {
			select {
			case ret, ok := <-returns:
				if !ok {
					drained = true
					break
				}
				if n, err := bridge.ParseDelivery("nova", p.routingKey, ret.Body); err == nil {
					returnedIDs[n.MessageID]++
				}
			default:
				drained = true
			}
		}
		delete(inFlight, r.i)
		id := p.msgs[r.i].messageID
		p.mu.Lock()
		defer p.mu.Unlock()
		p.pending--
		switch {
		case r.ack && returnedIDs[id] > 0:
			returnedIDs[id]--
			p.returned++
		case r.ack:
			p.confirmed[r.i] = true
		default:
			p.nacked++
		}
	}
	// On the way out, the confirms still pending end with the connection
	// (as nacks); the ones that came before are taken into account, so that
	// a confirmed message is not published again.
	defer func() {
		_ = conn.Close()
		allDone := make(chan struct{})
		go func() {
			waits.Wait()
			close(allDone)
		}()
		for {
			select {
			case r := <-results:
				settle(r)
			case <-allDone:
				for len(results) > 0 {
					settle(<-results)
				}
				return
			}
		}
	}()
	next := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		for i := range p.released {
			if !p.confirmed[i] && !inFlight[i] {
				return i
			}
		}
		return -1
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-closed:
			return fmt.Errorf("connection closed: %v", e)
		case r := <-results:
			settle(r)
			continue
		case <-p.changed:
		case <-pace.C:
		}
		i := next()
		if i < 0 {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		dc, err := ch.PublishWithDeferredConfirmWithContext(pctx, p.exchange, p.routingKey, true, false, amqp.Publishing{
			ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: amqp.Persistent, Body: p.msgs[i].body,
		})
		cancel()
		if err != nil {
			return fmt.Errorf("publish %s: %w", p.msgs[i].messageID, err)
		}
		p.mu.Lock()
		p.publishes[i]++
		p.pending++
		p.mu.Unlock()
		inFlight[i] = true
		waits.Add(1)
		go func() {
			defer waits.Done()
			// A confirm still pending when the connection closes is a nack.
			<-dc.Done()
			results <- confirmResult{i: i, ack: dc.Acked()}
		}()
	}
}
