package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/ra"
	"github.com/acmera/acmera/pkg/store"
)

// operator is what `acmera admin` and the admin page need: the store's
// listings and stuck work, and the RA's admin transitions. raOperator
// implements it in the process that holds the store; adminClient over the
// running server's admin socket.
type operator interface {
	store.Lister
	// Stuck lists the work left processing (store.Recoverer).
	Stuck(ctx context.Context) (*stuckWork, error)
	// Revoke revokes through the RA and the CA backend (ra.AdminRevoke).
	Revoke(ctx context.Context, req ra.AdminRevokeRequest) (*core.Certificate, error)
	// Deactivate deactivates an account (ra.AdminDeactivateAccount).
	Deactivate(ctx context.Context, id, actor string) (*core.Account, error)
}

// stuckWork is the work store.Recoverer lists: challenges and orders left
// processing.
type stuckWork struct {
	Challenges [][2]string `json:"challenges"`
	Orders     []string    `json:"orders"`
}

// raOperator is operator over a store and an RA. The RA is built on first
// use (newRA), so that listing never needs the CA backends.
type raOperator struct {
	lister store.Lister
	rec    store.Recoverer
	newRA  func() (*ra.RA, error)
	r      *ra.RA
}

var _ operator = (*raOperator)(nil)

func (o *raOperator) ListCertificates(ctx context.Context, f store.CertificateFilter) ([]*core.Certificate, error) {
	return o.lister.ListCertificates(ctx, f)
}

func (o *raOperator) ListAccounts(ctx context.Context, limit int) ([]*core.Account, error) {
	return o.lister.ListAccounts(ctx, limit)
}

func (o *raOperator) ListInvalidOrders(ctx context.Context, limit int) ([]*core.Order, error) {
	return o.lister.ListInvalidOrders(ctx, limit)
}

func (o *raOperator) Stuck(ctx context.Context) (*stuckWork, error) {
	chs, err := o.rec.ProcessingChallenges(ctx)
	if err != nil {
		return nil, fmt.Errorf("store.ProcessingChallenges: %w", err)
	}
	orders, err := o.rec.ProcessingOrders(ctx)
	if err != nil {
		return nil, fmt.Errorf("store.ProcessingOrders: %w", err)
	}
	return &stuckWork{Challenges: chs, Orders: orders}, nil
}

func (o *raOperator) ra() (*ra.RA, error) {
	if o.r != nil {
		return o.r, nil
	}
	r, err := o.newRA()
	if err != nil {
		return nil, err
	}
	o.r = r
	return r, nil
}

func (o *raOperator) Revoke(ctx context.Context, req ra.AdminRevokeRequest) (*core.Certificate, error) {
	r, err := o.ra()
	if err != nil {
		return nil, err
	}
	return r.AdminRevoke(ctx, req)
}

func (o *raOperator) Deactivate(ctx context.Context, id, actor string) (*core.Account, error) {
	r, err := o.ra()
	if err != nil {
		return nil, err
	}
	return r.AdminDeactivateAccount(ctx, id, actor)
}

// commandQueue is the task queue of an RA built by a command: admin
// revocation and deactivation queue no task, so any Enqueue is a bug.
type commandQueue struct{}

func (commandQueue) Enqueue(context.Context, queue.Task) error {
	return errors.New("acmera admin: a command has no task queue")
}

// adminOpsRoutes serves ops on the admin socket: the listings as JSON
// (core types; certificates with their chains, accounts with their public
// keys) and the two transitions, which name their operator in the body.
func adminOpsRoutes(ops operator) func(*http.ServeMux) {
	return func(mux *http.ServeMux) {
		mux.HandleFunc("GET /admin/certificates", func(w http.ResponseWriter, r *http.Request) {
			f, err := filterFromQuery(r.URL.Query(), time.Now())
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			list, err := ops.ListCertificates(r.Context(), f)
			answer(w, list, err)
		})
		mux.HandleFunc("GET /admin/accounts", func(w http.ResponseWriter, r *http.Request) {
			limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
			if err != nil {
				http.Error(w, "limit: "+err.Error(), http.StatusBadRequest)
				return
			}
			list, err := ops.ListAccounts(r.Context(), limit)
			answer(w, list, err)
		})
		mux.HandleFunc("GET /admin/orders/invalid", func(w http.ResponseWriter, r *http.Request) {
			limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
			if err != nil {
				http.Error(w, "limit: "+err.Error(), http.StatusBadRequest)
				return
			}
			list, err := ops.ListInvalidOrders(r.Context(), limit)
			answer(w, list, err)
		})
		mux.HandleFunc("GET /admin/stuck", func(w http.ResponseWriter, r *http.Request) {
			s, err := ops.Stuck(r.Context())
			answer(w, s, err)
		})
		mux.HandleFunc("POST /admin/certificates/{serial}/revoke", func(w http.ResponseWriter, r *http.Request) {
			var req ra.AdminRevokeRequest
			if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&req); err != nil {
				http.Error(w, "the body is not a revocation: "+err.Error(), http.StatusBadRequest)
				return
			}
			req.Serial = r.PathValue("serial")
			c, err := ops.Revoke(r.Context(), req)
			answer(w, c, err)
		})
		mux.HandleFunc("POST /admin/accounts/{id}/deactivate", func(w http.ResponseWriter, r *http.Request) {
			var req struct{ Actor string }
			if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&req); err != nil {
				http.Error(w, "the body is not a deactivation: "+err.Error(), http.StatusBadRequest)
				return
			}
			a, err := ops.Deactivate(r.Context(), r.PathValue("id"), req.Actor)
			answer(w, a, err)
		})
	}
}

