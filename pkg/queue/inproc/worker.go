package inproc

import (
	"container/heap"
	"context"
	"fmt"
	"time"
)

// idleWait is how long the retry scheduler sleeps with nothing due.
const idleWait = time.Minute

// worker calls the handler for tasks until the queue stops.
func (q *Queue) worker() {
	defer q.wg.Done()
	for {
		select {
		case it := <-q.work:
			q.run(it)
		case <-q.stop:
			return
		}
	}
}

// run makes one attempt at a task and records the outcome: done, a retry
// after backoff, or dropped once MaxAttempts is spent.
func (q *Queue) run(it *item) {
	err := q.call(it)
	it.attempt++
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stats.Attempts++
	if it.attempt > 1 {
		q.stats.Retries++
	}
	switch {
	case err == nil:
		q.stats.Succeeded++
	case it.attempt >= q.cfg.MaxAttempts || q.runCtx.Err() != nil:
		q.stats.Dropped++
		q.log.Warn("inproc: task dropped", "task", it.name, "attempts", it.attempt, "error", err)
	default:
		it.at = q.cfg.Now().Add(q.backoff(it.attempt))
		heap.Push(&q.retry, it)
		select {
		case q.wake <- struct{}{}:
		default:
		}
		return
	}
	delete(q.pending, it.name)
	q.signalIdle()
}

// call runs the handler once, turning a panic into an error.
func (q *Queue) call(it *item) (err error) {
	ctx, cancel := q.runCtx, context.CancelFunc(func() {})
	if q.cfg.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, q.cfg.Timeout)
	}
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("inproc: handler panic: %v", r)
		}
	}()
	return q.h.HandleTask(ctx, it.task)
}

// backoff is the wait after the nth failed attempt: MinBackoff doubled
// n-1 times, capped at MaxBackoff.
func (q *Queue) backoff(n int) time.Duration {
	d := q.cfg.MinBackoff
	for i := 1; i < n && d < q.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, q.cfg.MaxBackoff)
}

// scheduler moves due retries back onto the work channel.
func (q *Queue) scheduler() {
	defer q.wg.Done()
	timer := time.NewTimer(idleWait)
	defer timer.Stop()
	for {
		it, wait := q.nextRetry()
		if it != nil {
			select {
			case q.work <- it:
				continue
			case <-q.stop:
				return
			}
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-q.wake:
		case <-q.stop:
			return
		}
	}
}

// nextRetry pops a due retry, or says how long until the next one.
func (q *Queue) nextRetry() (*item, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.retry.Len() == 0 {
		return nil, idleWait
	}
	if d := q.retry[0].at.Sub(q.cfg.Now()); d > 0 {
		return nil, d
	}
	return heap.Pop(&q.retry).(*item), 0
}

// retryHeap orders retries by due time.
type retryHeap []*item

func (h retryHeap) Len() int           { return len(h) }
func (h retryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h retryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *retryHeap) Push(x any) {
	it := x.(*item)
	it.index = len(*h)
	*h = append(*h, it)
}

func (h *retryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.index = -1
	return it
}
