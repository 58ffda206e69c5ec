package bridge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.temporal.io/api/serviceerror"
	"go.uber.org/zap"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/internal/metrics"
)

// Signaller delivers a recover signal to the workflow of a cluster;
// TemporalSignaller is the one the bridge runs with.
type Signaller interface {
	// Signal returns nil once the signal is accepted, an error wrapping
	// healthclient.ErrNotRegistered when the cluster has no running workflow,
	// one wrapping healthclient.ErrInvalid when the signal is refused (the
	// bridge dead-letters the notification), and any other error when it
	// could not tell (the bridge retries those).
	Signal(ctx context.Context, ev Event) error
}

// outcomeLabels are the outcomes the bridge counts, as internal/metrics names
// them.
var outcomeLabels = []metrics.BridgeOutcome{
	metrics.BridgeSignalled, metrics.BridgeNotRegistered, metrics.BridgeIgnored,
	metrics.BridgeMalformed, metrics.BridgeRetried, metrics.BridgeTooOld, metrics.BridgeRefused,
}

// maxUnregisteredLogged bounds the set of clusters already logged as not
// registered; the set starts over when full.
const maxUnregisteredLogged = 1024

// errNotConnected is what Ready says before the first connection.
var errNotConnected = errors.New("bridge: not connected to rabbitmq yet")

// errConnectionLost ends the retries of a delivery whose connection is gone:
// RabbitMQ redelivers it on another.
var errConnectionLost = errors.New("bridge: rabbitmq connection lost")

// Bridge consumes Nova and Heat notifications from RabbitMQ and signals the
// ClusterHealth workflow of the cluster a failed node belongs to.
type Bridge struct {
	cfg       Config
	signaller Signaller
	log       *zap.Logger
	counters  map[metrics.BridgeOutcome]prometheus.Counter

	mu           sync.Mutex
	readyErr     error
	conn         *amqp.Connection
	unregistered map[string]struct{}

	// connections counts the connections that reached consuming; tests wait on it.
	connections atomic.Int64
}

// New returns a bridge; Run starts it. Defaults are applied to cfg. outcomes
// counts deliveries by outcome and must have the single label "outcome"
// (metrics.Metrics.BridgeMessages); nil counts nothing, and a nil logger logs
// nothing.
func New(cfg Config, s Signaller, logger *zap.Logger, outcomes *prometheus.CounterVec) *Bridge {
	if logger == nil {
		logger = zap.NewNop()
	}
	b := &Bridge{
		cfg:          cfg.WithDefaults(),
		signaller:    s,
		log:          logger,
		counters:     make(map[metrics.BridgeOutcome]prometheus.Counter, len(outcomeLabels)),
		readyErr:     errNotConnected,
		unregistered: make(map[string]struct{}),
	}
	if outcomes != nil {
		for _, o := range outcomeLabels {
			c, err := outcomes.GetMetricWithLabelValues(string(o))
			if err != nil {
				logger.Error("bridge outcome counter has the wrong labels; not counting", zap.Error(err))
				clear(b.counters)
				break
			}
			b.counters[o] = c
		}
	}
	return b
}

// Ready returns nil while the bridge is connected and consuming, and why not
// otherwise; it backs /readyz.
func (b *Bridge) Ready() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.readyErr
}

func (b *Bridge) setReady(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.readyErr = err
}