// answer writes v as JSON, or err as the admin socket's status: a
// problem's own status (alreadyRevoked as 409), the store's errors as
// adminError does.
func answer(w http.ResponseWriter, v any, err error) {
	var p *problem.Problem
	switch {
	case err == nil:
		writeAdminJSON(w, http.StatusOK, v)
	case errors.As(err, &p) && p.Type == problem.AlreadyRevoked:
		http.Error(w, p.Detail, http.StatusConflict)
	case errors.As(err, &p) && p.Status == http.StatusNotFound:
		http.Error(w, p.Detail, http.StatusNotFound)
	case errors.As(err, &p):
		http.Error(w, p.Detail, http.StatusBadRequest)
	default:
		adminError(w, err)
	}
}

// filterQuery is f as the admin socket's query string.
func filterQuery(f store.CertificateFilter) url.Values {
	q := url.Values{"limit": {strconv.Itoa(f.Limit)}}
	for k, v := range map[string]string{"account": f.AccountID, "serial": f.Serial, "name": f.Name} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Revoked {
		q.Set("revoked", "true")
	}
	if !f.ExpiringBefore.IsZero() {
		q.Set("expiringBefore", f.ExpiringBefore.UTC().Format(time.RFC3339Nano))
		q.Set("now", f.Now.UTC().Format(time.RFC3339Nano))
	}
	return q
}

// filterFromQuery reads filterQuery's form back.
func filterFromQuery(q url.Values, now time.Time) (store.CertificateFilter, error) {
	f := store.CertificateFilter{AccountID: q.Get("account"), Serial: q.Get("serial"), Name: q.Get("name"),
		Revoked: q.Get("revoked") == "true"}
	var err error
	if f.Limit, err = strconv.Atoi(q.Get("limit")); err != nil {
		return f, fmt.Errorf("limit: %w", err)
	}
	if v := q.Get("expiringBefore"); v != "" {
		if f.ExpiringBefore, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return f, fmt.Errorf("expiringBefore: %w", err)
		}
		f.Now = now
		if v := q.Get("now"); v != "" {
			if f.Now, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return f, fmt.Errorf("now: %w", err)
			}
		}
	}
	return f, f.Check()
}

var _ operator = (*adminClient)(nil)

func (c *adminClient) ListCertificates(ctx context.Context, f store.CertificateFilter) ([]*core.Certificate, error) {
	var out []*core.Certificate
	err := c.do(ctx, http.MethodGet, "/admin/certificates?"+filterQuery(f).Encode(), nil, http.StatusOK, &out)
	return out, err
}

func (c *adminClient) ListAccounts(ctx context.Context, limit int) ([]*core.Account, error) {
	var out []*core.Account
	err := c.do(ctx, http.MethodGet, "/admin/accounts?limit="+strconv.Itoa(limit), nil, http.StatusOK, &out)
	return out, err
}

func (c *adminClient) ListInvalidOrders(ctx context.Context, limit int) ([]*core.Order, error) {
	var out []*core.Order
	err := c.do(ctx, http.MethodGet, "/admin/orders/invalid?limit="+strconv.Itoa(limit), nil, http.StatusOK, &out)
	return out, err
}

func (c *adminClient) Stuck(ctx context.Context) (*stuckWork, error) {
	var out stuckWork
	if err := c.do(ctx, http.MethodGet, "/admin/stuck", nil, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *adminClient) Revoke(ctx context.Context, req ra.AdminRevokeRequest) (*core.Certificate, error) {
	var out core.Certificate
	if err := c.do(ctx, http.MethodPost, "/admin/certificates/"+url.PathEscape(req.Serial)+"/revoke", req, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *adminClient) Deactivate(ctx context.Context, id, actor string) (*core.Account, error) {
	var out core.Account
	body := struct{ Actor string }{actor}
	if err := c.do(ctx, http.MethodPost, "/admin/accounts/"+url.PathEscape(id)+"/deactivate", body, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
