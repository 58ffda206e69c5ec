package store_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/store/storetest"
)

var rebootParams = health.RecoverParams{
	Operation:       health.OpReboot,
	OperationParams: map[string]any{"type": "SOFT"},
	DeleteTimeout:   20,
	ForceRecreate:   true,
}

func createAction(t *testing.T, s *store.Store, key string) health.Action {
	t.Helper()
	a, created, err := s.CreateRecoverAction(testContext(t), key, "c1", "n-"+key, rebootParams)
	if err != nil {
		t.Fatalf("CreateRecoverAction(%q): %v", key, err)
	}
	if !created {
		t.Fatalf("CreateRecoverAction(%q): got created false, want true", key)
	}
	return a
}

// setActionStatus moves an action behind the store's back, to set up a case.
func setActionStatus(t *testing.T, s *store.Store, id string, status health.ActionStatus) {
	t.Helper()
	if _, err := s.Pool().Exec(testContext(t), `UPDATE actions SET status = $2 WHERE id = $1`, id, string(status)); err != nil {
		t.Fatalf("set status of action %s: %v", id, err)
	}
}

func countActions(t *testing.T, s *store.Store) int {
	t.Helper()
	var n int
	if err := s.Pool().QueryRow(testContext(t), `SELECT count(*) FROM actions`).Scan(&n); err != nil {
		t.Fatalf("count actions: %v", err)
	}
	return n
}

func TestCreateRecoverActionIsIdempotent(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	before := time.Now()

	first, created, err := s.CreateRecoverAction(ctx, "c1/n1/1", "c1", "n1", rebootParams)
	if err != nil || !created {
		t.Fatalf("first CreateRecoverAction: got created %v err %v, want true nil", created, err)
	}
	if first.ID == "" || first.IdempotencyKey != "c1/n1/1" || first.ClusterID != "c1" || first.NodeID != "n1" ||
		first.Action != health.ActionNodeRecover || first.Status != health.ActionReady || first.Reason != "" {
		t.Errorf("first action: got %+v, want a READY NODE_RECOVER of c1/n1 with key c1/n1/1", first)
	}
	if !reflect.DeepEqual(first.Params, rebootParams) {
		t.Errorf("params: got %+v, want %+v", first.Params, rebootParams)
	}
	if !about(first.CreatedAt, before) || !about(first.UpdatedAt, before) {
		t.Errorf("timestamps: got created %v updated %v, want about %v", first.CreatedAt, first.UpdatedAt, before)
	}

	// Another call with the key, even with other params, returns the first action.
	second, created, err := s.CreateRecoverAction(ctx, "c1/n1/1", "c1", "n1", health.RecoverParams{Operation: health.OpRebuild})
	if err != nil || created {
		t.Fatalf("second CreateRecoverAction: got created %v err %v, want false nil", created, err)
	}
	if !reflect.DeepEqual(second, first) {
		t.Errorf("second action: got %+v, want the first %+v", second, first)
	}
	got, err := s.GetAction(ctx, first.ID)
	if err != nil {
		t.Fatalf("GetAction: %v", err)
	}
	if !reflect.DeepEqual(got, first) {
		t.Errorf("GetAction: got %+v, want %+v", got, first)
	}
	if n := countActions(t, s); n != 1 {
		t.Errorf("rows: got %d, want 1", n)
	}

	if _, _, err := s.CreateRecoverAction(ctx, "", "c1", "n1", rebootParams); err == nil {
		t.Error("CreateRecoverAction with empty key: got nil error, want one")
	}
}

