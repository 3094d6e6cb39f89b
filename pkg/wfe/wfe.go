// Package wfe is acmera's web front end: the RFC 8555 HTTP resources on
// echo, JWS authentication (go-jose), replay nonces, POST-as-GET, and the
// Replay-Nonce, Link, Location and Retry-After headers. It converts every
// failure to an RFC 8555 problem document exactly once, here; internal
// detail is logged, never sent.
package wfe

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/acmera/acmera/pkg/metrics"
	"github.com/acmera/acmera/pkg/nonce"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/ra"
)

// Config holds the WFE's dependencies and settings.
type Config struct {
	RA     *ra.RA
	Nonces *nonce.Service
	// BaseURL is the external URL clients use (scheme://host[:port]),
	// without a trailing slash. Empty derives it from each request's Host
	// and scheme, which suits the embedded default.
	BaseURL string
	// MaxBodyBytes bounds a request body; default 64 KiB.
	MaxBodyBytes int64
	// Logger receives one line per failed request's internal error.
	Logger *slog.Logger
	// RetryAfterSeconds is sent on processing resources; default 1.
	RetryAfterSeconds int
	// TrustedProxies are the addresses of the proxies in front of this
	// server that append the address they received a request from to
	// X-Forwarded-For (Cloud Run's front end, a load balancer). The client
	// address, the key of the new-accounts rate limit, is the nearest
	// address in X-Forwarded-For that is not one of them, read only when
	// the connection itself comes from one; with none, the header is
	// ignored and the client is the connection's peer. Any client can
	// write X-Forwarded-For, so only proxies named here are believed.
	TrustedProxies []netip.Prefix
	// TermsOfService and Website are the directory's meta URLs (RFC 8555
	// §7.1.1); empty leaves them out.
	TermsOfService, Website string
	// Metrics counts requests whose JWS carries no nonce (the nonce
	// service counts the others it rejects); nil records nothing.
	Metrics *metrics.Metrics
}

// WFE serves the ACME API.
type WFE struct {
	ra         *ra.RA
	nonces     *nonce.Service
	base       string
	tos, site  string
	maxBody    int64
	log        *slog.Logger
	retryAfter string
	echo       *echo.Echo
	keys       *keyCache
	metrics    *metrics.Metrics
}