// Run connects, declares the topology and consumes until ctx is done, then
// stops consuming, lets the deliveries in flight finish, requeues the
// prefetched ones and closes. It reconnects by itself, with capped exponential
// backoff, whenever the connection is lost. It returns nil after a shutdown and
// an error only for an invalid configuration.
func (b *Bridge) Run(ctx context.Context) error {
	if err := b.cfg.Validate(); err != nil {
		return fmt.Errorf("bridge config: %w", err)
	}
	b.log.Info("bridge starting",
		zap.String("amqp_url", redactURL(b.cfg.URL)),
		zap.String("nova_exchange", b.cfg.NovaExchange), zap.String("nova_queue", b.cfg.NovaQueue),
		zap.String("heat_exchange", b.cfg.HeatExchange), zap.String("heat_queue", b.cfg.HeatQueue),
		zap.Strings("routing_keys", b.cfg.RoutingKeys))
	bo := doubling(b.cfg.ReconnectBackoffMin, b.cfg.ReconnectBackoffMax)
	// Retry gives up only when ctx is done: consume never returns nil.
	_, _ = backoff.Retry(ctx, func() (struct{}, error) {
		consumed, err := b.consume(ctx)
		if ctx.Err() != nil {
			return struct{}{}, backoff.Permanent(ctx.Err())
		}
		b.setReady(fmt.Errorf("bridge: rabbitmq: %w", err))
		if consumed {
			bo.Reset() // the broker was back: a new outage starts from the shortest wait
		}
		return struct{}{}, err
	}, retryOptions(bo, func(err error, wait time.Duration) {
		b.log.Warn("rabbitmq unavailable, reconnecting", zap.Error(err), zap.Duration("backoff", wait))
	})...)
	b.setReady(errors.New("bridge: stopped"))
	b.log.Info("bridge stopped")
	return nil
}

// doubling is the backoff of the bridge's retries: waits double from lo up to
// hi, without jitter.
func doubling(lo, hi time.Duration) *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: lo, Multiplier: 2, MaxInterval: hi}
}

// retryOptions are the options of the bridge's retries: waits from bo, notify
// before each, and no limit on the total time (the library's default stops
// after 15 minutes), since the bridge waits out an outage of any length.
func retryOptions(bo backoff.BackOff, notify backoff.Notify) []backoff.RetryOption {
	return []backoff.RetryOption{backoff.WithBackOff(bo), backoff.WithNotify(notify), backoff.WithMaxElapsedTime(0)}
}

// consumer is one queue being consumed on a connection.
type consumer struct {
	queue      string
	tag        string
	deliveries <-chan amqp.Delivery
}

// consume runs one connection from dial to loss or shutdown. consumed reports
// whether it got as far as consuming.
func (b *Bridge) consume(ctx context.Context) (consumed bool, err error) {
	conn, err := b.dial(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	b.setConn(conn)
	defer b.setConn(nil)
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))

	if err := b.declare(conn); err != nil {
		return false, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("open consumer channel: %w", err)
	}
	defer ch.Close()
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 2))
	if err := ch.Qos(b.cfg.Prefetch, 0, false); err != nil {
		return false, fmt.Errorf("set prefetch %d: %w", b.cfg.Prefetch, err)
	}
	consumers := make([]consumer, 0, 2)
	for _, q := range []string{b.cfg.NovaQueue, b.cfg.HeatQueue} {
		tag := fmt.Sprintf("%s.%s.%d", b.cfg.ConnectionName, q, b.connections.Load()+1)
		d, err := ch.Consume(q, tag, false, false, false, false, nil)
		if err != nil {
			return false, fmt.Errorf("consume queue %q: %w", q, err)
		}
		consumers = append(consumers, consumer{queue: q, tag: tag, deliveries: d})
	}

	// lost is closed when the connection or the channel goes away, or the
	// server cancels a consumer (its queue was deleted): this connection is
	// over and its unacknowledged deliveries will be redelivered.
	lost := make(chan struct{})
	var lostErr error
	go func() {
		defer close(lost)
		select {
		case e, ok := <-connClosed:
			lostErr = closeReason("connection closed", e, ok)
		case e, ok := <-chClosed:
			lostErr = closeReason("channel closed", e, ok)
		case tag, ok := <-cancelled:
			if ok {
				lostErr = fmt.Errorf("consumer %s cancelled by the server", tag)
			} else {
				lostErr = errors.New("channel closed")
			}
		}
	}()

	b.connections.Add(1)
	b.setReady(nil)
	b.log.Info("bridge consuming", zap.String("nova_queue", b.cfg.NovaQueue), zap.String("heat_queue", b.cfg.HeatQueue),
		zap.Int("prefetch", b.cfg.Prefetch), zap.Int("concurrency", b.cfg.Concurrency))

	var wg sync.WaitGroup
	for _, c := range consumers {
		for range b.cfg.Concurrency {
			wg.Go(func() { b.work(ctx, lost, c) })
		}
	}
	select {
	case <-ctx.Done():
		b.setReady(errors.New("bridge: shutting down"))
		// Stop the flow first; the workers then finish what they hold and
		// requeue what was prefetched, and the deliveries channels close.
		for _, c := range consumers {
			if err := ch.Cancel(c.tag, false); err != nil {
				b.log.Warn("cancel consumer failed", zap.String("queue", c.queue), zap.Error(err))
				_ = ch.Close()
			}
		}
		wg.Wait()
		return true, ctx.Err()
	case <-lost:
		_ = ch.Close()
		wg.Wait()
		return true, lostErr
	}
}

