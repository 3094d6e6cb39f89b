package inproc_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/queue/inproc"
)

func task(i int) queue.Task {
	return queue.Task{Kind: queue.KindFinalize, OrderID: fmt.Sprintf("o%d", i)}
}

// recorder is a handler that counts calls per task name and can block.
type recorder struct {
	mu      sync.Mutex
	calls   map[string]int
	active  int
	peak    int
	fail    map[string]int // failures left per name (-1: always)
	gate    chan struct{}  // when non-nil, each call waits for a value or ctx
	started chan string
}

func newRecorder() *recorder {
	return &recorder{calls: map[string]int{}, fail: map[string]int{}, started: make(chan string, 100)}
}

func (r *recorder) HandleTask(ctx context.Context, t queue.Task) error {
	name := t.Name()
	r.mu.Lock()
	r.calls[name]++
	r.active++
	r.peak = max(r.peak, r.active)
	fail := r.fail[name]
	if fail > 0 {
		r.fail[name]--
	}
	gate := r.gate
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.active--
		r.mu.Unlock()
	}()
	r.started <- name
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != 0 {
		return errors.New("transient")
	}
	return nil
}

func (r *recorder) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[name]
}

// closeQueue drains q within a bound.
func closeQueue(t *testing.T, q *inproc.Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func waitStarted(t *testing.T, r *recorder) string {
	t.Helper()
	select {
	case n := <-r.started:
		return n
	case <-time.After(5 * time.Second):
		t.Fatal("handler never started")
		return ""
	}
}

func TestDedupWhilePendingOrRunning(t *testing.T) {
	r := newRecorder()
	r.gate = make(chan struct{})
	q := inproc.New(context.Background(), r, inproc.Config{Workers: 1})
	ctx := context.Background()
	for range 3 {
		if err := q.Enqueue(ctx, task(1)); err != nil {
			t.Fatal(err)
		}
	}
	waitStarted(t, r)
	if err := q.Enqueue(ctx, task(1)); err != nil { // while running
		t.Fatal(err)
	}
	close(r.gate)
	closeQueue(t, q)
	if n := r.count(task(1).Name()); n != 1 {
		t.Errorf("handler called %d times, want 1", n)
	}
	if st := q.Stats(); st.Enqueued != 1 || st.Deduped != 3 || st.Succeeded != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestSameNameRunsAgainAfterCompletion(t *testing.T) {
	r := newRecorder()
	q := inproc.New(context.Background(), r, inproc.Config{Workers: 1})
	for i := range 2 {
		if err := q.Enqueue(context.Background(), task(1)); err != nil {
			t.Fatal(err)
		}
		waitStarted(t, r)
		for deadline := time.Now().Add(5 * time.Second); q.Stats().Succeeded <= int64(i); {
			if time.Now().After(deadline) {
				t.Fatalf("task %d never succeeded", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	closeQueue(t, q)
	if n := r.count(task(1).Name()); n != 2 {
		t.Errorf("handler called %d times, want 2", n)
	}
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name                       string
		failures                   int
		wantCalls                  int
		wantSucceeded, wantDropped int64
	}{
		{"succeeds first time", 0, 1, 1, 0},
		{"fails twice then succeeds", 2, 3, 1, 0},
		{"always fails", -1, 4, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder()
			r.fail[task(1).Name()] = tc.failures
			q := inproc.New(context.Background(), r, inproc.Config{
				Workers: 2, MaxAttempts: 4, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
			})
			start := time.Now()
			if err := q.Enqueue(context.Background(), task(1)); err != nil {
				t.Fatal(err)
			}
			closeQueue(t, q)
			if n := r.count(task(1).Name()); n != tc.wantCalls {
				t.Errorf("handler called %d times, want %d", n, tc.wantCalls)
			}
			st := q.Stats()
			if st.Succeeded != tc.wantSucceeded || st.Dropped != tc.wantDropped || st.Retries != int64(tc.wantCalls-1) {
				t.Errorf("stats = %+v", st)
			}
			// Backoffs 5, 10, 20 ms: retries must have waited.
			if minWait := []time.Duration{0, 0, 15 * time.Millisecond, 35 * time.Millisecond}[tc.wantCalls-1]; time.Since(start) < minWait {
				t.Errorf("finished after %v, want >= %v of backoff", time.Since(start), minWait)
			}
		})
	}
}

func TestPanicIsRetried(t *testing.T) {
	var calls atomic.Int32
	h := queue.HandlerFunc(func(ctx context.Context, t queue.Task) error {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return nil
	})
	q := inproc.New(context.Background(), h, inproc.Config{MinBackoff: time.Millisecond})
	if err := q.Enqueue(context.Background(), task(1)); err != nil {
		t.Fatal(err)
	}
	closeQueue(t, q)
	if calls.Load() != 2 || q.Stats().Succeeded != 1 {
		t.Errorf("calls = %d, stats = %+v", calls.Load(), q.Stats())
	}
}

func TestBoundedConcurrency(t *testing.T) {
	r := newRecorder()
	r.gate = make(chan struct{})
	q := inproc.New(context.Background(), r, inproc.Config{Workers: 3})
	for i := range 10 {
		if err := q.Enqueue(context.Background(), task(i)); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		waitStarted(t, r)
	}
	time.Sleep(20 * time.Millisecond) // would a fourth start?
	r.mu.Lock()
	active := r.active
	r.mu.Unlock()
	if active != 3 {
		t.Errorf("%d handlers running, want 3", active)
	}
	close(r.gate)
	closeQueue(t, q)
	if r.peak != 3 || q.Stats().Succeeded != 10 {
		t.Errorf("peak %d, stats %+v; want peak 3 and 10 done", r.peak, q.Stats())
	}
}

func TestEnqueueOnFullQueueWaitsForCtx(t *testing.T) {
	r := newRecorder()
	r.gate = make(chan struct{})
	q := inproc.New(context.Background(), r, inproc.Config{Workers: 1, Capacity: 1})
	if err := q.Enqueue(context.Background(), task(0)); err != nil {
		t.Fatal(err)
	}
	waitStarted(t, r) // the worker holds task 0
	if err := q.Enqueue(context.Background(), task(1)); err != nil {
		t.Fatal(err) // fills the channel
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := q.Enqueue(ctx, task(2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Enqueue on full queue = %v, want DeadlineExceeded", err)
	}
	if st := q.Stats(); st.Enqueued != 2 {
		t.Errorf("stats after refused enqueue = %+v, want 2 enqueued", st)
	}
	close(r.gate)
	closeQueue(t, q)
	if r.count(task(2).Name()) != 0 || q.Stats().Succeeded != 2 {
		t.Errorf("refused task ran or others did not: stats %+v", q.Stats())
	}
	if err := q.Enqueue(context.Background(), task(2)); !errors.Is(err, inproc.ErrClosed) {
		t.Errorf("Enqueue after Close = %v, want ErrClosed", err)
	}
}

func TestCloseTimeoutCancelsHandlers(t *testing.T) {
	r := newRecorder()
	r.gate = make(chan struct{}) // never opened: only ctx ends the call
	q := inproc.New(context.Background(), r, inproc.Config{Workers: 1, MaxAttempts: 1})
	for i := range 3 {
		if err := q.Enqueue(context.Background(), task(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitStarted(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := q.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want DeadlineExceeded", err)
	}
	if st := q.Stats(); st.Dropped != 3 || st.Succeeded != 0 {
		t.Errorf("stats = %+v, want 3 dropped", st)
	}
	if err := q.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestEnqueueRejectsIncompleteTask(t *testing.T) {
	q := inproc.New(context.Background(), newRecorder(), inproc.Config{})
	defer closeQueue(t, q)
	if err := q.Enqueue(context.Background(), queue.Task{Kind: queue.KindValidate}); err == nil {
		t.Error("Enqueue of an incomplete task succeeded")
	}
}

func TestDelayedTaskRunsAfterItsDelayAndDedups(t *testing.T) {
	r := newRecorder()
	q := inproc.New(context.Background(), r, inproc.Config{Workers: 1})
	delayed := task(1)
	delayed.After = 50 * time.Millisecond
	start := time.Now()
	if err := q.Enqueue(context.Background(), delayed); err != nil {
		t.Fatal(err)
	}
	// The same work enqueued again while it waits is the same task.
	if err := q.Enqueue(context.Background(), task(1)); err != nil {
		t.Fatal(err)
	}
	waitStarted(t, r)
	if waited := time.Since(start); waited < delayed.After {
		t.Errorf("delayed task ran after %v, want >= %v", waited, delayed.After)
	}
	closeQueue(t, q)
	if n := r.count(task(1).Name()); n != 1 {
		t.Errorf("handler called %d times, want 1", n)
	}
	if st := q.Stats(); st.Deduped != 1 || st.Succeeded != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestCloseDropsDelayedTasksWithoutWaiting(t *testing.T) {
	r := newRecorder()
	q := inproc.New(context.Background(), r, inproc.Config{Workers: 1})
	delayed := task(1)
	delayed.After = time.Hour
	if err := q.Enqueue(context.Background(), delayed); err != nil {
		t.Fatal(err)
	}
	closeQueue(t, q) // fails the test if Close waits for the hour
	if n := r.count(task(1).Name()); n != 0 {
		t.Errorf("handler called %d times, want 0", n)
	}
	if st := q.Stats(); st.Dropped != 1 {
		t.Errorf("stats = %+v, want one dropped", st)
	}
}

// TestCancelTakesBackWaitingTasks cancels some of many delayed tasks: the
// cancelled ones never run, every other one runs once, a cancelled name
// can be enqueued again, and a cancel of a running or unknown task is a
// no-op.
func TestCancelTakesBackWaitingTasks(t *testing.T) {
	r := newRecorder()
	q := inproc.New(context.Background(), r, inproc.Config{Workers: 1})
	ctx := context.Background()
	const n = 40
	for i := range n {
		d := task(i)
		d.After = time.Duration(20+i%7) * time.Millisecond // heap order differs from enqueue order
		if err := q.Enqueue(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 3 {
		if err := q.Cancel(ctx, task(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Cancel(ctx, task(n+1)); err != nil { // unknown
		t.Fatal(err)
	}
	// A cancelled name is free again: it runs (at once, undelayed).
	if err := q.Enqueue(ctx, task(0)); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for i := range n {
		if i%3 != 0 {
			ran++
		}
	}
	ran++ // task(0) again
	for range ran {
		waitStarted(t, r)
	}
	closeQueue(t, q)
	for i := range n {
		want := 1
		if i%3 == 0 && i != 0 {
			want = 0
		}
		if got := r.count(task(i).Name()); got != want {
			t.Errorf("task %d ran %d times, want %d", i, got, want)
		}
	}
	cancelled := int64((n + 2) / 3)
	if st := q.Stats(); st.Cancelled != cancelled || st.Succeeded != int64(ran) || st.Dropped != 0 {
		t.Errorf("stats = %+v, want %d cancelled and %d succeeded", st, cancelled, ran)
	}
}

func TestCancelLeavesRunningTaskAlone(t *testing.T) {
	r := newRecorder()
	r.gate = make(chan struct{})
	q := inproc.New(context.Background(), r, inproc.Config{Workers: 1})
	ctx := context.Background()
	if err := q.Enqueue(ctx, task(1)); err != nil {
		t.Fatal(err)
	}
	waitStarted(t, r)
	if err := q.Cancel(ctx, task(1)); err != nil {
		t.Fatal(err)
	}
	// Still pending: an enqueue while it runs is deduplicated.
	if err := q.Enqueue(ctx, task(1)); err != nil {
		t.Fatal(err)
	}
	close(r.gate)
	closeQueue(t, q)
	if st := q.Stats(); st.Cancelled != 0 || st.Deduped != 1 || st.Succeeded != 1 {
		t.Errorf("stats = %+v, want the running task kept and done once", st)
	}
}

// TestCancelAWaitingRetry cancels a task between attempts: it is not
// called again.
func TestCancelAWaitingRetry(t *testing.T) {
	r := newRecorder()
	r.fail[task(1).Name()] = -1
	q := inproc.New(context.Background(), r, inproc.Config{Workers: 1, MinBackoff: time.Hour})
	ctx := context.Background()
	if err := q.Enqueue(ctx, task(1)); err != nil {
		t.Fatal(err)
	}
	waitStarted(t, r)
	for deadline := time.Now().Add(5 * time.Second); q.Stats().Attempts < 1; {
		if time.Now().After(deadline) {
			t.Fatal("first attempt never finished")
		}
		time.Sleep(time.Millisecond)
	}
	if err := q.Cancel(ctx, task(1)); err != nil {
		t.Fatal(err)
	}
	closeQueue(t, q) // would wait the hour if the retry were still held
	if st := q.Stats(); st.Cancelled != 1 || st.Attempts != 1 || st.Dropped != 0 {
		t.Errorf("stats = %+v, want one attempt, then cancelled", st)
	}
}