// Concurrent requests for one node create one action, and every caller gets
// it: with one idempotency key (a retried request), and with a key each (an
// earlier incident's recovery still active).
func TestCreateRecoverActionConcurrently(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  func(i int) string
	}{
		{"one key", func(int) string { return "c1/n1/7" }},
		{"a key each", func(i int) string { return fmt.Sprintf("c1/e/n1/%d", i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := storetest.New(t)
			const callers = 16
			var (
				wg      sync.WaitGroup
				start   = make(chan struct{})
				ids     = make([]string, callers)
				created = make([]bool, callers)
				errs    = make([]error, callers)
			)
			for i := range callers {
				wg.Go(func() {
					<-start
					a, c, err := s.CreateRecoverAction(testContext(t), tc.key(i), "c1", "n1", rebootParams)
					ids[i], created[i], errs[i] = a.ID, c, err
				})
			}
			close(start)
			wg.Wait()

			createdCount := 0
			for i := range callers {
				if errs[i] != nil {
					t.Fatalf("caller %d: %v", i, errs[i])
				}
				if ids[i] != ids[0] {
					t.Errorf("caller %d: got action %s, want %s like caller 0", i, ids[i], ids[0])
				}
				if created[i] {
					createdCount++
				}
			}
			if createdCount != 1 {
				t.Errorf("callers told created: got %d, want 1", createdCount)
			}
			if n := countActions(t, s); n != 1 {
				t.Errorf("rows: got %d, want 1", n)
			}
		})
	}
}

func TestListActionsNewestFirst(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	var want []string
	for i := range 3 {
		a := createAction(t, s, fmt.Sprintf("k%d", i))
		want = append([]string{a.ID}, want...)
	}
	if _, _, err := s.CreateRecoverAction(ctx, "other", "c2", "n9", rebootParams); err != nil {
		t.Fatalf("CreateRecoverAction: %v", err)
	}

	actions, err := s.ListActions(ctx, "c1")
	if err != nil {
		t.Fatalf("ListActions: %v", err)
	}
	var got []string
	for _, a := range actions {
		got = append(got, a.ID)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListActions(c1): got %v, want %v", got, want)
	}
}

func claimedBy(t *testing.T, s *store.Store, id string) string {
	t.Helper()
	var w *string
	if err := s.Pool().QueryRow(testContext(t), `SELECT claimed_by FROM actions WHERE id = $1`, id).Scan(&w); err != nil {
		t.Fatalf("read claimed_by of %s: %v", id, err)
	}
	if w == nil {
		return ""
	}
	return *w
}

func TestClaimReadyActionTakesOldestFirst(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	if _, ok, err := s.ClaimReadyAction(ctx, "w1", time.Minute); err != nil || ok {
		t.Fatalf("ClaimReadyAction on no actions: got ok %v err %v, want false nil", ok, err)
	}
	a1 := createAction(t, s, "k1")
	done := createAction(t, s, "k2")
	setActionStatus(t, s, done.ID, health.ActionSucceeded)
	a3 := createAction(t, s, "k3")

	for _, want := range []health.Action{a1, a3} {
		got, ok, err := s.ClaimReadyAction(ctx, "w1", time.Minute)
		if err != nil || !ok {
			t.Fatalf("ClaimReadyAction: got ok %v err %v, want true nil", ok, err)
		}
		if got.ID != want.ID || got.Status != health.ActionRunning {
			t.Errorf("ClaimReadyAction: got %s %s, want %s RUNNING", got.ID, got.Status, want.ID)
		}
		if w := claimedBy(t, s, got.ID); w != "w1" || got.ClaimedBy != "w1" {
			t.Errorf("claimed_by: got %q (returned %q), want %q", w, got.ClaimedBy, "w1")
		}
		if got.Attempts != 1 || got.AbandonedBy != "" {
			t.Errorf("first claim: got attempts %d abandoned by %q, want 1 and none", got.Attempts, got.AbandonedBy)
		}
		if !about(got.LeaseUntil, time.Now().Add(time.Minute)) {
			t.Errorf("lease_until: got %v, want about a minute from now", got.LeaseUntil)
		}
	}
	if got, ok, err := s.ClaimReadyAction(ctx, "w1", time.Minute); err != nil || ok {
		t.Errorf("ClaimReadyAction with none READY: got %s ok %v err %v, want false nil", got.ID, ok, err)
	}
	if _, _, err := s.ClaimReadyAction(ctx, "", time.Minute); err == nil {
		t.Error("ClaimReadyAction with empty worker: got nil error, want one")
	}
	for _, lease := range []time.Duration{0, -time.Second} {
		if _, _, err := s.ClaimReadyAction(ctx, "w1", lease); err == nil {
			t.Errorf("ClaimReadyAction with lease %v: got nil error, want one", lease)
		}
	}
}

