// Package inproc is the embedded default's queue: a queue.Enqueuer that
// runs tasks on a fixed pool of goroutines calling a queue.Handler, with
// the same Task values and the same contract as Cloud Tasks where it
// matters: a task name enqueued while that task is pending, waiting for a
// retry or running is not scheduled twice, and a handler error is retried
// with exponential backoff a bounded number of times.
//
// It is on the hot path of load tests: one bounded channel, a fixed pool,
// one scheduler goroutine for retries, and no goroutine per task.
package inproc

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/acmera/acmera/pkg/queue"
)

// ErrClosed is returned by Enqueue once Close has begun.
var ErrClosed = errors.New("inproc: queue closed")

// Config tunes the queue. The zero value is usable.
type Config struct {
	// Workers is the number of concurrent handler calls (default 4).
	Workers int
	// Capacity bounds the tasks waiting for a worker (default 1024). When
	// it is full, Enqueue blocks until room frees up or its ctx is done.
	Capacity int
	// MaxAttempts bounds handler calls per task, first included (default 5);
	// after the last failure the task is dropped and logged.
	MaxAttempts int
	// MinBackoff is the wait before the first retry (default 100 ms); each
	// later retry waits twice as long, up to MaxBackoff (default 10 s).
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Timeout bounds one handler call (default 0: no limit beyond ctx).
	Timeout time.Duration
	// Now is the clock for retry times (default time.Now).
	Now func() time.Time
	// Logger receives dropped-task lines (default: discard).
	Logger *slog.Logger
}

// Stats counts what the queue did.
type Stats struct {
	Enqueued  int64 // tasks accepted
	Deduped   int64 // enqueues of a name already pending or running
	Attempts  int64 // handler calls
	Retries   int64 // handler calls after a failure
	Succeeded int64 // tasks whose handler returned nil
	Dropped   int64 // tasks abandoned after MaxAttempts or at Close
	Cancelled int64 // waiting tasks taken back by Cancel
}

// item is one task and its attempt count.
type item struct {
	task    queue.Task
	name    string
	attempt int       // handler calls made so far
	at      time.Time // retry time, while in the retry heap
	index   int       // position in the retry heap, -1 when not in it
}

// Queue is the in-process queue.
type Queue struct {
	h   queue.Handler
	cfg Config
	log *slog.Logger

	work   chan *item
	wake   chan struct{}
	stop   chan struct{} // closed when workers must exit
	runCtx context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	pending map[string]*item // names queued, running or awaiting retry
	retry   retryHeap
	closing bool
	idle    chan struct{} // closed when pending empties during Close
	stats   Stats
	stopped sync.Once
}

var (
	_ queue.Enqueuer = (*Queue)(nil)
	_ queue.Canceler = (*Queue)(nil)
)

// New starts a queue whose handler calls run under ctx (cancelled, they
// stop; Close also cancels them when draining times out).
func New(ctx context.Context, h queue.Handler, cfg Config) *Queue {
	cfg = withDefaults(cfg)
	q := &Queue{
		h: h, cfg: cfg, log: cfg.Logger,
		work: make(chan *item, cfg.Capacity), wake: make(chan struct{}, 1),
		stop: make(chan struct{}), pending: map[string]*item{},
	}
	q.runCtx, q.cancel = context.WithCancel(ctx)
	q.wg.Add(cfg.Workers + 1)
	for range cfg.Workers {
		go q.worker()
	}
	go q.scheduler()
	return q
}

func withDefaults(cfg Config) Config {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Capacity <= 0 {
		cfg.Capacity = 1024
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.MinBackoff)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// Enqueue schedules t. A task whose name is pending, running or awaiting a
// retry is not scheduled again (nil is returned). When Capacity tasks are
// already waiting, Enqueue blocks until there is room, ctx is done (its
// error is returned, wrapped) or the queue closes (ErrClosed).
func (q *Queue) Enqueue(ctx context.Context, t queue.Task) error {
	if err := t.Validate(); err != nil {
		return err
	}
	it := &item{task: t, name: t.Name(), index: -1}
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return ErrClosed
	}
	if _, dup := q.pending[it.name]; dup {
		q.stats.Deduped++
		q.mu.Unlock()
		return nil
	}
	q.pending[it.name] = it
	q.stats.Enqueued++
	if t.After > 0 {
		// A delayed task waits in the retry heap like a retry.
		it.at = q.cfg.Now().Add(t.After)
		heap.Push(&q.retry, it)
		q.mu.Unlock()
		select {
		case q.wake <- struct{}{}:
		default:
		}
		return nil
	}
	q.mu.Unlock()
	select {
	case q.work <- it:
		return nil
	case <-ctx.Done():
		q.unaccept(it)
		return fmt.Errorf("inproc: enqueue %s: %w", it.name, ctx.Err())
	case <-q.stop:
		q.unaccept(it)
		return ErrClosed
	}
}

// Cancel takes back t while it waits in the retry heap (delayed, or
// between attempts), so it does not run and holds no memory; a task that
// is due, running or unknown is left alone. The name may then be enqueued
// again.
func (q *Queue) Cancel(_ context.Context, t queue.Task) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	it := q.pending[t.Name()]
	if it == nil || it.index < 0 {
		return nil
	}
	heap.Remove(&q.retry, it.index)
	delete(q.pending, it.name)
	q.stats.Cancelled++
	q.signalIdle()
	return nil
}

// unaccept undoes Enqueue's bookkeeping for a task that never got in.
func (q *Queue) unaccept(it *item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.pending, it.name)
	q.stats.Enqueued--
	q.signalIdle()
}

// signalIdle closes idle once a closing queue has nothing left; q.mu held.
func (q *Queue) signalIdle() {
	if q.closing && len(q.pending) == 0 && q.idle != nil {
		close(q.idle)
		q.idle = nil
	}
}

// Stats returns a snapshot of the counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats
}

// Close stops accepting tasks and drains: it waits until every accepted
// task has succeeded or exhausted its attempts (retries included), or ctx
// is done. On ctx done it cancels running handlers, abandons the rest and
// returns ctx's error. Either way the pool has exited when Close returns.
// Close is safe to call more than once.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closing {
		q.closing = true
		q.idle = make(chan struct{})
		q.dropDelayed()
		q.signalIdle()
	}
	idle := q.idle
	q.mu.Unlock()
	var err error
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			err = fmt.Errorf("inproc: close: %w", ctx.Err())
		}
	}
	q.stopped.Do(q.halt)
	return err
}

// dropDelayed abandons delayed tasks that have not run yet, so Close does
// not wait for their time to come: what they would do is recovered at the
// next start (a processing order is re-queued). q.mu held.
func (q *Queue) dropDelayed() {
	kept := q.retry[:0]
	for _, it := range q.retry {
		if it.attempt == 0 {
			delete(q.pending, it.name)
			q.stats.Dropped++
			continue
		}
		it.index = len(kept)
		kept = append(kept, it)
	}
	clear(q.retry[len(kept):])
	q.retry = kept
	heap.Init(&q.retry)
}

// halt cancels running handlers, stops the pool and abandons what is left.
func (q *Queue) halt() {
	q.cancel()
	close(q.stop)
	q.wg.Wait()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stats.Dropped += int64(len(q.pending))
	clear(q.pending)
	q.retry = nil
	q.signalIdle()
}