// closeReason describes a NotifyClose event; ok is false when the channel was
// closed without an error (a graceful close).
func closeReason(what string, e *amqp.Error, ok bool) error {
	if ok && e != nil {
		return fmt.Errorf("%s: %w", what, e)
	}
	return errors.New(what)
}

// tlsConfig is the TLS configuration of an amqps:// connection: the server's
// certificate must be signed by a CA of AMQP_CA_FILE, or of the system's
// roots when it is unset (nil RootCAs); amqp091 checks the host name of the
// URL. It is read at each connection, so that a renewed CA file is used on
// the next reconnection.
func (b *Bridge) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if b.cfg.CAFile != "" {
		pool, err := config.LoadCAs(b.cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("AMQP_CA_FILE %q: %w", b.cfg.CAFile, err)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// tlsHint explains a server certificate that did not verify; "" for any other
// error.
func (b *Bridge) tlsHint(err error) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	switch {
	case errors.As(err, &unknown) && b.cfg.CAFile != "":
		return fmt.Sprintf(" (the server's certificate is not signed by a CA of AMQP_CA_FILE %q)", b.cfg.CAFile)
	case errors.As(err, &unknown):
		return " (the server's certificate is not signed by one of the system's roots: set AMQP_CA_FILE to its CA)"
	case errors.As(err, &host):
		return " (the server's certificate is not for the host of AMQP_URL)"
	}
	return ""
}

// dial connects without outliving ctx.
func (b *Bridge) dial(ctx context.Context) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(b.cfg.ConnectionName)
	cfg := amqp.Config{
		Heartbeat:  b.cfg.Heartbeat,
		Properties: props,
		Dial:       amqp.DefaultDial(b.cfg.DialTimeout),
	}
	tlsCfg, err := b.tlsConfig()
	if err != nil {
		return nil, err
	}
	cfg.TLSClientConfig = tlsCfg
	type result struct {
		conn *amqp.Connection
		err  error
	}
	done := make(chan result, 1)
	go func() {
		conn, err := amqp.DialConfig(b.cfg.URL, cfg)
		done <- result{conn, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("connect to %s: %w%s", redactURL(b.cfg.URL), r.err, b.tlsHint(r.err))
		}
		return r.conn, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.conn != nil {
				_ = r.conn.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

func (b *Bridge) setConn(conn *amqp.Connection) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.conn = conn
}

// dropConnection closes the current connection from the client side, as a
// lost connection would; tests use it where they cannot close it from the
// server.
func (b *Bridge) dropConnection() error {
	b.mu.Lock()
	conn := b.conn
	b.mu.Unlock()
	if conn == nil {
		return errors.New("not connected")
	}
	return conn.Close()
}

// declare makes sure the exchanges exist and declares the bridge's own
// queues, bindings and dead-letter exchange.
func (b *Bridge) declare(conn *amqp.Connection) error {
	for _, ex := range []string{b.cfg.NovaExchange, b.cfg.HeatExchange} {
		if err := b.ensureExchange(conn, ex); err != nil {
			return err
		}
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open topology channel: %w", err)
	}
	defer func() {
		if ch != nil {
			_ = ch.Close()
		}
	}()
	if err := ch.ExchangeDeclare(b.cfg.DeadLetterExchange, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare dead-letter exchange %q: %w", b.cfg.DeadLetterExchange, err)
	}
	dlArgs := amqp.Table{"x-max-length": int64(b.cfg.DeadLetterMaxLength), "x-overflow": "drop-head"}
	if ch, err = b.declareQueue(conn, ch, b.cfg.DeadLetterQueue, dlArgs); err != nil {
		return fmt.Errorf("declare dead-letter queue %q: %w", b.cfg.DeadLetterQueue, err)
	}
	if err := ch.QueueBind(b.cfg.DeadLetterQueue, "", b.cfg.DeadLetterExchange, false, nil); err != nil {
		return fmt.Errorf("bind dead-letter queue %q: %w", b.cfg.DeadLetterQueue, err)
	}
	// The oldest beyond the length, and what waited beyond the TTL, are
	// dead-lettered: a bounded queue, whatever the outage.
	args := amqp.Table{"x-dead-letter-exchange": b.cfg.DeadLetterExchange,
		"x-max-length": int64(b.cfg.QueueMaxLength), "x-overflow": "drop-head",
		"x-message-ttl": b.cfg.MessageTTL.Milliseconds()}
	for _, qe := range [][2]string{{b.cfg.NovaQueue, b.cfg.NovaExchange}, {b.cfg.HeatQueue, b.cfg.HeatExchange}} {
		queue, exchange := qe[0], qe[1]
		if ch, err = b.declareQueue(conn, ch, queue, args); err != nil {
			return fmt.Errorf("declare queue %q (durable, dead-lettering to %q): %w", queue, b.cfg.DeadLetterExchange, err)
		}
		for _, key := range b.cfg.RoutingKeys {
			if err := ch.QueueBind(queue, key, exchange, false, nil); err != nil {
				return fmt.Errorf("bind queue %q to exchange %q with key %q: %w", queue, exchange, key, err)
			}
		}
	}
	return nil
}

// declareQueue declares a durable queue with args. A queue declared
// earlier with other arguments (before the bounds existed, or with other
// values) cannot be redeclared (406, which closes the channel): it is used
// as it is, on a new channel, and a warning says how to apply the bounds
// (delete the queue, or set a RabbitMQ policy). The channel to go on with is
// returned.
func (b *Bridge) declareQueue(conn *amqp.Connection, ch *amqp.Channel, name string, args amqp.Table) (*amqp.Channel, error) {
	_, err := ch.QueueDeclare(name, true, false, false, false, args)
	var ae *amqp.Error
	if err == nil || !errors.As(err, &ae) || ae.Code != amqp.PreconditionFailed {
		return ch, err
	}
	ch, cerr := conn.Channel()
	if cerr != nil {
		return nil, fmt.Errorf("reopen the topology channel: %w", cerr)
	}
	if _, perr := ch.QueueDeclarePassive(name, true, false, false, false, nil); perr != nil {
		return nil, errors.Join(err, perr)
	}
	b.log.Warn("queue exists with other arguments: its bounds are not applied; delete it while the bridge is stopped, or apply them with a RabbitMQ policy",
		zap.String("queue", name), zap.Any("arguments", args), zap.String("server", ae.Reason))
	return ch, nil
}

// ensureExchange checks passively that an exchange exists and creates it,
// with oslo.messaging's own arguments, only when it does not. A failed passive
// declaration closes its channel, hence a channel of its own.
func (b *Bridge) ensureExchange(conn *amqp.Connection, name string) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel to check exchange %q: %w", name, err)
	}
	err = ch.ExchangeDeclarePassive(name, amqp.ExchangeTopic, false, false, false, false, nil)
	if err == nil {
		_ = ch.Close()
		return nil
	}
	var aerr *amqp.Error
	if !errors.As(err, &aerr) || aerr.Code != amqp.NotFound {
		_ = ch.Close()
		return fmt.Errorf("check exchange %q: %w", name, err)
	}
	ch, err = conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel to declare exchange %q: %w", name, err)
	}
	defer ch.Close()
	if err := ch.ExchangeDeclare(name, amqp.ExchangeTopic, b.cfg.ExchangeDurable, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %q (topic, durable=%t, as oslo.messaging would): %w", name, b.cfg.ExchangeDurable, err)
	}
	b.log.Info("exchange created; oslo.messaging had not declared it yet",
		zap.String("exchange", name), zap.Bool("durable", b.cfg.ExchangeDurable))
	return nil
}