// New returns a WFE.
func New(cfg Config) (*WFE, error) {
	if cfg.RA == nil || cfg.Nonces == nil {
		return nil, errors.New("wfe: RA and Nonces are required")
	}
	w := &WFE{ra: cfg.RA, nonces: cfg.Nonces, base: strings.TrimSuffix(cfg.BaseURL, "/"),
		maxBody: cfg.MaxBodyBytes, log: cfg.Logger, retryAfter: "1", keys: newKeyCache(100_000),
		tos: cfg.TermsOfService, site: cfg.Website, metrics: cfg.Metrics}
	if w.maxBody <= 0 {
		w.maxBody = 64 << 10
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	if cfg.RetryAfterSeconds > 0 {
		w.retryAfter = strconv.Itoa(cfg.RetryAfterSeconds)
	}
	w.echo = w.routes()
	w.echo.IPExtractor = clientIP(cfg.TrustedProxies)
	return w, nil
}

// clientIP returns how echo's RealIP finds the client address: always set,
// since echo's fallback believes X-Forwarded-For from anyone.
func clientIP(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// ServeHTTP implements http.Handler.
func (w *WFE) ServeHTTP(rw http.ResponseWriter, r *http.Request) { w.echo.ServeHTTP(rw, r) }

// Paths of the resources under /acme/{profile}.
const (
	pathDirectory  = "/directory"
	pathNewNonce   = "/new-nonce"
	pathNewAccount = "/new-account"
	pathNewOrder   = "/new-order"
	pathRevoke     = "/revoke-cert"
	pathKeyChange  = "/key-change"
	pathAccount    = "/account/"
	pathOrder      = "/order/"
	pathAuthz      = "/authz/"
	pathChallenge  = "/chall/"
	pathCert       = "/cert/"
	pathRenewal    = "/renewal-info/"
)

func (w *WFE) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = w.httpError
	p := "/acme/:profile"
	// Handlers are wrapped one by one rather than through Group.Use, whose
	// catch-all route would turn a wrong method into 404 instead of 405.
	add := func(method, path string, h echo.HandlerFunc) { e.Add(method, p+path, w.common(h)) }
	add(http.MethodGet, pathDirectory, w.directory)
	add(http.MethodHead, pathNewNonce, w.newNonce)
	add(http.MethodGet, pathNewNonce, w.newNonce)
	add(http.MethodGet, pathRenewal+":id", w.renewalInfo)
	for path, h := range map[string]echo.HandlerFunc{
		pathNewAccount: w.newAccount, pathAccount + ":id": w.account, pathAccount + ":id/orders": w.accountOrders,
		pathKeyChange: w.keyChange, pathNewOrder: w.newOrder, pathOrder + ":id": w.order,
		pathOrder + ":id/finalize": w.finalize, pathAuthz + ":id": w.authz,
		pathChallenge + ":authz/:chall": w.challenge, pathCert + ":id": w.certificate, pathRevoke: w.revoke,
	} {
		add(http.MethodPost, path, h)
	}
	return e
}

// common sets the headers every ACME response carries (RFC 8555 §6.5,
// §7.1): a fresh Replay-Nonce and the directory Link, after checking that
// the profile exists.
func (w *WFE) common(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		profile := c.Param("profile")
		h := c.Response().Header()
		h.Set("Replay-Nonce", w.nonces.Issue())
		h.Set("Cache-Control", "no-store")
		if w.ra.Policy().Profile(profile) == nil {
			return problem.NotFound("profile " + problem.Truncate(profile, 64))
		}
		h.Add("Link", link(w.url(c, profile, pathDirectory), "index"))
		return next(c)
	}
}

// httpError renders every error as a problem document.
func (w *WFE) httpError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			err = problem.NotFound("resource")
		case http.StatusMethodNotAllowed:
			err = problem.Malformedf("method %s is not allowed on this resource", c.Request().Method).WithStatus(http.StatusMethodNotAllowed)
		default:
			err = problem.Malformedf("%s", http.StatusText(he.Code)).WithStatus(he.Code)
		}
	}
	p, ok := problem.Of(err)
	if !ok {
		w.log.ErrorContext(c.Request().Context(), "internal error", "error", err.Error(),
			"method", c.Request().Method, "path", c.Request().URL.Path)
		p = problem.Internal()
	}
	if c.Response().Header().Get("Replay-Nonce") == "" {
		c.Response().Header().Set("Replay-Nonce", w.nonces.Issue())
	}
	w.writeProblem(c, p)
}

// retryAfter is a Retry-After value: whole seconds, rounded up (RFC 9110
// §10.2.3).
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

func (w *WFE) writeProblem(c echo.Context, p *problem.Problem) {
	st := p.Status
	if st == 0 {
		st = http.StatusBadRequest
	}
	c.Response().Header().Set(echo.HeaderContentType, problem.ContentType)
	if p.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", retryAfter(p.RetryAfter))
	}
	if err := c.JSON(st, p); err != nil {
		w.log.WarnContext(c.Request().Context(), "writing problem", "error", err.Error())
	}
}

// baseURL is the external base URL for a request.
func (w *WFE) baseURL(r *http.Request) string {
	if w.base != "" {
		return w.base
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

// requestURL is the URL a JWS must name for this request (RFC 8555 §6.4).
func (w *WFE) requestURL(r *http.Request) string { return w.baseURL(r) + r.URL.Path }

// url builds the URL of a resource of a profile.
func (w *WFE) url(c echo.Context, profile string, parts ...string) string {
	var b strings.Builder
	b.WriteString(w.baseURL(c.Request()))
	b.WriteString("/acme/")
	b.WriteString(profile)
	for _, p := range parts {
		b.WriteString(p)
	}
	return b.String()
}

func link(url, rel string) string { return "<" + url + `>;rel="` + rel + `"` }
