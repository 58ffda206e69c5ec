package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// NotifyChannel is the channel the actions trigger notifies, with the action
// id as payload, on every insert and every status change. Engines that do not
// use this package can LISTEN on it too.
const NotifyChannel = "health_actions"

// Reconnect backoff of the Watcher: it doubles from minBackoff up to
// maxBackoff, with jitter, and starts over after a connection that listened.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// reconnectBackOff waits the step plus up to half of it again, so that many
// watchers cut off by one database restart do not reconnect in step. The
// library spreads a wait evenly around its step: ±20% around 1.25 steps is
// that range.
func reconnectBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     minBackoff * 5 / 4,
		MaxInterval:         maxBackoff * 5 / 4,
		Multiplier:          2,
		RandomizationFactor: 0.2,
	}
}

// Watcher wakes subscribers when an action may have changed. Run holds one
// dedicated connection that LISTENs on NotifyChannel and dispatches each
// notification to the subscribers of its action; Watch subscribes.
//
// Wakes are hints, not messages: several may collapse into one, and a wake
// comes on every (re)connect because notifications sent while the connection
// was down are lost. A subscriber re-reads the action after each wake.
type Watcher struct {
	// OnError, when set, receives every error that broke or prevented the
	// listening connection, before Run retries; Run calls it from its own
	// goroutine. The store never logs: this is where the caller may.
	OnError func(error)

	pool    *pgxpool.Pool
	running atomic.Bool

	mu   sync.Mutex
	subs map[string]map[*subscription]struct{} // by action id; "" is every action
}

type subscription struct {
	ch chan struct{}
}

// wake sends without blocking: a pending wake already says "look again".
func (s *subscription) wake() {
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

// NewWatcher returns a Watcher that listens through a connection taken from
// pool. Call Run to start it.
func NewWatcher(pool *pgxpool.Pool) *Watcher {
	return &Watcher{pool: pool, subs: make(map[string]map[*subscription]struct{})}
}

// Watch returns a channel that receives (buffered, one pending wake at most)
// whenever the action may have changed, and a function that ends the watch.
// Watch("") receives for every action, for example to wake an executor when a
// new READY action is inserted. The channel is never closed.
func (w *Watcher) Watch(actionID string) (<-chan struct{}, func()) {
	sub := &subscription{ch: make(chan struct{}, 1)}
	w.mu.Lock()
	set := w.subs[actionID]
	if set == nil {
		set = make(map[*subscription]struct{})
		w.subs[actionID] = set
	}
	set[sub] = struct{}{}
	w.mu.Unlock()

	var once sync.Once
	stop := func() {
		once.Do(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			delete(w.subs[actionID], sub)
			if len(w.subs[actionID]) == 0 {
				delete(w.subs, actionID)
			}
		})
	}
	return sub.ch, stop
}

// Run listens until ctx ends, then returns nil. When the connection breaks or
// cannot be made it reports the error to OnError and reconnects with capped
// exponential backoff; after every successful LISTEN it wakes every
// subscriber, since notifications sent while it was down are lost. Only one
// Run may be active per Watcher.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("store: watch actions: already running")
	}
	defer w.running.Store(false)

	bo := reconnectBackOff()
	// Retry gives up only when ctx is done (listen never returns nil), and
	// never on elapsed time: the library's default stops after 15 minutes.
	_, _ = backoff.Retry(ctx, func() (struct{}, error) {
		listened, err := w.listen(ctx)
		if ctx.Err() != nil {
			return struct{}{}, backoff.Permanent(ctx.Err())
		}
		if listened {
			bo.Reset()
		}
		err = fmt.Errorf("store: watch actions: %w", err)
		if w.OnError != nil {
			w.OnError(err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(bo), backoff.WithMaxElapsedTime(0))
	return nil
}

// listen runs one connection: LISTEN, wake everyone, then dispatch until the
// connection or ctx fails. It reports whether LISTEN succeeded.
func (w *Watcher) listen(ctx context.Context) (bool, error) {
	pc, err := w.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("acquire connection: %w", err)
	}
	// The connection leaves the pool for good: it is busy for as long as it
	// listens, and after a failure it must not be reused.
	conn := pc.Hijack()
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()

	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	w.wakeAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, fmt.Errorf("wait for notification: %w", err)
		}
		w.dispatch(n.Payload)
	}
}

// dispatch wakes the subscribers of one action and those of every action.
func (w *Watcher) dispatch(actionID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for sub := range w.subs[actionID] {
		sub.wake()
	}
	if actionID == "" {
		return
	}
	for sub := range w.subs[""] {
		sub.wake()
	}
}

func (w *Watcher) wakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, set := range w.subs {
		for sub := range set {
			sub.wake()
		}
	}
}