// work handles the deliveries of one consumer until its channel closes.
func (b *Bridge) work(ctx context.Context, lost <-chan struct{}, c consumer) {
	log := b.log.With(zap.String("queue", c.queue))
	for d := range c.deliveries {
		if ctx.Err() != nil {
			// Shutting down: leave prefetched messages to another consumer.
			if err := d.Nack(false, true); err != nil {
				log.Warn("requeue at shutdown failed; rabbitmq will redeliver", zap.Error(err))
			}
			continue
		}
		b.handle(ctx, lost, log, d)
	}
}

// handle settles one delivery: dead-letter, ignore, or signal and then ack.
func (b *Bridge) handle(ctx context.Context, lost <-chan struct{}, log *zap.Logger, d amqp.Delivery) {
	log = log.With(zap.String("exchange", d.Exchange), zap.String("routing_key", d.RoutingKey))
	n, err := ParseDelivery(d.Exchange, d.RoutingKey, d.Body)
	if err != nil {
		b.deadLetter(log, d, err.Error())
		return
	}
	log = log.With(zap.String("message_id", n.MessageID), zap.String("event_type", n.EventType))
	ev, out := Classify(n)
	switch out.Kind {
	case KindMalformed:
		b.deadLetter(log, d, out.Reason)
	case KindIgnored:
		log.Debug("notification ignored", zap.String("reason", out.Reason))
		b.settle(log, d.Ack(false), "ack")
		b.count(metrics.BridgeIgnored)
	default:
		if at, err := n.Time(); err == nil && b.cfg.MaxEventAge > 0 && time.Since(at) > b.cfg.MaxEventAge {
			log.Info("event too old: dropped, not signalled", zap.String("cluster_id", ev.ClusterID), zap.String("node_id", ev.Signal.NodeID),
				zap.Time("event_time", at), zap.Duration("max_event_age", b.cfg.MaxEventAge))
			b.settle(log, d.Ack(false), "ack")
			b.count(metrics.BridgeTooOld)
			return
		}
		b.signal(ctx, lost, log, d, ev)
	}
}

