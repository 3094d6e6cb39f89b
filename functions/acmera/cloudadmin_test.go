package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// With neither ACMERA_ADMIN_ALLOW nor ACMERA_ADMIN_IAP_AUDIENCE, /admin is
// the ACME handler's (its 404); with a gate, a request with no
// credential is 401 and never reaches the page or the ACME handler.
func TestAdminPageGate(t *testing.T) {
	acme := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	log := slog.New(slog.DiscardHandler)
	rec := httptest.NewRecorder()
	withAdminPage(acme, nil, nil, log).ServeHTTP(rec, httptest.NewRequest("GET", "/admin", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("no gate: /admin %d, want the ACME handler's 404", rec.Code)
	}
	g := &adminGate{log: log}
	for _, path := range []string{"/admin", "/admin/x"} {
		rec = httptest.NewRecorder()
		withAdminPage(acme, g, stubLister{}, log).ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s without a credential: %d, want 401 with WWW-Authenticate", path, rec.Code)
		}
	}
	rec = httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/admin", nil)
	req.Header.Set("x-goog-iap-jwt-assertion", "forged")
	withAdminPage(acme, g, stubLister{}, log).ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("an IAP header when IAP is not configured: %d, want 401 (it is no credential here)", rec.Code)
	}
}

// stubLister lists nothing; the gate must refuse before it is asked.
type stubLister struct{}

func (stubLister) ListCertificates(context.Context, store.CertificateFilter) ([]*core.Certificate, error) {
	panic("the page was served to an unauthenticated request")
}
func (stubLister) ListAccounts(context.Context, int) ([]*core.Account, error) { return nil, nil }
func (stubLister) ListInvalidOrders(context.Context, int) ([]*core.Order, error) {
	panic("the page was served to an unauthenticated request")
}
