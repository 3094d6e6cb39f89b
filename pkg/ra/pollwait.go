package ra

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/acmera/acmera/pkg/core"
)

// resultWaiters lets a client's poll of a processing authorization or
// order (RFC 8555 §7.5.1, §7.4) wait, briefly, for the result that a task
// of this same process is about to record, instead of answering
// "processing" and being polled again. It is only enabled where the tasks
// run in this process (the embedded default's in-process queue): in the
// cloud the validator is another process, and a wait would only delay the
// answer.
//
// The waits are keyed by object ID and hold no state beyond the waiting
// requests themselves: a notification with nobody waiting is dropped, and
// a wait that times out removes its entry when it is the last one.
type resultWaiters struct {
	mu sync.Mutex
	m  map[string]*waitEntry
}

type waitEntry struct {
	done    chan struct{}
	waiting int
}

func newResultWaiters() *resultWaiters {
	return &resultWaiters{m: make(map[string]*waitEntry)}
}

// register announces a wait for key before the caller reads the state it
// waits on, so that a result recorded between the read and the wait is
// not missed. The caller must call the returned wait function exactly
// once.
func (w *resultWaiters) register(key string) func(ctx context.Context, limit time.Duration) {
	w.mu.Lock()
	e := w.m[key]
	if e == nil {
		e = &waitEntry{done: make(chan struct{})}
		w.m[key] = e
	}
	e.waiting++
	w.mu.Unlock()
	return func(ctx context.Context, limit time.Duration) {
		if limit > 0 {
			t := time.NewTimer(limit)
			select {
			case <-e.done:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		w.mu.Lock()
		e.waiting--
		if e.waiting == 0 && w.m[key] == e {
			delete(w.m, key)
		}
		w.mu.Unlock()
	}
}

// notify wakes every wait for key.
func (w *resultWaiters) notify(key string) {
	w.mu.Lock()
	e := w.m[key]
	if e != nil {
		delete(w.m, key)
		close(e.done)
	}
	w.mu.Unlock()
}

func authzKey(id string) string { return "a/" + id }

func orderKey(id string) string { return "o/" + id }

// awaitAuthorization waits up to the poll wait for the validation of az's
// processing challenge to be recorded (RFC 8555 §7.5.1), and returns the
// authorization as it then stands: still processing if the wait ran out.
func (r *RA) awaitAuthorization(ctx context.Context, az *core.Authorization) (*core.Authorization, error) {
	wait := r.waiters.register(authzKey(az.ID))
	cur, err := r.store.GetAuthorization(ctx, az.ID)
	if err == nil && cur.Processing() {
		wait(ctx, r.pollWait)
		cur, err = r.store.GetAuthorization(ctx, az.ID)
	} else {
		wait(ctx, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("store.GetAuthorization: %w", err)
	}
	return cur, nil
}

// awaitOrder waits up to the poll wait for a processing order's finalize
// to be recorded (RFC 8555 §7.4), and returns the order as it then stands.
func (r *RA) awaitOrder(ctx context.Context, o *core.Order) (*core.Order, error) {
	wait := r.waiters.register(orderKey(o.ID))
	cur, err := r.store.GetOrder(ctx, o.ID)
	if err == nil && cur.Status == core.StatusProcessing {
		wait(ctx, r.pollWait)
		cur, err = r.store.GetOrder(ctx, o.ID)
	} else {
		wait(ctx, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("store.GetOrder: %w", err)
	}
	return cur, nil
}
