package tasksfake

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// idleWait is how long the scheduler sleeps with nothing due.
const idleWait = time.Minute

// maxResponseRead bounds how much of a target's response is read.
const maxResponseRead = 64 << 10

// attempt is one HTTP delivery, built under the lock and sent outside it.
type attempt struct {
	method   string
	url      string
	header   http.Header
	body     []byte
	oidc     *cloudtaskspb.OidcToken
	deadline time.Duration
	schedule time.Time
	dispatch time.Time
	dup      bool
	dupAfter time.Duration // the duplicate's delay after the delivery
}

// start launches the scheduler and the worker pool.
func (s *Server) start() {
	s.wg.Add(1 + s.cfg.Workers)
	go s.schedule()
	for range s.cfg.Workers {
		go s.worker()
	}
}

// schedule hands due tasks to the workers, honouring schedule_time, the
// queue's rate limit and max_concurrent_dispatches.
func (s *Server) schedule() {
	defer s.wg.Done()
	timer := time.NewTimer(idleWait)
	defer timer.Stop()
	for {
		t, wait := s.nextDue()
		if t != nil {
			select {
			case s.work <- t:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-s.wake:
		case <-s.ctx.Done():
			return
		}
	}
}

// nextDue pops the next task allowed to go now, or says how long to wait.
func (s *Server) nextDue() (*task, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for s.due.Len() > 0 {
		t := s.due[0]
		if d := t.at.Sub(now); d > 0 {
			return nil, d
		}
		heap.Pop(&s.due)
		q := t.q
		if q.inflight >= int(q.pb.RateLimits.MaxConcurrentDispatches) {
			q.waiting = append(q.waiting, t)
			continue
		}
		if wait := q.take(now); wait > 0 {
			t.at = now.Add(wait)
			heap.Push(&s.due, t)
			continue
		}
		q.inflight++
		return t, 0
	}
	return nil, idleWait
}

// take spends one token of the queue's rate bucket, or says how long until
// one is available.
func (q *queueState) take(now time.Time) time.Duration {
	rate := q.pb.RateLimits.MaxDispatchesPerSecond
	q.tokens = min(q.tokens+now.Sub(q.refilled).Seconds()*rate, float64(q.pb.RateLimits.MaxBurstSize))
	q.refilled = now
	if q.tokens >= 1 {
		q.tokens--
		return 0
	}
	return time.Duration((1 - q.tokens) / rate * float64(time.Second))
}

// worker runs deliveries until the fake closes.
func (s *Server) worker() {
	defer s.wg.Done()
	for {
		select {
		case t := <-s.work:
			s.run(t)
		case <-s.ctx.Done():
			return
		}
	}
}

// run makes one attempt at t (plus an injected duplicate) and records it.
func (s *Server) run(t *task) {
	a := s.begin(t)
	if a == nil {
		return
	}
	code, err := s.deliver(a)
	if err == nil && code/100 == 2 && a.dup && a.dupAfter > 0 {
		s.lateDuplicate(a)
	} else if err == nil && code/100 == 2 && a.dup {
		s.mu.Lock()
		s.stats.Deliveries++
		s.stats.Duplicates++
		s.mu.Unlock()
		_, _ = s.deliver(a)
	}
	s.end(t, a, code, err)
}

// lateDuplicate delivers a again a.dupAfter from now, after the task has
// completed, unless the server closes first.
func (s *Server) lateDuplicate(a *attempt) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(a.dupAfter)
		defer t.Stop()
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		s.stats.Deliveries++
		s.stats.Duplicates++
		s.mu.Unlock()
		_, _ = s.deliver(a)
	}()
}

