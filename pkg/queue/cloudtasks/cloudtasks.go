// Package cloudtasks implements queue.Enqueuer with Google Cloud Tasks:
// each queue.Task becomes an HTTP task that POSTs the task's JSON to the
// validator with an OIDC token for the queue's service account. The task
// is named from queue.Task.Name, so Cloud Tasks' AlreadyExists on a second
// enqueue of the same work is the de-duplication, and is not an error.
package cloudtasks

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	gcloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/acmera/acmera/pkg/queue"
)

// queueNameRE is the Cloud Tasks queue resource name.
var queueNameRE = regexp.MustCompile(`^projects/[A-Za-z0-9\-:.]{1,100}/locations/[A-Za-z0-9-]{1,100}/queues/[A-Za-z0-9-]{1,100}$`)

// Config names the queue and the target the tasks call.
type Config struct {
	// Queue is `projects/P/locations/L/queues/Q`.
	Queue string
	// TargetURL is the validator endpoint tasks POST to (absolute http(s)).
	TargetURL string
	// ServiceAccount is the email the OIDC token is minted for.
	ServiceAccount string
	// Audience is the OIDC token audience; default TargetURL.
	Audience string
	// Endpoint overrides the Cloud Tasks API endpoint (fakes, emulators).
	Endpoint string
}

// Validate reports the first missing or malformed field.
func (c Config) Validate() error {
	if !queueNameRE.MatchString(c.Queue) {
		return fmt.Errorf("cloudtasks: Queue %q is not projects/P/locations/L/queues/Q", c.Queue)
	}
	u, err := url.Parse(c.TargetURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("cloudtasks: TargetURL %q is not an absolute http(s) URL", c.TargetURL)
	}
	if c.ServiceAccount == "" {
		return errors.New("cloudtasks: ServiceAccount is required")
	}
	return nil
}

// Enqueuer creates Cloud Tasks HTTP tasks. Safe for concurrent use.
type Enqueuer struct {
	cfg    Config
	client *gcloudtasks.Client
}

var _ queue.Enqueuer = (*Enqueuer)(nil)

// New validates cfg and builds the Cloud Tasks client once; opts are
// appended after the endpoint override (so they can add credentials or
// transport settings).
func New(ctx context.Context, cfg Config, opts ...option.ClientOption) (*Enqueuer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Audience == "" {
		cfg.Audience = cfg.TargetURL
	}
	if cfg.Endpoint != "" {
		opts = append([]option.ClientOption{option.WithEndpoint(cfg.Endpoint)}, opts...)
	}
	c, err := gcloudtasks.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("cloudtasks.NewClient: %w", err)
	}
	return &Enqueuer{cfg: cfg, client: c}, nil
}

// Close releases the client's connections.
func (e *Enqueuer) Close() error {
	if err := e.client.Close(); err != nil {
		return fmt.Errorf("cloudtasks.Client.Close: %w", err)
	}
	return nil
}

// Enqueue creates the task `{queue}/tasks/{t.Name()}`. A task of that name
// already existing (or run recently) means the work is already scheduled:
// nil is returned.
func (e *Enqueuer) Enqueue(ctx context.Context, t queue.Task) error {
	if err := t.Validate(); err != nil {
		return err
	}
	body, err := t.Encode()
	if err != nil {
		return err
	}
	req := e.request(t.Name(), body)
	if t.After > 0 {
		req.Task.ScheduleTime = timestamppb.New(time.Now().Add(t.After))
	}
	_, err = e.client.CreateTask(ctx, req)
	if status.Code(err) == codes.AlreadyExists {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cloudtasks.CreateTask: %w", err)
	}
	return nil
}

// request builds the CreateTask request for one task.
func (e *Enqueuer) request(name string, body []byte) *cloudtaskspb.CreateTaskRequest {
	return &cloudtaskspb.CreateTaskRequest{
		Parent: e.cfg.Queue,
		Task: &cloudtaskspb.Task{
			Name: e.cfg.Queue + "/tasks/" + name,
			MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
				Url:        e.cfg.TargetURL,
				HttpMethod: cloudtaskspb.HttpMethod_POST,
				Headers:    map[string]string{"Content-Type": "application/json"},
				Body:       body,
				AuthorizationHeader: &cloudtaskspb.HttpRequest_OidcToken{OidcToken: &cloudtaskspb.OidcToken{
					ServiceAccountEmail: e.cfg.ServiceAccount,
					Audience:            e.cfg.Audience,
				}},
			}},
		},
	}
}
