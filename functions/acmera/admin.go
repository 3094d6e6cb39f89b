package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"time"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/store"
)

// adminSocketName is the embedded default's admin endpoint, a unix socket
// in its data directory (mode 0600, in a 0700 directory): bbolt holds the
// file's lock while the server runs, so `acmera eab` reaches the store
// through the server. It speaks HTTP with JSON bodies (core.EABKey);
// listed keys carry no secret. With ACMERA_PPROF=true it also serves
// net/http/pprof under /debug/pprof/ (off by default).
const adminSocketName = "admin.sock"

// adminDialTimeout bounds the CLI's attempt to reach the admin socket.
const adminDialTimeout = 2 * time.Second

// serveAdmin serves the admin endpoint on a unix socket at path until the
// returned function is called. A stale socket file (no one answers) is
// replaced; a live one is an error, since another server owns it. Each of
// routes adds handlers of its own (the operator's view: adminOpsRoutes);
// withProfiles adds net/http/pprof (ACMERA_PPROF).
func serveAdmin(path string, keys store.EABKeys, pol *policy.Policy, withProfiles bool, log *slog.Logger, routes ...func(*http.ServeMux)) (func(), error) {
	if c, err := net.DialTimeout("unix", path, 500*time.Millisecond); err == nil {
		_ = c.Close()
		return nil, fmt.Errorf("admin socket %s: another acmera answers on it", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("os.Remove(%s): %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("net.Listen(unix %s): %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("os.Chmod(%s): %w", path, err)
	}
	h := adminHandler(keys, pol, log, routes...)
	// A CPU profile or trace holds its response for ?seconds=N (default
	// 30), so with pprof on the write timeout leaves room for a minute.
	wt := 10 * time.Second
	if withProfiles {
		h = withPprof(h)
		wt = 70 * time.Second
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: wt}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("admin http.Server.Serve", "error", err.Error())
		}
	}()
	return func() {
		_ = srv.Close()
		<-done
		_ = os.Remove(path)
	}, nil
}

// adminHandler serves the EAB key operations of the admin endpoint, and
// whatever routes add.
func adminHandler(keys store.EABKeys, pol *policy.Policy, log *slog.Logger, routes ...func(*http.ServeMux)) http.Handler {
	mux := http.NewServeMux()
	for _, add := range routes {
		add(mux)
	}
	mux.HandleFunc("POST /eab/keys", func(w http.ResponseWriter, r *http.Request) {
		var k core.EABKey
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&k); err != nil {
			http.Error(w, "the body is not an EAB key: "+err.Error(), http.StatusBadRequest)
			return
		}
		if pol.Profile(k.Profile) == nil {
			http.Error(w, fmt.Sprintf("no profile %q is configured", k.Profile), http.StatusBadRequest)
			return
		}
		if err := keys.CreateEABKey(r.Context(), &k); err != nil {
			adminError(w, err)
			return
		}
		log.InfoContext(r.Context(), "EAB key created", "event", "eab.create", "eab_kid", k.KID, "profile", k.Profile,
			"allow", k.Allow, "reusable", k.Reusable)
		writeAdminJSON(w, http.StatusCreated, withoutSecret(&k))
	})
	mux.HandleFunc("GET /eab/keys", func(w http.ResponseWriter, r *http.Request) {
		list, err := keys.ListEABKeys(r.Context())
		if err != nil {
			adminError(w, err)
			return
		}
		out := make([]*core.EABKey, len(list))
		for i, k := range list {
			out[i] = withoutSecret(k)
		}
		writeAdminJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /eab/keys/{kid}", func(w http.ResponseWriter, r *http.Request) {
		k, err := keys.GetEABKey(r.Context(), r.PathValue("kid"))
		if err != nil {
			adminError(w, err)
			return
		}
		writeAdminJSON(w, http.StatusOK, withoutSecret(k))
	})
	mux.HandleFunc("POST /eab/keys/{kid}/revoke", func(w http.ResponseWriter, r *http.Request) {
		k, err := keys.RevokeEABKey(r.Context(), r.PathValue("kid"), time.Now())
		if err != nil {
			adminError(w, err)
			return
		}
		log.InfoContext(r.Context(), "EAB key revoked", "event", "eab.revoke", "eab_kid", k.KID, "profile", k.Profile)
		writeAdminJSON(w, http.StatusOK, withoutSecret(k))
	})
	return mux
}

// withPprof adds net/http/pprof's handlers under /debug/pprof/ to h, on
// the admin socket's own mux. (Importing net/http/pprof also registers
// them on http.DefaultServeMux, which no acmera server serves: the ACME
// listener and the cloud functions have muxes of their own.)
func withPprof(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func withoutSecret(k *core.EABKey) *core.EABKey {
	c := *k
	c.HMAC = nil
	return &c
}

func adminError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		http.Error(w, "not found", http.StatusNotFound)
	case errors.Is(err, store.ErrConflict):
		http.Error(w, "conflict", http.StatusConflict)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// adminClient is store.EABKeys over a running server's admin socket.
type adminClient struct {
	hc *http.Client
}

var _ store.EABKeys = (*adminClient)(nil)

// dialAdmin returns a client of the admin socket at path if a server
// answers on it, and nil if none does.
func dialAdmin(path string) *adminClient {
	c, err := net.DialTimeout("unix", path, adminDialTimeout)
	if err != nil {
		return nil
	}
	_ = c.Close()
	d := net.Dialer{Timeout: adminDialTimeout}
	return &adminClient{hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "unix", path) },
	}}}
}

// do sends one request; want is the success status, out (if not nil)
// receives the JSON answer. 404 and 409 become the store's errors.
func (c *adminClient) do(ctx context.Context, method, path string, in any, want int, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("json.Marshal: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://acmera-admin"+path, body)
	if err != nil {
		return fmt.Errorf("http.NewRequest: %w", err)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("admin socket: reading the answer: %w", err)
	}
	switch res.StatusCode {
	case want:
	case http.StatusNotFound:
		return store.ErrNotFound
	case http.StatusConflict:
		return store.ErrConflict
	default:
		return fmt.Errorf("admin socket: %s %s: %s: %s", method, path, res.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("admin socket: json.Unmarshal: %w", err)
	}
	return nil
}

func (c *adminClient) CreateEABKey(ctx context.Context, k *core.EABKey) error {
	return c.do(ctx, http.MethodPost, "/eab/keys", k, http.StatusCreated, nil)
}

func (c *adminClient) GetEABKey(ctx context.Context, kid string) (*core.EABKey, error) {
	var k core.EABKey
	if err := c.do(ctx, http.MethodGet, "/eab/keys/"+url.PathEscape(kid), nil, http.StatusOK, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

func (c *adminClient) ListEABKeys(ctx context.Context) ([]*core.EABKey, error) {
	var out []*core.EABKey
	if err := c.do(ctx, http.MethodGet, "/eab/keys", nil, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// RevokeEABKey revokes at the server's time; at is not sent.
func (c *adminClient) RevokeEABKey(ctx context.Context, kid string, _ time.Time) (*core.EABKey, error) {
	var k core.EABKey
	if err := c.do(ctx, http.MethodPost, "/eab/keys/"+url.PathEscape(kid)+"/revoke", nil, http.StatusOK, &k); err != nil {
		return nil, err
	}
	return &k, nil
}
