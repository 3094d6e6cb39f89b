package bolt

import (
	"errors"
	"fmt"
	"sync"

	"go.etcd.io/bbolt"
)

// groupCommit commits concurrent transitions together without a timer.
//
// bbolt's DB.Batch waits up to MaxBatchDelay for other writers before it
// commits, which a lone client pays on every write. Here a writer that
// finds no commit running commits at once, alone. Writers that arrive
// while a commit (its fsync) runs queue up, and when that commit is done
// the first of them leads the next one, taking every queued writer into a
// single transaction and fsync. So the batch is exactly the writers that
// had to wait anyway: no group, no wait; under load, one fsync for many.
//
// A leader commits one batch (the one holding its own write) and hands the
// lead to the next queued writer, so no writer keeps committing others'
// work. As with DB.Batch, when a function fails the batch is rolled back
// and re-run without it, and it is run again alone (errTrySolo), so a
// function may run more than once (see the package comment).
type groupCommit struct {
	db  *bbolt.DB
	max int // writers per commit at most

	mu      sync.Mutex
	busy    bool // a leader is committing
	pending []*groupCall
}

// groupCall is one writer's transition, queued for a commit.
type groupCall struct {
	fn func(*bbolt.Tx) error
	// res receives either the lead (lead true: commit the next batch)
	// or the outcome of the commit holding fn. Buffered (1): the lead
	// is taken before the outcome can be sent.
	res chan groupResult
}

type groupResult struct {
	lead bool
	err  error
}

// errTrySolo marks a function that failed inside a batch: it is re-run in
// a transaction of its own, so its error is its own.
var errTrySolo = errors.New("bolt: batch function failed; retry alone")

// update runs fn in a committed (fsync'd) read-write transaction, shared
// with the writers queued behind the running commit.
func (g *groupCommit) update(fn func(*bbolt.Tx) error) error {
	c := &groupCall{fn: fn, res: make(chan groupResult, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	lead := !g.busy
	g.busy = true
	g.mu.Unlock()
	r := groupResult{lead: lead}
	if !lead {
		r = <-c.res
	}
	if r.lead {
		g.lead()
		r = <-c.res
	}
	if errors.Is(r.err, errTrySolo) {
		return g.db.Update(func(tx *bbolt.Tx) error { return safeCall(fn, tx) })
	}
	return r.err
}

// lead commits the queued writers (at most max) and passes the lead to the
// first writer still queued, or ends the busy period.
func (g *groupCommit) lead() {
	g.mu.Lock()
	n := min(len(g.pending), g.max)
	batch := g.pending[:n:n]
	g.pending = g.pending[n:]
	g.mu.Unlock()

	g.commit(batch)

	g.mu.Lock()
	if len(g.pending) == 0 {
		g.busy = false
		g.pending = nil // drop the old backing array
		g.mu.Unlock()
		return
	}
	next := g.pending[0]
	g.mu.Unlock()
	next.res <- groupResult{lead: true}
}

// commit runs batch in one transaction and tells every writer its outcome.
// A failing function is taken out (told errTrySolo) and the rest re-run.
func (g *groupCommit) commit(batch []*groupCall) {
	for len(batch) > 0 {
		failed := -1
		err := g.db.Update(func(tx *bbolt.Tx) error {
			for i, c := range batch {
				if err := safeCall(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			batch[failed].res <- groupResult{err: errTrySolo}
			batch = append(batch[:failed:failed], batch[failed+1:]...)
			continue
		}
		for _, c := range batch {
			c.res <- groupResult{err: err}
		}
		return
	}
}

// safeCall runs fn, turning a panic into an error so that the writers
// sharing its batch are not left waiting.
func safeCall(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bolt: transition panicked: %v", p)
		}
	}()
	return fn(tx)
}
