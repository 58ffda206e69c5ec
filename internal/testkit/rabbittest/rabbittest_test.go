package rabbittest

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TestBrokerRestartKeepsDurableState starts a node, leaves a persistent
// message in a durable queue, restarts the node and finds the message again
// at the same URL.
func TestBrokerRestartKeepsDurableState(t *testing.T) {
	b := Start(t)
	const queue = "rabbittest.durable"

	conn, ch := dial(t, b.URL)
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatalf("declare queue: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatalf("enable publisher confirms: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, amqp.Publishing{
		DeliveryMode: amqp.Persistent,
		Body:         []byte("survives"),
	})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ok, err := dc.WaitContext(ctx); !ok || err != nil {
		t.Fatalf("publish: got confirm %t, %v; want an ack", ok, err)
	}
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))

	b.Restart(t)
	select {
	case e := <-closed:
		t.Logf("connection closed by the stop: %v", e)
	case <-time.After(10 * time.Second):
		t.Error("the connection was not closed when the node stopped")
	}

	_, ch = dial(t, b.URL)
	d, ok, err := ch.Get(queue, true)
	if err != nil || !ok {
		t.Fatalf("get after restart: got ok=%t, err=%v; want the persistent message", ok, err)
	}
	if string(d.Body) != "survives" {
		t.Errorf("got body %q after restart, want %q", d.Body, "survives")
	}
	if out := b.Ctl(t, "list_queues", "--no-table-headers", "name", "messages"); out != queue+"\t0" {
		t.Errorf("rabbitmqctl list_queues: got %q, want %s with 0 messages", out, queue)
	}

	b.Stop(t)
	b.Stop(t) // stopping a stopped node does nothing
	if _, err := amqp.Dial(b.URL); err == nil {
		t.Error("dial after Stop: got a connection, want an error")
	}
}

func dial(t *testing.T, url string) (*amqp.Connection, *amqp.Channel) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("open channel: %v", err)
	}
	return conn, ch
}