func TestClaimReadyActionSkipsLockedRows(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	a1 := createAction(t, s, "k1")
	a2 := createAction(t, s, "k2")

	// Another executor is in the middle of claiming a1.
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	if _, err := tx.Exec(ctx, `SELECT id FROM actions WHERE id = $1 FOR UPDATE`, a1.ID); err != nil {
		t.Fatalf("lock a1: %v", err)
	}

	// Without SKIP LOCKED this would wait for the transaction until the deadline.
	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, ok, err := s.ClaimReadyAction(quick, "w2", time.Minute)
	if err != nil || !ok || got.ID != a2.ID {
		t.Fatalf("ClaimReadyAction beside a locked row: got %s ok %v err %v, want %s true nil", got.ID, ok, err, a2.ID)
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	got, ok, err = s.ClaimReadyAction(ctx, "w1", time.Minute)
	if err != nil || !ok || got.ID != a1.ID {
		t.Fatalf("ClaimReadyAction after unlock: got %s ok %v err %v, want %s true nil", got.ID, ok, err, a1.ID)
	}
}

// TestClaimReadyActionConcurrentClaimersGetDistinctActions: READY actions and
// RUNNING ones whose lease expired, claimed by several executors at once, are
// each claimed exactly once.
func TestClaimReadyActionConcurrentClaimersGetDistinctActions(t *testing.T) {
	s := storetest.New(t)
	const actions = 40
	abandoned := map[string]bool{}
	var all []health.Action
	for i := range actions {
		all = append(all, createAction(t, s, fmt.Sprintf("k%d", i)))
	}
	// An executor that died had claimed the older half.
	for _, a := range all[:actions/2] {
		claimAs(t, s, a.ID, "dead", time.Minute)
		abandoned[a.ID] = true
	}
	for id := range abandoned {
		expireLease(t, s, id)
	}

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		start   = make(chan struct{})
		claimed = make(map[string]health.Action) // by id
		errs    []error
	)
	for _, worker := range []string{"w1", "w2", "w3", "w4"} {
		wg.Go(func() {
			<-start
			for {
				a, ok, err := s.ClaimReadyAction(testContext(t), worker, time.Minute)
				mu.Lock()
				switch {
				case err != nil:
					errs = append(errs, err)
				case ok:
					if prev, dup := claimed[a.ID]; dup {
						errs = append(errs, fmt.Errorf("action %s claimed by %s and %s", a.ID, prev.ClaimedBy, worker))
					}
					claimed[a.ID] = a
				}
				mu.Unlock()
				if err != nil || !ok {
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if len(claimed) != actions {
		t.Errorf("claimed actions: got %d, want %d", len(claimed), actions)
	}
	for id, a := range claimed {
		want := health.Action{Attempts: 1}
		if abandoned[id] {
			want = health.Action{Attempts: 2, AbandonedBy: "dead"}
		}
		if a.Attempts != want.Attempts || a.AbandonedBy != want.AbandonedBy || a.Status != health.ActionRunning {
			t.Errorf("action %s: got %s attempts %d abandoned by %q, want RUNNING attempts %d abandoned by %q",
				id, a.Status, a.Attempts, a.AbandonedBy, want.Attempts, want.AbandonedBy)
		}
	}
}

// claimAs claims the action with the given id (it must be the oldest
// claimable one) on behalf of worker.
func claimAs(t *testing.T, s *store.Store, id, worker string, lease time.Duration) health.Action {
	t.Helper()
	a, ok, err := s.ClaimReadyAction(testContext(t), worker, lease)
	if err != nil || !ok || a.ID != id {
		t.Fatalf("ClaimReadyAction(%s): got %s ok %v err %v, want %s true nil", worker, a.ID, ok, err, id)
	}
	return a
}

// expireLease ends the lease of a claim behind the store's back, as if its
// executor had stopped renewing it a while ago.
func expireLease(t *testing.T, s *store.Store, id string) {
	t.Helper()
	if _, err := s.Pool().Exec(testContext(t),
		`UPDATE actions SET lease_until = now() - interval '1 second' WHERE id = $1`, id); err != nil {
		t.Fatalf("expire lease of action %s: %v", id, err)
	}
}

func TestClaimReadyActionReclaimsExpiredLease(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	a := createAction(t, s, "k1")

	// An executor claims the action for a short lease, then dies.
	before := time.Now()
	const lease = 200 * time.Millisecond
	dead := claimAs(t, s, a.ID, "dead/0", lease)
	if dead.Attempts != 1 || !dead.LeaseUntil.After(dead.UpdatedAt) {
		t.Errorf("first claim: got attempts %d lease until %v (updated %v), want 1 and a lease after the claim",
			dead.Attempts, dead.LeaseUntil, dead.UpdatedAt)
	}
	// While the lease lasts nobody else gets the action.
	if got, ok, err := s.ClaimReadyAction(ctx, "w2", time.Minute); err != nil || ok {
		t.Fatalf("ClaimReadyAction under a live lease: got %s ok %v err %v, want false nil", got.ID, ok, err)
	}

	var got health.Action
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var ok bool
		var err error
		got, ok, err = s.ClaimReadyAction(ctx, "w2", time.Minute)
		require.NoError(c, err, "ClaimReadyAction")
		assert.True(c, ok, "action not reclaimed %v after a %v lease", time.Since(before), lease)
	}, 20*time.Second, 20*time.Millisecond)
	if took := time.Since(before); took < lease {
		t.Errorf("reclaimed after %v, want not before the %v lease ended", took, lease)
	}
	if got.ID != a.ID || got.Status != health.ActionRunning || got.ClaimedBy != "w2" ||
		got.Attempts != 2 || got.AbandonedBy != "dead/0" {
		t.Errorf("reclaimed action: got %s %s claimed by %q attempts %d abandoned by %q, want %s RUNNING w2 2 dead/0",
			got.ID, got.Status, got.ClaimedBy, got.Attempts, got.AbandonedBy, a.ID)
	}
	if !about(got.LeaseUntil, time.Now().Add(time.Minute)) {
		t.Errorf("new lease: got until %v, want about a minute from now", got.LeaseUntil)
	}
	stored, err := s.GetAction(ctx, a.ID)
	if err != nil {
		t.Fatalf("GetAction: %v", err)
	}
	if !reflect.DeepEqual(stored, got) {
		t.Errorf("GetAction after reclaim: got %+v, want %+v", stored, got)
	}
}

// Expired claims and READY actions are taken oldest first; live claims and
// finished actions are never taken.
func TestClaimReadyActionKeepsLiveLeases(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	live := createAction(t, s, "live")
	claimAs(t, s, live.ID, "w1", time.Minute)
	expired := createAction(t, s, "expired")
	claimAs(t, s, expired.ID, "dead", time.Minute)
	finished := createAction(t, s, "finished")
	claimAs(t, s, finished.ID, "w1", time.Minute)
	if err := s.FinishClaimedAction(ctx, finished.ID, "w1", health.ActionSucceeded, "done"); err != nil {
		t.Fatalf("FinishClaimedAction: %v", err)
	}
	expireLease(t, s, finished.ID)
	expireLease(t, s, expired.ID)
	ready := createAction(t, s, "ready")

	for _, want := range []health.Action{expired, ready} {
		got, ok, err := s.ClaimReadyAction(ctx, "w2", time.Minute)
		if err != nil || !ok || got.ID != want.ID {
			t.Fatalf("ClaimReadyAction: got %s ok %v err %v, want %s (%s) true nil", got.ID, ok, err, want.ID, want.IdempotencyKey)
		}
	}
	if got, ok, err := s.ClaimReadyAction(ctx, "w2", time.Minute); err != nil || ok {
		t.Errorf("ClaimReadyAction with only a live claim left: got %s ok %v err %v, want false nil", got.ID, ok, err)
	}
	if w := claimedBy(t, s, live.ID); w != "w1" {
		t.Errorf("live claim: got claimed by %q, want w1", w)
	}
}

func TestRenewLease(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	a := createAction(t, s, "k1")
	claimed := claimAs(t, s, a.ID, "w1", time.Second)

	// The owner extends its lease, even one that expired without a reclaim.
	expireLease(t, s, a.ID)
	if err := s.RenewLease(ctx, a.ID, "w1", time.Hour); err != nil {
		t.Fatalf("RenewLease by the owner: %v", err)
	}
	got, err := s.GetAction(ctx, a.ID)
	if err != nil {
		t.Fatalf("GetAction: %v", err)
	}
	if !about(got.LeaseUntil, time.Now().Add(time.Hour)) || got.Status != health.ActionRunning ||
		got.ClaimedBy != "w1" || got.Attempts != 1 || !got.UpdatedAt.Equal(claimed.UpdatedAt) {
		t.Errorf("after renewal: got %+v, want RUNNING by w1, 1 attempt, updated_at %v, lease about an hour from now",
			got, claimed.UpdatedAt)
	}

	// Others cannot renew it; they change nothing.
	for _, worker := range []string{"w2", ""} {
		err := s.RenewLease(ctx, a.ID, worker, time.Minute)
		if !errors.Is(err, health.ErrLeaseLost) {
			t.Errorf("RenewLease by %q: got %v, want one wrapping ErrLeaseLost", worker, err)
		}
	}
	if after, _ := s.GetAction(ctx, a.ID); !after.LeaseUntil.Equal(got.LeaseUntil) {
		t.Errorf("refused renewals moved the lease from %v to %v", got.LeaseUntil, after.LeaseUntil)
	}

	// Reclaimed by another executor: the former owner has lost it.
	expireLease(t, s, a.ID)
	claimAs(t, s, a.ID, "w2", time.Minute)
	if err := s.RenewLease(ctx, a.ID, "w1", time.Minute); !errors.Is(err, health.ErrLeaseLost) {
		t.Errorf("RenewLease after a reclaim: got %v, want one wrapping ErrLeaseLost", err)
	}
	if err := s.RenewLease(ctx, a.ID, "w2", time.Minute); err != nil {
		t.Errorf("RenewLease by the new owner: %v", err)
	}

	// Finished: nobody holds it any more.
	if err := s.FinishClaimedAction(ctx, a.ID, "w2", health.ActionSucceeded, "done"); err != nil {
		t.Fatalf("FinishClaimedAction: %v", err)
	}
	err = s.RenewLease(ctx, a.ID, "w2", time.Minute)
	if !errors.Is(err, health.ErrLeaseLost) || !errors.Is(err, store.ErrActionFinished) {
		t.Errorf("RenewLease after finish: got %v, want one wrapping ErrLeaseLost and ErrActionFinished", err)
	}

	// Never claimed.
	ready := createAction(t, s, "k2")
	if err := s.RenewLease(ctx, ready.ID, "w1", time.Minute); !errors.Is(err, health.ErrLeaseLost) {
		t.Errorf("RenewLease of a READY action: got %v, want one wrapping ErrLeaseLost", err)
	}
	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid"} {
		if err := s.RenewLease(ctx, id, "w1", time.Minute); !errors.Is(err, health.ErrNotFound) {
			t.Errorf("RenewLease(%q): got %v, want one wrapping ErrNotFound", id, err)
		}
	}
	if err := s.RenewLease(ctx, ready.ID, "w1", 0); err == nil || errors.Is(err, health.ErrLeaseLost) {
		t.Errorf("RenewLease with a zero lease: got %v, want a validation error", err)
	}
}

// A renewal racing a reclaim of an expired lease: exactly one of them wins.
func TestRenewLeaseRacingReclaim(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	for i := range 20 {
		a := createAction(t, s, fmt.Sprintf("k%d", i))
		claimAs(t, s, a.ID, "w1", time.Minute)
		expireLease(t, s, a.ID)

		var (
			wg       sync.WaitGroup
			start    = make(chan struct{})
			renewErr error
			claimed  health.Action
			ok       bool
			claimErr error
		)
		wg.Go(func() {
			<-start
			renewErr = s.RenewLease(ctx, a.ID, "w1", time.Minute)
		})
		wg.Go(func() {
			<-start
			claimed, ok, claimErr = s.ClaimReadyAction(ctx, "w2", time.Minute)
		})
		close(start)
		wg.Wait()
		if claimErr != nil || (renewErr != nil && !errors.Is(renewErr, health.ErrLeaseLost)) {
			t.Fatalf("round %d: renew %v, claim %v", i, renewErr, claimErr)
		}
		renewed := renewErr == nil
		if renewed == ok {
			t.Fatalf("round %d: got renewed %v and reclaimed %v (%s), want exactly one", i, renewed, ok, claimed.ID)
		}
		want := "w1"
		if ok {
			want = "w2"
		}
		if w := claimedBy(t, s, a.ID); w != want {
			t.Fatalf("round %d: claimed by %q, want %q", i, w, want)
		}
		if err := s.FinishAction(ctx, a.ID, health.ActionSucceeded, "done"); err != nil {
			t.Fatalf("round %d: FinishAction: %v", i, err)
		}
	}
}

func TestFinishClaimedAction(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	a := createAction(t, s, "k1")
	claimAs(t, s, a.ID, "w1", time.Minute)
	expireLease(t, s, a.ID)
	claimAs(t, s, a.ID, "w2", time.Minute)

	// The executor that lost the action cannot finish it.
	err := s.FinishClaimedAction(ctx, a.ID, "w1", health.ActionFailed, "stale")
	if !errors.Is(err, health.ErrLeaseLost) || errors.Is(err, store.ErrActionFinished) {
		t.Errorf("FinishClaimedAction by the former owner: got %v, want one wrapping ErrLeaseLost only", err)
	}
	if err := s.FinishClaimedAction(ctx, a.ID, "w2", health.ActionRunning, "not terminal"); err == nil ||
		errors.Is(err, health.ErrLeaseLost) {
		t.Errorf("FinishClaimedAction to RUNNING: got %v, want a validation error", err)
	}
	if got, _ := s.GetAction(ctx, a.ID); got.Status != health.ActionRunning || got.Reason != "" {
		t.Errorf("refused finishes changed the action: got %s %q, want RUNNING without reason", got.Status, got.Reason)
	}

	before := time.Now()
	if err := s.FinishClaimedAction(ctx, a.ID, "w2", health.ActionSucceeded, "recovered"); err != nil {
		t.Fatalf("FinishClaimedAction by the owner: %v", err)
	}
	got, err := s.GetAction(ctx, a.ID)
	if err != nil {
		t.Fatalf("GetAction: %v", err)
	}
	if got.Status != health.ActionSucceeded || got.Reason != "recovered" || !about(got.UpdatedAt, before) {
		t.Errorf("finished action: got %s %q updated %v, want SUCCEEDED %q about %v", got.Status, got.Reason, got.UpdatedAt, "recovered", before)
	}
	err = s.FinishClaimedAction(ctx, a.ID, "w2", health.ActionFailed, "again")
	if !errors.Is(err, store.ErrActionFinished) || !errors.Is(err, health.ErrLeaseLost) {
		t.Errorf("second FinishClaimedAction: got %v, want one wrapping ErrActionFinished and ErrLeaseLost", err)
	}
	ready := createAction(t, s, "k2")
	if err := s.FinishClaimedAction(ctx, ready.ID, "w1", health.ActionSucceeded, "x"); !errors.Is(err, health.ErrLeaseLost) {
		t.Errorf("FinishClaimedAction of a READY action: got %v, want one wrapping ErrLeaseLost", err)
	}
	if err := s.FinishClaimedAction(ctx, "00000000-0000-0000-0000-000000000000", "w1", health.ActionSucceeded, "x"); !errors.Is(err, health.ErrNotFound) {
		t.Errorf("FinishClaimedAction of a missing action: got %v, want one wrapping ErrNotFound", err)
	}
}

func TestFinishAction(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	tests := []struct {
		name       string
		from       health.ActionStatus
		to         health.ActionStatus
		wantErr    error // nil, ErrActionFinished, or errInvalid for any other error
		wantStatus health.ActionStatus
	}{
		{"ready to cancelled", health.ActionReady, health.ActionCancelled, nil, health.ActionCancelled},
		{"running to succeeded", health.ActionRunning, health.ActionSucceeded, nil, health.ActionSucceeded},
		{"running to failed", health.ActionRunning, health.ActionFailed, nil, health.ActionFailed},
		{"succeeded to failed", health.ActionSucceeded, health.ActionFailed, store.ErrActionFinished, health.ActionSucceeded},
		{"failed to succeeded", health.ActionFailed, health.ActionSucceeded, store.ErrActionFinished, health.ActionFailed},
		{"cancelled to cancelled", health.ActionCancelled, health.ActionCancelled, store.ErrActionFinished, health.ActionCancelled},
		{"running to running", health.ActionRunning, health.ActionRunning, errInvalid, health.ActionRunning},
		{"running to ready", health.ActionRunning, health.ActionReady, errInvalid, health.ActionRunning},
		{"unknown status", health.ActionRunning, "DONE", errInvalid, health.ActionRunning},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := createAction(t, s, fmt.Sprintf("finish-%d", i))
			setActionStatus(t, s, a.ID, tt.from)
			before := time.Now()

			err := s.FinishAction(ctx, a.ID, tt.to, "because "+tt.name)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("FinishAction: got %v, want nil", err)
			case tt.wantErr == errInvalid && (err == nil || errors.Is(err, store.ErrActionFinished) || errors.Is(err, health.ErrNotFound)):
				t.Fatalf("FinishAction: got %v, want a validation error", err)
			case tt.wantErr != nil && tt.wantErr != errInvalid && !errors.Is(err, tt.wantErr):
				t.Fatalf("FinishAction: got %v, want one wrapping %v", err, tt.wantErr)
			}

			got, err := s.GetAction(ctx, a.ID)
			if err != nil {
				t.Fatalf("GetAction: %v", err)
			}
			if got.Status != tt.wantStatus {
				t.Errorf("status: got %s, want %s", got.Status, tt.wantStatus)
			}
			var finished *time.Time
			if err := s.Pool().QueryRow(ctx, `SELECT finished_at FROM actions WHERE id = $1`, a.ID).Scan(&finished); err != nil {
				t.Fatalf("read finished_at: %v", err)
			}
			if tt.wantErr == nil {
				if got.Reason != "because "+tt.name {
					t.Errorf("reason: got %q, want %q", got.Reason, "because "+tt.name)
				}
				if !about(got.UpdatedAt, before) || finished == nil || !about(*finished, before) {
					t.Errorf("timestamps: got updated %v finished %v, want both about %v", got.UpdatedAt, finished, before)
				}
			} else if got.Reason != "" || finished != nil {
				t.Errorf("refused finish changed the row: reason %q finished %v", got.Reason, finished)
			}
		})
	}
}

