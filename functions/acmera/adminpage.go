package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

// The admin page: a read-only, server-rendered view for the operator of
// what was issued, what expires soon, what was revoked and which orders
// failed (with their problem documents). It runs no script and shows no
// secret: no chains, keys, contacts or EAB HMACs.
const (
	// adminPageRows bounds each table of the page.
	adminPageRows = 50
	// adminPageExpiring is the page's "expiring soon" window.
	adminPageExpiring = 7 * 24 * time.Hour
	// adminPageTimeout bounds the store reads of one page.
	adminPageTimeout = 10 * time.Second
)

// adminPageData is what the page shows.
type adminPageData struct {
	Title                     string
	Generated                 time.Time
	Issued, Expiring, Revoked []certListing
	Failures                  []failureRow
	ExpiringWithin            time.Duration
	Rows                      int
	IssuedMore, FailuresMore  bool
	ExpiringMore, RevokedMore bool
}

// failureRow is an invalid order and its problem.
type failureRow struct {
	Order, Account, Profile string
	Identifiers             []string
	Updated                 time.Time
	Problem                 *problem.Problem
}

var adminPageTemplate = template.Must(template.New("admin").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"join": func(s []string) string { return strings.Join(s, ", ") },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin-bottom:2em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#eee} code{font-size:.95em} .none{color:#777}
</style></head><body>
<h1>{{.Title}}</h1>
<p>Generated {{when .Generated}}; at most {{.Rows}} rows per table. Read-only.</p>
{{define "certs"}}{{if .}}<table><tr><th>Serial</th><th>Names</th><th>Account</th><th>Profile</th><th>Status</th><th>Not after</th><th>Issued</th></tr>
{{range .}}<tr><td><code>{{.Serial}}</code></td><td>{{join .Names}}</td><td><code>{{.Account}}</code></td><td>{{.Profile}}</td><td>{{.Status}}{{if .RevokedAt}} ({{when .RevokedAt.UTC}}, reason {{.Reason}}){{end}}</td><td>{{when .NotAfter}}</td><td>{{when .CreatedAt}}</td></tr>
{{end}}</table>{{else}}<p class="none">None.</p>{{end}}{{end}}
<h2 id="issued">Issued (recent)</h2>{{template "certs" .Issued}}{{if .IssuedMore}}<p class="none">More not shown: acmera admin certs.</p>{{end}}
<h2 id="expiring">Expiring within {{.ExpiringWithin}}</h2>{{template "certs" .Expiring}}{{if .ExpiringMore}}<p class="none">More not shown: acmera admin certs --expiring-within.</p>{{end}}
<h2 id="revoked">Revoked</h2>{{template "certs" .Revoked}}{{if .RevokedMore}}<p class="none">More not shown: acmera admin certs --revoked.</p>{{end}}
<h2 id="failures">Recent failures</h2>
{{if .Failures}}<table><tr><th>Order</th><th>Account</th><th>Profile</th><th>Identifiers</th><th>Failed</th><th>Problem</th></tr>
{{range .Failures}}<tr><td><code>{{.Order}}</code></td><td><code>{{.Account}}</code></td><td>{{.Profile}}</td><td>{{join .Identifiers}}</td><td>{{when .Updated}}</td>
<td>{{with .Problem}}<code>{{.Type}}</code>: {{.Detail}}{{if .Subproblems}}<ul>{{range .Subproblems}}<li>{{with .Identifier}}{{.Value}}: {{end}}<code>{{.Type}}</code>: {{.Detail}}</li>{{end}}</ul>{{end}}{{else}}<span class="none">no problem recorded</span>{{end}}</td></tr>
{{end}}</table>{{if .FailuresMore}}<p class="none">More not shown.</p>{{end}}{{else}}<p class="none">None.</p>{{end}}
</body></html>
`))

// loadAdminPage reads the page's data from l at now.
func loadAdminPage(ctx context.Context, l store.Lister, now time.Time) (*adminPageData, error) {
	d := &adminPageData{Title: "acmera: operator's view", Generated: now, ExpiringWithin: adminPageExpiring, Rows: adminPageRows}
	n := adminPageRows + 1 // one more, to tell that there are more
	certs := func(f store.CertificateFilter, more *bool) ([]certListing, error) {
		f.Limit = n
		list, err := l.ListCertificates(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("ListCertificates: %w", err)
		}
		if *more = len(list) > adminPageRows; *more {
			list = list[:adminPageRows]
		}
		rows := make([]certListing, len(list))
		for i, c := range list {
			rows[i] = certRow(c)
		}
		return rows, nil
	}
	var err error
	if d.Issued, err = certs(store.CertificateFilter{}, &d.IssuedMore); err != nil {
		return nil, err
	}
	if d.Expiring, err = certs(store.CertificateFilter{Now: now, ExpiringBefore: now.Add(adminPageExpiring)}, &d.ExpiringMore); err != nil {
		return nil, err
	}
	if d.Revoked, err = certs(store.CertificateFilter{Revoked: true}, &d.RevokedMore); err != nil {
		return nil, err
	}
	orders, err := l.ListInvalidOrders(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("ListInvalidOrders: %w", err)
	}
	if d.FailuresMore = len(orders) > adminPageRows; d.FailuresMore {
		orders = orders[:adminPageRows]
	}
	for _, o := range orders {
		d.Failures = append(d.Failures, failureOf(o))
	}
	return d, nil
}

func failureOf(o *core.Order) failureRow {
	r := failureRow{Order: o.ID, Account: o.AccountID, Profile: o.Profile, Updated: o.UpdatedAt, Problem: o.Error}
	for _, id := range o.Identifiers {
		r.Identifiers = append(r.Identifiers, id.Value)
	}
	return r
}

// adminPageHandler serves the page at GET / (and nothing else): rendered
// into a buffer first, so a failure is a clean 500 whose detail is only
// logged.
func adminPageHandler(l store.Lister, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), adminPageTimeout)
		defer cancel()
		d, err := loadAdminPage(ctx, l, time.Now())
		var buf bytes.Buffer
		if err == nil {
			err = adminPageTemplate.Execute(&buf, d)
		}
		if err != nil {
			log.ErrorContext(r.Context(), "admin page", "error", err.Error())
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		_, _ = w.Write(buf.Bytes())
	})
	return mux
}

// loopbackHostOnly refuses a request whose Host is not a loopback name or
// address (a page of another site that rebound its name to 127.0.0.1
// must not read this one).
func loopbackHostOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		if ip := net.ParseIP(strings.Trim(host, "[]")); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			http.Error(w, "the admin page answers only to a loopback host", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveAdminPage serves the page over plain HTTP on addr
// (ACMERA_ADMIN_ADDR, a loopback address checked by config.ReadEmbedded)
// until the returned function is called; none when addr is empty.
func serveAdminPage(addr string, l store.Lister, log *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ACMERA_ADMIN_ADDR: %w", err)
	}
	srv := &http.Server{Handler: loopbackHostOnly(adminPageHandler(l, log)), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("admin page http.Server.Serve", "error", err.Error())
		}
	}()
	log.Info("admin page", "addr", ln.Addr().String())
	return func() { _ = srv.Close(); <-done }, nil
}
