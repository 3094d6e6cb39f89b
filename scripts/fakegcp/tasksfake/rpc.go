package tasksfake

import (
	"container/heap"
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// CreateQueue creates a queue under a location; AlreadyExists if taken.
func (s *Server) CreateQueue(_ context.Context, req *cloudtaskspb.CreateQueueRequest) (*cloudtaskspb.Queue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.injected("CreateQueue"); err != nil {
		return nil, err
	}
	if !locationRE.MatchString(req.GetParent()) {
		return nil, status.Errorf(codes.InvalidArgument, "invalid parent %q", req.GetParent())
	}
	q := req.GetQueue()
	if q == nil || !strings.HasPrefix(q.GetName(), req.GetParent()+queueNameSeparator) {
		return nil, status.Error(codes.InvalidArgument, "queue.name must be {parent}/queues/{queue_id}")
	}
	id, err := splitQueueName(q.GetName())
	if err != nil {
		return nil, err
	}
	if _, ok := s.queues[q.GetName()]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "queue %q already exists", q.GetName())
	}
	full := withQueueDefaults(q)
	if err := validateRetry(full.RetryConfig); err != nil {
		return nil, err
	}
	s.addQueue(id, full)
	return proto.Clone(full).(*cloudtaskspb.Queue), nil
}

// addQueue records a queue; s.mu held.
func (s *Server) addQueue(id string, q *cloudtaskspb.Queue) *queueState {
	qs := &queueState{
		pb: q, id: id, tasks: map[string]*task{}, released: map[string]time.Time{},
		tokens: float64(q.RateLimits.MaxBurstSize), refilled: s.now(),
	}
	s.queues[q.Name] = qs
	return qs
}

// GetQueue returns a queue; NotFound when absent.
func (s *Server) GetQueue(_ context.Context, req *cloudtaskspb.GetQueueRequest) (*cloudtaskspb.Queue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.injected("GetQueue"); err != nil {
		return nil, err
	}
	if _, err := splitQueueName(req.GetName()); err != nil {
		return nil, err
	}
	q, ok := s.queues[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "queue %q not found", req.GetName())
	}
	return proto.Clone(q.pb).(*cloudtaskspb.Queue), nil
}

// CreateTask adds an HTTP task to a queue. A name in use, or used by a task
// that completed or was deleted within NameReuseWindow, is AlreadyExists.
func (s *Server) CreateTask(_ context.Context, req *cloudtaskspb.CreateTaskRequest) (*cloudtaskspb.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.CreateTask++
	if err := s.injected("CreateTask"); err != nil {
		return nil, err
	}
	q, err := s.queueFor(req.GetParent())
	if err != nil {
		return nil, err
	}
	t, err := s.newTask(q, req.GetTask())
	if err != nil {
		return nil, err
	}
	if s.nameTaken(q, t.name) {
		s.stats.AlreadyExists++
		return nil, status.Errorf(codes.AlreadyExists, "task %q already exists or was used recently", t.name)
	}
	if s.dupNext > 0 {
		s.dupNext--
		t.dup, t.dupAfter = true, s.dupAfter
	}
	q.tasks[t.name] = t
	t.at = t.schedule
	heap.Push(&s.due, t)
	s.poke()
	return t.proto(req.GetResponseView()), nil
}

// queueFor finds the parent queue of a new task; s.mu held.
func (s *Server) queueFor(parent string) (*queueState, error) {
	id, err := splitQueueName(parent)
	if err != nil {
		return nil, err
	}
	if q, ok := s.queues[parent]; ok {
		return q, nil
	}
	if !s.cfg.AutoCreateQueues {
		return nil, status.Errorf(codes.NotFound, "queue %q not found", parent)
	}
	return s.addQueue(id, withQueueDefaults(&cloudtaskspb.Queue{Name: parent})), nil
}

// nameTaken reports whether name is live or still tombstoned; s.mu held.
func (s *Server) nameTaken(q *queueState, name string) bool {
	if _, ok := q.tasks[name]; ok {
		return true
	}
	at, ok := q.released[name]
	if !ok {
		return false
	}
	if s.now().Sub(at) < s.cfg.NameReuseWindow {
		return true
	}
	delete(q.released, name)
	return false
}

// newTask checks a requested task and builds its state; s.mu held.
func (s *Server) newTask(q *queueState, pt *cloudtaskspb.Task) (*task, error) {
	if pt == nil {
		return nil, status.Error(codes.InvalidArgument, "task is required")
	}
	hr := pt.GetHttpRequest()
	if hr == nil {
		return nil, status.Error(codes.InvalidArgument, "tasksfake: only http_request tasks are supported")
	}
	hr, err := checkHTTPRequest(hr)
	if err != nil {
		return nil, err
	}
	now := s.now()
	t := &task{q: q, req: hr, created: now, schedule: now, deadline: defaultDeadline, idx: -1}
	if err := s.nameTask(t, q, pt.GetName()); err != nil {
		return nil, err
	}
	if st := pt.GetScheduleTime(); st != nil {
		if t.schedule = st.AsTime(); t.schedule.Sub(now) > maxScheduleAhead {
			return nil, status.Error(codes.InvalidArgument, "schedule_time is more than 30 days ahead")
		}
	}
	if dd := pt.GetDispatchDeadline(); dd != nil {
		if t.deadline = dd.AsDuration(); t.deadline < minDeadline || t.deadline > maxDeadline {
			return nil, status.Error(codes.InvalidArgument, "dispatch_deadline must be within [15s, 30m]")
		}
	}
	s.seq++
	t.seq = s.seq
	return t, nil
}