// errInvalid marks test cases that expect an input validation error.
var errInvalid = errors.New("invalid input")

func TestNextLeaseExpiry(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	long := createAction(t, s, "long")
	if d, ok, err := s.NextLeaseExpiry(ctx); err != nil || ok {
		t.Fatalf("with nothing RUNNING: got %s ok %v err %v, want ok false", d, ok, err)
	}
	claimAs(t, s, long.ID, "w1", time.Hour)
	short := createAction(t, s, "short")
	claimAs(t, s, short.ID, "w2", 30*time.Second)
	createAction(t, s, "ready")
	d, ok, err := s.NextLeaseExpiry(ctx)
	if err != nil || !ok || d <= 25*time.Second || d > 30*time.Second {
		t.Fatalf("with leases of 1h and 30s: got %s ok %v err %v, want just under 30s", d, ok, err)
	}
	expireLease(t, s, short.ID)
	if d, ok, err := s.NextLeaseExpiry(ctx); err != nil || !ok || d >= 0 {
		t.Errorf("with an expired lease: got %s ok %v err %v, want a negative duration", d, ok, err)
	}
	if err := s.FinishAction(ctx, short.ID, health.ActionFailed, "gone"); err != nil {
		t.Fatal(err)
	}
	if d, ok, err := s.NextLeaseExpiry(ctx); err != nil || !ok || d <= 30*time.Minute {
		t.Errorf("after the expired one finished: got %s ok %v err %v, want the hour lease", d, ok, err)
	}
}

