package engine

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"

	"github.com/clusterhealth/healthd/internal/health"
)

// Backoff of the store calls an executor repeats while the database does not
// answer: from storeRetryMin, doubling, up to storeRetryMax, so that the call
// goes through within about a second of the database coming back.
const (
	storeRetryMin = 100 * time.Millisecond
	storeRetryMax = time.Second
)

// retryStore calls op until it succeeds, fails for good, ctx ends or until
// passes (a zero until: only ctx bounds it), and returns op's last error, or
// ctx's cause when that is a lost claim. op fails for good when the action,
// its node or its cluster does not exist (health.ErrNotFound) or the claim
// is lost (health.ErrLeaseLost): repeating cannot change either. Every other
// error is taken for the database being unreachable for a while, as during a
// restart; the first one is logged. Each call of op gets ctx bounded by until.
func retryStore(ctx context.Context, until time.Time, log *zap.Logger, what string, op func(context.Context) error) error {
	if !until.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, until)
		defer cancel()
	}
	warned := false
	var last error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := op(ctx)
		last = err
		if errors.Is(err, health.ErrNotFound) || errors.Is(err, health.ErrLeaseLost) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval: storeRetryMin, Multiplier: 2, MaxInterval: storeRetryMax, RandomizationFactor: 0.2,
		}),
		backoff.WithMaxElapsedTime(0), // ctx bounds it
		backoff.WithNotify(func(err error, _ time.Duration) {
			if !warned {
				warned = true
				log.Warn("cannot "+what+"; trying again while the claim holds", zap.Error(err))
			}
		}))
	if err != nil && last != nil && !errors.Is(err, health.ErrLeaseLost) {
		return last // what the database said, rather than that time ran out
	}
	return err
}

// readStore is retryStore for a read that returns a value.
func readStore[T any](ctx context.Context, until time.Time, log *zap.Logger, what string, read func(context.Context) (T, error)) (T, error) {
	var v T
	err := retryStore(ctx, until, log, what, func(c context.Context) (err error) {
		v, err = read(c)
		return err
	})
	return v, err
}