// begin snapshots the attempt's request and counts it; nil if the task was
// deleted while waiting for a worker.
func (s *Server) begin(t *task) *attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.done {
		s.release(t.q)
		return nil
	}
	now := s.now()
	h := http.Header{}
	for k, v := range t.req.Headers {
		h.Set(k, v)
	}
	h.Set("User-Agent", "Google-Cloud-Tasks")
	h.Set("X-CloudTasks-QueueName", t.q.id)
	h.Set("X-CloudTasks-TaskName", t.id)
	h.Set("X-CloudTasks-TaskRetryCount", strconv.Itoa(t.dispatches))
	h.Set("X-CloudTasks-TaskExecutionCount", strconv.Itoa(t.responses))
	h.Set("X-CloudTasks-TaskETA", strconv.FormatFloat(float64(t.schedule.UnixMicro())/1e6, 'f', 6, 64))
	if t.last != nil && t.last.ResponseStatus != nil {
		h.Set("X-CloudTasks-TaskPreviousResponse", t.last.ResponseStatus.Message)
	}
	if t.dispatches > 0 {
		s.stats.Retries++
	} else {
		t.firstAt = now
	}
	t.dispatches++
	s.stats.Deliveries++
	return &attempt{
		method: t.req.HttpMethod.String(), url: t.req.Url, header: h, body: t.req.Body,
		oidc: t.req.GetOidcToken(), deadline: t.deadline, schedule: t.schedule, dispatch: now, dup: t.dup, dupAfter: t.dupAfter,
	}
}

// deliver sends the attempt with a fresh OIDC token and returns the HTTP
// status, or an error when no response came back.
func (s *Server) deliver(a *attempt) (int, error) {
	ctx, cancel := context.WithTimeout(s.ctx, a.deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, a.method, a.url, bytes.NewReader(a.body))
	if err != nil {
		return 0, fmt.Errorf("http.NewRequest: %w", err)
	}
	req.Header = a.header.Clone()
	if a.oidc != nil {
		aud := a.oidc.GetAudience()
		if aud == "" {
			aud = a.url
		}
		tok, err := s.sign.mint(oidcClaims(a.oidc.GetServiceAccountEmail(), aud, s.now()))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("http.Client.Do: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseRead))
	return resp.StatusCode, nil
}

// end records an attempt's outcome: done on 2xx, else a retry after the
// queue's backoff, or drop once the retry budget is spent.
func (s *Server) end(t *task, a *attempt, code int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.release(t.q)
	if s.ctx.Err() != nil {
		return
	}
	now := s.now()
	st := responseStatus(code, err)
	t.last = &cloudtaskspb.Attempt{
		ScheduleTime: timestamppb.New(a.schedule), DispatchTime: timestamppb.New(a.dispatch),
		ResponseTime: timestamppb.New(now), ResponseStatus: st.Proto(),
	}
	if t.first == nil {
		t.first = &cloudtaskspb.Attempt{ScheduleTime: t.last.ScheduleTime, DispatchTime: t.last.DispatchTime}
	}
	if err == nil {
		t.responses++
	}
	s.log.Info("tasksfake delivery", "task", t.String(), "attempt", t.dispatches, "status", code, "error", err)
	switch {
	case t.done: // deleted while in flight
	case err == nil && code/100 == 2:
		s.stats.Succeeded++
		s.finish(t)
	case exhausted(t.q.pb.RetryConfig, t, now):
		s.stats.Failed++
		s.finish(t)
	default:
		t.schedule = now.Add(backoff(t.q.pb.RetryConfig, t.dispatches))
		t.at = t.schedule
		heap.Push(&s.due, t)
		s.poke()
	}
}

// release frees a concurrency slot of q and lets one held task go; s.mu held.
func (s *Server) release(q *queueState) {
	q.inflight--
	if len(q.waiting) == 0 {
		return
	}
	w := q.waiting[0]
	q.waiting = q.waiting[1:]
	w.at = s.now()
	heap.Push(&s.due, w)
	s.poke()
}

// responseStatus maps an attempt's HTTP outcome to a google.rpc.Status, as
// Attempt.response_status reports it.
func responseStatus(code int, err error) *status.Status {
	if err != nil {
		return status.New(codes.Unavailable, err.Error())
	}
	c := codes.Unknown
	switch {
	case code/100 == 2:
		c = codes.OK
	case code == http.StatusBadRequest:
		c = codes.InvalidArgument
	case code == http.StatusUnauthorized:
		c = codes.Unauthenticated
	case code == http.StatusForbidden:
		c = codes.PermissionDenied
	case code == http.StatusNotFound:
		c = codes.NotFound
	case code == http.StatusConflict:
		c = codes.Aborted
	case code == http.StatusTooManyRequests:
		c = codes.ResourceExhausted
	case code == http.StatusServiceUnavailable:
		c = codes.Unavailable
	case code == http.StatusGatewayTimeout:
		c = codes.DeadlineExceeded
	case code/100 == 4:
		c = codes.FailedPrecondition
	case code/100 == 5:
		c = codes.Internal
	}
	return status.New(c, http.StatusText(code))
}
