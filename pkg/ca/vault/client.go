package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/problem"
)

// client makes Vault API calls with a cached token.
type client struct {
	base      string
	namespace string
	hc        *http.Client
	timeout   time.Duration
	auth      Auth

	mu      sync.Mutex
	tok     string
	renewAt time.Time // log in again from then on; zero: never
}

// apiError is a Vault answer other than 2xx: {"errors":["…"]}.
type apiError struct {
	status int
	path   string
	errs   []string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("vault: %s: HTTP %d: %s", e.path, e.status, strings.Join(e.errs, "; "))
}

// token returns a valid token, logging in when there is none or a third
// of its lifetime is left.
func (c *client) token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != "" && (c.renewAt.IsZero() || time.Now().Before(c.renewAt)) {
		return c.tok, nil
	}
	tok, ttl, err := c.auth.login(ctx, c)
	var ve *apiError
	switch {
	case errors.As(err, &ve) && (ve.status == http.StatusTooManyRequests || ve.status >= 500):
		return "", fmt.Errorf("vault: %s login: %w: %w", c.auth.name(), ca.ErrTransient, err)
	case errors.As(err, &ve):
		// Vault refused the credentials or the role: acmera's configuration.
		return "", fmt.Errorf("vault: %s login: %w: %w", c.auth.name(), ca.ErrMisconfigured, err)
	case err != nil:
		return "", fmt.Errorf("vault: %s login: %w", c.auth.name(), err)
	}
	c.tok, c.renewAt = tok, time.Time{}
	if ttl > 0 {
		c.renewAt = time.Now().Add(ttl * 2 / 3)
	}
	return tok, nil
}

// forget drops the cached token after Vault refused it.
func (c *client) forget(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == tok {
		c.tok = ""
	}
}

// loginAt posts credentials to an auth method's login path and returns
// the client token and its lease.
func (c *client) loginAt(ctx context.Context, path string, body map[string]any) (string, time.Duration, error) {
	var out struct {
		Auth struct {
			ClientToken   string `json:"client_token"`
			LeaseDuration int64  `json:"lease_duration"`
		} `json:"auth"`
	}
	if err := c.do(ctx, http.MethodPost, path, "", body, &out); err != nil {
		return "", 0, err
	}
	if out.Auth.ClientToken == "" {
		return "", 0, fmt.Errorf("vault: %s: no client_token in the answer", path)
	}
	return out.Auth.ClientToken, time.Duration(out.Auth.LeaseDuration) * time.Second, nil
}

// call makes an authenticated JSON call to /v1/path; a 403 that says the
// token is not valid (any more) logs in again once.
func (c *client) call(ctx context.Context, method, path string, body, out any) error {
	for attempt := 0; ; attempt++ {
		tok, err := c.token(ctx)
		if err != nil {
			return err
		}
		err = c.do(ctx, method, path, tok, body, out)
		var ve *apiError
		if attempt == 0 && errors.As(err, &ve) && ve.status == http.StatusForbidden {
			c.forget(tok)
			continue
		}
		return err
	}
}

// raw GETs /v1/path (an unauthenticated PEM endpoint such as ca_chain).
func (c *client) raw(ctx context.Context, path string) ([]byte, error) {
	status, b, err := c.send(ctx, http.MethodGet, path, "", nil, 1<<20)
	if err != nil {
		return nil, err
	}
	if status/100 != 2 {
		return nil, &apiError{status: status, path: path, errs: []string{problem.Truncate(string(b), 200)}}
	}
	return b, nil
}

// do makes a JSON call to /v1/path with token tok (none when empty) and
// decodes the answer into out (if not nil); a non-2xx answer is an
// *apiError with Vault's {"errors":[…]}.
func (c *client) do(ctx context.Context, method, path, tok string, body, out any) error {
	var rd []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("vault: json.Marshal: %w", err)
		}
		rd = b
	}
	status, b, err := c.send(ctx, method, path, tok, rd, 4<<20)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		ae := &apiError{status: status, path: path}
		var eb struct {
			Errors []string `json:"errors"`
		}
		if json.Unmarshal(b, &eb) == nil {
			ae.errs = eb.Errors
		}
		return ae
	}
	if out == nil || status == http.StatusNoContent || len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("vault: %s %s: json.Unmarshal: %w", method, path, err)
	}
	return nil
}

// send makes one request to /v1/path, bounded by the call timeout, and
// returns the status and at most limit bytes of the body; a network
// failure is transient.
func (c *client) send(ctx context.Context, method, path, tok string, body []byte, limit int64) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/v1/"+path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("vault: http.NewRequest: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("X-Vault-Token", tok)
	}
	if c.namespace != "" {
		req.Header.Set("X-Vault-Namespace", c.namespace)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("vault: %s %s: %w: %w", method, path, ca.ErrTransient, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, limit))
	if err != nil {
		return 0, nil, fmt.Errorf("vault: %s %s: read: %w: %w", method, path, ca.ErrTransient, err)
	}
	return res.StatusCode, b, nil
}

// classify maps a failed call onto the ca contract: 400 is the CA's
// permanent refusal of this request (Vault's message, which names the
// role's rule, is safe to show); 403 and 404 are acmera's configuration
// (policy, mount, role); 429, 5xx (a sealed or standby Vault) and network
// failures are transient.
func classify(op string, err error) error {
	var ve *apiError
	if !errors.As(err, &ve) {
		return fmt.Errorf("vault: %s: %w", op, err)
	}
	msg := strings.Join(ve.errs, "; ")
	switch {
	case ve.status == http.StatusBadRequest && strings.Contains(msg, "unknown role"):
		return fmt.Errorf("vault: %s: %w: %w", op, ca.ErrMisconfigured, err)
	case ve.status == http.StatusBadRequest:
		return &ca.RejectedError{Detail: "Vault refused the request: " + problem.Truncate(msg, 300)}
	case ve.status == http.StatusForbidden, ve.status == http.StatusNotFound, ve.status == http.StatusMethodNotAllowed:
		return fmt.Errorf("vault: %s: %w: %w", op, ca.ErrMisconfigured, err)
	case ve.status == http.StatusTooManyRequests, ve.status >= 500:
		return fmt.Errorf("vault: %s: %w: %w", op, ca.ErrTransient, err)
	}
	return fmt.Errorf("vault: %s: %w", op, err)
}