// nameTask sets the task's name, generating an ID when none was given.
func (s *Server) nameTask(t *task, q *queueState, name string) error {
	if name == "" {
		id, err := s.randomID()
		if err != nil {
			return status.Errorf(codes.Internal, "generate task id: %v", err)
		}
		t.id, t.name = id, q.pb.Name+taskNameSeparator+id
		return nil
	}
	qn, id, err := splitTaskName(name)
	if err != nil {
		return err
	}
	if qn != q.pb.Name {
		return status.Errorf(codes.InvalidArgument, "task %q is not in queue %q", name, q.pb.Name)
	}
	t.id, t.name = id, name
	return nil
}

// randomID makes a numeric task ID like the ones the service generates.
func (s *Server) randomID() (string, error) {
	b := make([]byte, generatedTaskIDDigit)
	if _, err := s.cfg.Rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b), nil
}

// checkHTTPRequest validates an HttpRequest target and returns a normalized
// copy: method defaults to POST; headers the service owns are dropped.
func checkHTTPRequest(hr *cloudtaskspb.HttpRequest) (*cloudtaskspb.HttpRequest, error) {
	u, err := url.Parse(hr.GetUrl())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, status.Errorf(codes.InvalidArgument, "http_request.url must be an absolute http(s) URL: %q", hr.GetUrl())
	}
	if hr.GetOauthToken() != nil {
		return nil, status.Error(codes.InvalidArgument, "tasksfake: oauth_token is not supported; use oidc_token")
	}
	out := proto.Clone(hr).(*cloudtaskspb.HttpRequest)
	if out.HttpMethod == cloudtaskspb.HttpMethod_HTTP_METHOD_UNSPECIFIED {
		out.HttpMethod = cloudtaskspb.HttpMethod_POST
	}
	switch out.HttpMethod {
	case cloudtaskspb.HttpMethod_POST, cloudtaskspb.HttpMethod_PUT, cloudtaskspb.HttpMethod_PATCH:
	default:
		if len(out.Body) > 0 {
			return nil, status.Error(codes.InvalidArgument, "http_request.body is allowed only with POST, PUT or PATCH")
		}
	}
	hdr := map[string]string{}
	for k, v := range out.Headers {
		ck := http.CanonicalHeaderKey(k)
		switch {
		case ck == "Host", ck == "Content-Length", ck == "Authorization",
			strings.HasPrefix(ck, "X-Google-"), strings.HasPrefix(ck, "X-Appengine-"),
			strings.HasPrefix(ck, "X-Cloudtasks-"):
			continue
		}
		hdr[ck] = v
	}
	if _, ok := hdr["Content-Type"]; !ok && len(out.Body) > 0 {
		hdr["Content-Type"] = "application/octet-stream"
	}
	out.Headers = hdr
	return out, nil
}

// GetTask returns a live task; NotFound once it completed or was deleted.
func (s *Server) GetTask(_ context.Context, req *cloudtaskspb.GetTaskRequest) (*cloudtaskspb.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.injected("GetTask"); err != nil {
		return nil, err
	}
	t, err := s.liveTask(req.GetName())
	if err != nil {
		return nil, err
	}
	return t.proto(req.GetResponseView()), nil
}

// DeleteTask removes a live task; its name stays taken for NameReuseWindow.
func (s *Server) DeleteTask(_ context.Context, req *cloudtaskspb.DeleteTaskRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.injected("DeleteTask"); err != nil {
		return nil, err
	}
	t, err := s.liveTask(req.GetName())
	if err != nil {
		return nil, err
	}
	s.due.remove(t)
	s.finish(t)
	return &emptypb.Empty{}, nil
}

// liveTask looks a task up by full name; s.mu held.
func (s *Server) liveTask(name string) (*task, error) {
	qn, _, err := splitTaskName(name)
	if err != nil {
		return nil, err
	}
	q, ok := s.queues[qn]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "queue %q not found", qn)
	}
	t, ok := q.tasks[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "task %q not found", name)
	}
	return t, nil
}

// finish ends a task's life (done, deleted or dropped) and tombstones its
// name; s.mu held.
func (s *Server) finish(t *task) {
	if t.done {
		return
	}
	t.done = true
	delete(t.q.tasks, t.name)
	t.q.released[t.name] = s.now()
	for i, w := range t.q.waiting {
		if w == t {
			t.q.waiting = append(t.q.waiting[:i], t.q.waiting[i+1:]...)
			break
		}
	}
}
