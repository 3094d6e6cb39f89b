package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"google.golang.org/api/idtoken"

	"github.com/acmera/acmera/pkg/config"
	"github.com/acmera/acmera/pkg/store"
	"github.com/acmera/acmera/pkg/taskauth"
)

// iapIssuer is the iss of Cloud IAP's signed headers.
const iapIssuer = "https://cloud.google.com/iap"

// adminGate admits a request to the cloud /admin page: one with a Cloud
// IAP assertion for the configured audience, or one with a Google ID
// token of an allow-listed service account. Everything else is 401 (no
// credential) or 403 (a credential that is not allowed), with nothing of
// the page.
type adminGate struct {
	sas         []*taskauth.OIDC // one per allow-listed email
	iapAudience string
	iap         func(ctx context.Context, token, audience string) (*idtoken.Payload, error)
	log         *slog.Logger
}

// newAdminGate builds the gate of cfg; nil when /admin is not configured.
func newAdminGate(ctx context.Context, cfg *config.Cloud, log *slog.Logger) (*adminGate, error) {
	if len(cfg.AdminAllow) == 0 && cfg.AdminIAPAudience == "" {
		return nil, nil
	}
	g := &adminGate{iapAudience: cfg.AdminIAPAudience, log: log}
	for _, email := range cfg.AdminAllow {
		v, err := taskauth.New(ctx, taskauth.Config{Audience: cfg.AdminAudience, ServiceAccount: email, JWKSURL: cfg.OIDCJWKSURL})
		if err != nil {
			return nil, fmt.Errorf("ACMERA_ADMIN_ALLOW: taskauth.New: %w", err)
		}
		g.sas = append(g.sas, v)
	}
	if g.iapAudience != "" {
		g.iap = idtoken.Validate // ES256 IAP keys from gstatic.com
	}
	return g, nil
}

// allow reports the status to refuse r with, 0 to admit it.
func (g *adminGate) allow(r *http.Request) int {
	if a := r.Header.Get("x-goog-iap-jwt-assertion"); a != "" && g.iap != nil {
		p, err := g.iap(r.Context(), a, g.iapAudience)
		if err == nil && p.Issuer == iapIssuer {
			g.log.InfoContext(r.Context(), "admin page", "event", "admin.page", "via", "iap", "actor", p.Claims["email"])
			return 0
		}
		g.log.WarnContext(r.Context(), "admin page: IAP assertion refused", "error", fmt.Sprint(err))
		return http.StatusForbidden
	}
	if r.Header.Get("Authorization") == "" {
		return http.StatusUnauthorized
	}
	var first error
	for _, v := range g.sas {
		err := v.Verify(r.Context(), r)
		if err == nil {
			g.log.InfoContext(r.Context(), "admin page", "event", "admin.page", "via", "service account")
			return 0
		}
		if first == nil {
			first = err
		}
	}
	g.log.WarnContext(r.Context(), "admin page: token refused", "error", fmt.Sprint(first))
	switch st := taskauth.Status(first); st {
	case http.StatusUnauthorized, http.StatusServiceUnavailable:
		return st
	}
	return http.StatusForbidden
}

// withAdminPage serves the read-only admin page at /admin (and /admin/)
// behind g, and h everywhere else; with no gate /admin is h's (404).
func withAdminPage(h http.Handler, g *adminGate, l store.Lister, log *slog.Logger) http.Handler {
	if g == nil || l == nil {
		return h
	}
	page := adminPageHandler(l, log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/admin" && !strings.HasPrefix(r.URL.Path, "/admin/") {
			h.ServeHTTP(w, r)
			return
		}
		if st := g.allow(r); st != 0 {
			w.Header().Set("Cache-Control", "no-store")
			if st == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="acmera admin"`)
			}
			http.Error(w, http.StatusText(st), st)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/"
		page.ServeHTTP(w, r2)
	})
}