// A node has at most one active recovery: a request with another key while
// one is READY or RUNNING returns that one, and a new one is created only
// once it has finished.
func TestCreateRecoverActionOneActivePerNode(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	first, created, err := s.CreateRecoverAction(ctx, "c1/e/n1/1", "c1", "n1", rebootParams)
	if err != nil || !created {
		t.Fatalf("first: got created %v err %v, want true nil", created, err)
	}
	for _, st := range []health.ActionStatus{health.ActionReady, health.ActionRunning} {
		setActionStatus(t, s, first.ID, st)
		got, created, err := s.CreateRecoverAction(ctx, "c1/e/n1/2", "c1", "n1", rebootParams)
		if err != nil || created || got.ID != first.ID {
			t.Errorf("second key while the first is %s: got %s created %v err %v, want the first (%s) not created", st, got.ID, created, err, first.ID)
		}
	}
	// Another node, or another cluster's node of the same id, is not held back.
	if _, created, err := s.CreateRecoverAction(ctx, "c1/e/n2/1", "c1", "n2", rebootParams); err != nil || !created {
		t.Errorf("other node: got created %v err %v, want true nil", created, err)
	}
	if _, created, err := s.CreateRecoverAction(ctx, "c2/e/n1/1", "c2", "n1", rebootParams); err != nil || !created {
		t.Errorf("same node id in another cluster: got created %v err %v, want true nil", created, err)
	}
	if n := countActions(t, s); n != 3 {
		t.Errorf("rows: got %d, want 3", n)
	}
	setActionStatus(t, s, first.ID, health.ActionSucceeded)
	next, created, err := s.CreateRecoverAction(ctx, "c1/e/n1/2", "c1", "n1", rebootParams)
	if err != nil || !created || next.ID == first.ID || next.IdempotencyKey != "c1/e/n1/2" {
		t.Errorf("after the first finished: got %+v created %v err %v, want a new action with key c1/e/n1/2", next, created, err)
	}
	// The first key still names the first action.
	if again, created, err := s.CreateRecoverAction(ctx, "c1/e/n1/1", "c1", "n1", rebootParams); err != nil || created || again.ID != first.ID {
		t.Errorf("first key again: got %s created %v err %v, want %s", again.ID, created, err, first.ID)
	}
}

// ActiveActions counts the recoveries in flight by status, finished ones
// left out.
func TestActiveActions(t *testing.T) {
	s := storetest.New(t)
	ctx := testContext(t)
	got, err := s.ActiveActions(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("no action: got %v, %v", got, err)
	}
	for i, st := range []health.ActionStatus{health.ActionReady, health.ActionReady, health.ActionRunning, health.ActionSucceeded, health.ActionFailed} {
		a := createAction(t, s, fmt.Sprintf("active-%d", i))
		setActionStatus(t, s, a.ID, st)
	}
	got, err = s.ActiveActions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[health.ActionStatus]int{health.ActionReady: 2, health.ActionRunning: 1}; !maps.Equal(got, want) {
		t.Errorf("active actions: got %v, want %v", got, want)
	}
}