// deadLetter rejects without requeue, so the queue's dead-letter exchange
// keeps the body for inspection and it is never redelivered in a loop.
func (b *Bridge) deadLetter(log *zap.Logger, d amqp.Delivery, reason string) {
	log.Warn("malformed notification dead-lettered",
		zap.String("reason", reason), zap.Int("body_bytes", len(d.Body)),
		zap.String("dead_letter_exchange", b.cfg.DeadLetterExchange))
	b.settle(log, d.Reject(false), "reject")
	b.count(metrics.BridgeMalformed)
}

// signal sends the event's signal and acknowledges the delivery once it was
// accepted; a signal the client refuses (healthclient.ErrInvalid) is
// dead-lettered. While the signaller fails for another reason than
// healthclient.ErrNotRegistered (Temporal unreachable), it retries the same
// delivery in place with capped exponential backoff, without acknowledging
// it; at shutdown it requeues it, and when the connection is lost RabbitMQ
// redelivers it.
func (b *Bridge) signal(ctx context.Context, lost <-chan struct{}, log *zap.Logger, d amqp.Delivery, ev Event) {
	log = log.With(zap.String("cluster_id", ev.ClusterID), zap.String("node_id", ev.Signal.NodeID),
		zap.String("event", ev.Signal.Event), zap.String("source", ev.Signal.Source), zap.Bool("back", ev.Back))
	// The wait between attempts ends at shutdown and when the connection is
	// lost; the attempts themselves are detached (callSignaller).
	waitCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-lost:
			cancel(errConnectionLost)
		case <-waitCtx.Done():
		}
	}()
	attempt := 0
	_, err := backoff.Retry(waitCtx, func() (struct{}, error) {
		attempt++
		err := b.callSignaller(ctx, ev)
		if err == nil || errors.Is(err, healthclient.ErrNotRegistered) || errors.Is(err, healthclient.ErrInvalid) || refused(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		b.count(metrics.BridgeRetried)
		return struct{}{}, err
	}, retryOptions(doubling(b.cfg.RetryBackoffMin, b.cfg.RetryBackoffMax), func(err error, wait time.Duration) {
		log.Warn("signal failed, retrying", zap.Error(err), zap.Int("attempt", attempt), zap.Duration("backoff", wait))
	})...)
	switch {
	case err == nil:
		b.settle(log, d.Ack(false), "ack")
		b.count(metrics.BridgeSignalled)
		b.forgetUnregistered(ev.ClusterID)
		log.Info("signal sent", zap.Int("attempt", attempt))
	case errors.Is(err, healthclient.ErrInvalid):
		// Classify checks what the client checks, so this is a rule the two
		// disagree on; retrying cannot help, and the body is kept.
		b.deadLetter(log, d, err.Error())
	case refused(err):
		// Retrying a call Temporal refuses for good (the bridge may not
		// signal in this namespace, or the call is malformed) would hold
		// the queue forever; the body is kept for inspection.
		log.Error("Temporal refused the signal for good: dead-lettered", zap.Error(err),
			zap.String("dead_letter_exchange", b.cfg.DeadLetterExchange))
		b.settle(log, d.Reject(false), "reject")
		b.count(metrics.BridgeRefused)
	case errors.Is(err, healthclient.ErrNotRegistered):
		b.settle(log, d.Ack(false), "ack")
		b.count(metrics.BridgeNotRegistered)
		if b.firstUnregistered(ev.ClusterID) {
			log.Info("notification for a cluster that is not registered dropped; later ones are dropped silently", zap.Error(err))
		}
	case errors.Is(err, errConnectionLost):
		log.Warn("rabbitmq connection lost: notification left unacknowledged for redelivery")
	default: // the only other way Retry gives up: ctx is done
		b.settle(log, d.Nack(false, true), "requeue")
		log.Info("shutting down: notification requeued unsignalled")
	}
}

