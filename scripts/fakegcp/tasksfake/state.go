package tasksfake

import (
	"container/heap"
	"fmt"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Resource name shapes of Cloud Tasks v2 (see the API's resource patterns).
var (
	locationRE = regexp.MustCompile(`^projects/[A-Za-z0-9\-:.]{1,100}/locations/[A-Za-z0-9-]{1,100}$`)
	queueIDRE  = regexp.MustCompile(`^[A-Za-z0-9-]{1,100}$`)
	taskIDRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,500}$`)
)

// Defaults the real service fills into a queue created without them.
const (
	defaultMaxAttempts   = 100
	defaultMinBackoff    = 100 * time.Millisecond
	defaultMaxBackoff    = time.Hour
	defaultMaxDoublings  = 16
	defaultRate          = 500
	defaultBurst         = 100
	defaultConcurrent    = 1000
	defaultDeadline      = 10 * time.Minute
	minDeadline          = 15 * time.Second
	maxDeadline          = 30 * time.Minute
	maxScheduleAhead     = 30 * 24 * time.Hour
	taskNameSeparator    = "/tasks/"
	queueNameSeparator   = "/queues/"
	generatedTaskIDDigit = 20
)

// queueState is one queue: its settings, live tasks and taken names.
type queueState struct {
	pb       *cloudtaskspb.Queue
	id       string
	tasks    map[string]*task     // live tasks by full name
	released map[string]time.Time // finished task names -> when released
	inflight int
	waiting  []*task   // due but held by max_concurrent_dispatches
	tokens   float64   // rate-limit bucket (max_burst_size deep)
	refilled time.Time // when tokens was last refilled
}

// task is one HTTP task and its dispatch bookkeeping.
type task struct {
	q          *queueState
	name, id   string
	req        *cloudtaskspb.HttpRequest
	created    time.Time
	schedule   time.Time // time of the next attempt (its ETA)
	at         time.Time // when the dispatcher may send it (>= schedule)
	deadline   time.Duration
	dispatches int // attempts made
	responses  int // attempts that got an HTTP response
	firstAt    time.Time
	first      *cloudtaskspb.Attempt
	last       *cloudtaskspb.Attempt
	dup        bool
	dupAfter   time.Duration // delay of the duplicate (DuplicateDeliveryLate)
	done       bool
	seq        uint64
	idx        int // index in the due heap, -1 when not in it
}

// splitQueueName checks `projects/P/locations/L/queues/Q` and returns Q.
func splitQueueName(name string) (string, error) {
	i := strings.LastIndex(name, queueNameSeparator)
	if i < 0 || !locationRE.MatchString(name[:i]) || !queueIDRE.MatchString(name[i+len(queueNameSeparator):]) {
		return "", status.Errorf(codes.InvalidArgument, "invalid queue name %q", name)
	}
	return name[i+len(queueNameSeparator):], nil
}

// splitTaskName checks `{queue}/tasks/T` and returns the queue name and T.
func splitTaskName(name string) (string, string, error) {
	i := strings.LastIndex(name, taskNameSeparator)
	if i < 0 || !taskIDRE.MatchString(name[i+len(taskNameSeparator):]) {
		return "", "", status.Errorf(codes.InvalidArgument, "invalid task name %q", name)
	}
	if _, err := splitQueueName(name[:i]); err != nil {
		return "", "", status.Errorf(codes.InvalidArgument, "invalid task name %q", name)
	}
	return name[:i], name[i+len(taskNameSeparator):], nil
}

// withQueueDefaults returns a copy of q with unset retry and rate settings
// filled as the real service does.
func withQueueDefaults(q *cloudtaskspb.Queue) *cloudtaskspb.Queue {
	q = proto.Clone(q).(*cloudtaskspb.Queue)
	if q.RetryConfig == nil {
		q.RetryConfig = &cloudtaskspb.RetryConfig{}
	}
	rc := q.RetryConfig
	if rc.MaxAttempts == 0 {
		rc.MaxAttempts = defaultMaxAttempts
	}
	if rc.MinBackoff.AsDuration() <= 0 {
		rc.MinBackoff = durationpb.New(defaultMinBackoff)
	}
	if rc.MaxBackoff.AsDuration() <= 0 {
		rc.MaxBackoff = durationpb.New(defaultMaxBackoff)
	}
	if rc.MaxDoublings == 0 {
		rc.MaxDoublings = defaultMaxDoublings
	}
	if q.RateLimits == nil {
		q.RateLimits = &cloudtaskspb.RateLimits{}
	}
	rl := q.RateLimits
	if rl.MaxDispatchesPerSecond <= 0 {
		rl.MaxDispatchesPerSecond = defaultRate
	}
	if rl.MaxBurstSize <= 0 {
		rl.MaxBurstSize = defaultBurst
	}
	if rl.MaxConcurrentDispatches <= 0 {
		rl.MaxConcurrentDispatches = defaultConcurrent
	}
	q.State = cloudtaskspb.Queue_RUNNING
	return q
}

// validateRetry refuses settings the real service refuses.
func validateRetry(rc *cloudtaskspb.RetryConfig) error {
	if rc.MaxAttempts < -1 {
		return status.Error(codes.InvalidArgument, "retry_config.max_attempts must be >= -1")
	}
	if rc.MinBackoff.AsDuration() > rc.MaxBackoff.AsDuration() {
		return status.Error(codes.InvalidArgument, "retry_config.min_backoff must not exceed max_backoff")
	}
	return nil
}

// backoff is the wait before the retry that follows the nth failed
// attempt (n >= 1): min_backoff doubled max_doublings times, then grown
// linearly by the last doubled interval, capped at max_backoff.
func backoff(rc *cloudtaskspb.RetryConfig, n int) time.Duration {
	lo, hi := rc.MinBackoff.AsDuration(), rc.MaxBackoff.AsDuration()
	d, step := lo, lo
	for i := 1; i < n && d < hi; i++ {
		if i <= int(rc.MaxDoublings) {
			d *= 2
			step = d
		} else {
			d += step
		}
	}
	return min(d, hi)
}

// exhausted reports whether a task that failed its latest attempt gets no
// further attempt: both max_attempts and max_retry_duration (if set) are
// spent, as the API documents.
func exhausted(rc *cloudtaskspb.RetryConfig, t *task, now time.Time) bool {
	if rc.MaxAttempts < 0 || t.dispatches < int(rc.MaxAttempts) {
		return false
	}
	lim := rc.MaxRetryDuration.AsDuration()
	return lim <= 0 || now.Sub(t.firstAt) >= lim
}

// proto renders t in the requested view; BASIC omits the body.
func (t *task) proto(view cloudtaskspb.Task_View) *cloudtaskspb.Task {
	if view == cloudtaskspb.Task_VIEW_UNSPECIFIED {
		view = cloudtaskspb.Task_BASIC
	}
	req := proto.Clone(t.req).(*cloudtaskspb.HttpRequest)
	if view == cloudtaskspb.Task_BASIC {
		req.Body = nil
	}
	return &cloudtaskspb.Task{
		Name:             t.name,
		MessageType:      &cloudtaskspb.Task_HttpRequest{HttpRequest: req},
		ScheduleTime:     timestamppb.New(t.schedule),
		CreateTime:       timestamppb.New(t.created),
		DispatchDeadline: durationpb.New(t.deadline),
		DispatchCount:    int32(t.dispatches),
		ResponseCount:    int32(t.responses),
		FirstAttempt:     t.first,
		LastAttempt:      t.last,
		View:             view,
	}
}

// taskHeap orders waiting tasks by dispatch time, then creation order.
type taskHeap []*task

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h taskHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *taskHeap) Push(x any) {
	t := x.(*task)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}

// remove takes t out of the heap if it is there.
func (h *taskHeap) remove(t *task) {
	if t.idx >= 0 && t.idx < h.Len() && (*h)[t.idx] == t {
		heap.Remove(h, t.idx)
	}
}

// String names a task for logs.
func (t *task) String() string { return fmt.Sprintf("%s/%s", t.q.id, t.id) }
