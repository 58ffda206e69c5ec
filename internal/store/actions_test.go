package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

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

func TestCreateRecoverActionConcurrently(t *testing.T) {
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
			a, c, err := s.CreateRecoverAction(testContext(t), "c1/n1/7", "c1", "n1", rebootParams)
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
	if _, ok, err := s.ClaimReadyAction(ctx, "w1"); err != nil || ok {
		t.Fatalf("ClaimReadyAction on no actions: got ok %v err %v, want false nil", ok, err)
	}
	a1 := createAction(t, s, "k1")
	done := createAction(t, s, "k2")
	setActionStatus(t, s, done.ID, health.ActionSucceeded)
	a3 := createAction(t, s, "k3")

	for _, want := range []health.Action{a1, a3} {
		got, ok, err := s.ClaimReadyAction(ctx, "w1")
		if err != nil || !ok {
			t.Fatalf("ClaimReadyAction: got ok %v err %v, want true nil", ok, err)
		}
		if got.ID != want.ID || got.Status != health.ActionRunning {
			t.Errorf("ClaimReadyAction: got %s %s, want %s RUNNING", got.ID, got.Status, want.ID)
		}
		if w := claimedBy(t, s, got.ID); w != "w1" {
			t.Errorf("claimed_by: got %q, want %q", w, "w1")
		}
	}
	if got, ok, err := s.ClaimReadyAction(ctx, "w1"); err != nil || ok {
		t.Errorf("ClaimReadyAction with none READY: got %s ok %v err %v, want false nil", got.ID, ok, err)
	}
	if _, _, err := s.ClaimReadyAction(ctx, ""); err == nil {
		t.Error("ClaimReadyAction with empty worker: got nil error, want one")
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
	got, ok, err := s.ClaimReadyAction(quick, "w2")
	if err != nil || !ok || got.ID != a2.ID {
		t.Fatalf("ClaimReadyAction beside a locked row: got %s ok %v err %v, want %s true nil", got.ID, ok, err, a2.ID)
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	got, ok, err = s.ClaimReadyAction(ctx, "w1")
	if err != nil || !ok || got.ID != a1.ID {
		t.Fatalf("ClaimReadyAction after unlock: got %s ok %v err %v, want %s true nil", got.ID, ok, err, a1.ID)
	}
}

func TestClaimReadyActionConcurrentClaimersGetDistinctActions(t *testing.T) {
	s := storetest.New(t)
	const actions = 40
	for i := range actions {
		createAction(t, s, fmt.Sprintf("k%d", i))
	}

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		start   = make(chan struct{})
		claimed = make(map[string]string) // action id -> worker
		errs    []error
	)
	for _, worker := range []string{"w1", "w2"} {
		wg.Go(func() {
			<-start
			for {
				a, ok, err := s.ClaimReadyAction(testContext(t), worker)
				mu.Lock()
				switch {
				case err != nil:
					errs = append(errs, err)
				case ok:
					if prev, dup := claimed[a.ID]; dup {
						errs = append(errs, fmt.Errorf("action %s claimed by %s and %s", a.ID, prev, worker))
					}
					claimed[a.ID] = worker
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