// refused reports an error of Temporal's that no retry can change: the
// credentials may not signal (PermissionDenied), or the call is malformed
// (InvalidArgument).
func refused(err error) bool {
	var pd *serviceerror.PermissionDenied
	var ia *serviceerror.InvalidArgument
	return errors.As(err, &pd) || errors.As(err, &ia)
}

// callSignaller bounds one signal call by SignalTimeout, detached from ctx so
// that a call in flight at shutdown can finish and be acknowledged.
func (b *Bridge) callSignaller(ctx context.Context, ev Event) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.SignalTimeout)
	defer cancel()
	return b.signaller.Signal(ctx, ev)
}

// settle logs a failed ack, nack or reject: the channel is gone and RabbitMQ
// will redeliver the message (a signal sent twice carries the same message ID,
// which the workflow deduplicates).
func (b *Bridge) settle(log *zap.Logger, err error, op string) {
	if err != nil {
		log.Warn(op+" failed; rabbitmq will redeliver", zap.Error(err))
	}
}

func (b *Bridge) count(outcome metrics.BridgeOutcome) {
	if c := b.counters[outcome]; c != nil {
		c.Inc()
	}
}

// firstUnregistered reports whether the cluster was not yet logged as not
// registered, and remembers it.
func (b *Bridge) firstUnregistered(clusterID string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, seen := b.unregistered[clusterID]; seen {
		return false
	}
	if len(b.unregistered) >= maxUnregisteredLogged {
		clear(b.unregistered)
	}
	b.unregistered[clusterID] = struct{}{}
	return true
}

// forgetUnregistered lets a cluster that is registered again be logged the
// next time it is not.
func (b *Bridge) forgetUnregistered(clusterID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.unregistered, clusterID)
}

// redactURL hides the password of an AMQP URL for logs and errors.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return strings.TrimSpace(u.Redacted())
}
