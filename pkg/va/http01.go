package va

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/acmera/acmera/pkg/problem"
)

const (
	// maxRedirects is how many redirects http-01 follows (as Let's Encrypt does).
	maxRedirects = 10
	// maxBodyBytes is how much of the response body http-01 reads (it reads
	// one byte more to tell a larger body). A key authorization is under
	// 100 bytes; anything over this cannot match.
	maxBodyBytes = 4096
	userAgent    = "acmera-va (RFC 8555 §8.3)"
)

// httpFetcher is the HTTP transport http-01 uses, built once per Validator.
type httpFetcher struct {
	transport *http.Transport
}

// newHTTPFetcher builds a transport that dials only through the
// Validator's checked dialContext (no proxy, so it never resolves a name
// itself), never reuses connections, bounds each step by cfg.StepTimeout,
// and does not verify certificates on https redirects (the challenge
// response, not the certificate, proves control; Let's Encrypt does the
// same).
func newHTTPFetcher(v *Validator) httpFetcher {
	return httpFetcher{transport: &http.Transport{
		Proxy:       nil,
		DialContext: v.dialContext,
		TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, // see above: https redirects may use any certificate
			MinVersion:         tls.VersionTLS12,
		},
		TLSHandshakeTimeout:    v.cfg.StepTimeout,
		ResponseHeaderTimeout:  v.cfg.StepTimeout,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 16 << 10,
	}}
}

// checkRedirect allows at most maxRedirects redirects, only to http or https
// URLs on ports 80 and 443 or the configured HTTP01Port and TLSALPN01Port
// (RFC 8555 §10.2 leaves redirect policy to the server), and refuses
// address literals and names the network policy denies before any
// connection. A redirect to another name is checked once that name is
// resolved, in dialContext. The failure never quotes the redirect target.
func (v *Validator) checkRedirect(req *http.Request, via []*http.Request) error {
	tried := "GET " + via[0].URL.String()
	u := req.URL
	target := slog.String("redirect_host", u.Host)
	switch {
	case len(via) > maxRedirects:
		return fail(problem.Connection, tried, "more than %d redirects", maxRedirects)
	case u.Scheme != "http" && u.Scheme != "https":
		return fail(problem.Connection, tried, "a redirect to a scheme other than http or https").with(target)
	case u.Hostname() == "":
		return fail(problem.Connection, tried, "a redirect without a host")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if !contains(v.redirectPorts(), port) {
		return fail(problem.Connection, tried, "a redirect to a port other than %s", strings.Join(v.redirectPorts(), ", ")).with(target)
	}
	if r := v.checkHost(u.Hostname()); r != nil {
		return &failure{typ: problem.Connection, tried: tried, seen: "a redirect to an address the validator may not reach",
			refused: true, attrs: r.attrs()}
	}
	return nil
}

// redirectPorts lists the ports a redirect may target.
func (v *Validator) redirectPorts() []string {
	ports := []string{"80", "443"}
	for _, p := range []int{v.cfg.HTTP01Port, v.cfg.TLSALPN01Port} {
		if s := strconv.Itoa(p); !contains(ports, s) {
			ports = append(ports, s)
		}
	}
	return ports
}

// http01 performs one http-01 attempt (RFC 8555 §8.3): GET the token's
// well-known URL and compare the body, with leading and trailing whitespace
// removed, to the key authorization. For an IP identifier the address is
// used directly, without DNS, and is the Host header (RFC 8738 §4, §5).
// The detail says what was expected and the class of what was seen (a
// status, a redirect refused, a wrong body), never the body or where a
// redirect pointed.
func (v *Validator) http01(ctx context.Context, t target, req Request) *failure {
	host := t.String()
	switch {
	case v.cfg.HTTP01Port != 80:
		host = net.JoinHostPort(host, strconv.Itoa(v.cfg.HTTP01Port))
	case t.ip.Is6():
		host = "[" + host + "]"
	}
	u := "http://" + host + "/.well-known/acme-challenge/" + req.Token
	tried := "GET " + u
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fail(problem.Malformed, tried, "invalid challenge URL")
	}
	hreq.Header.Set("User-Agent", userAgent)
	hreq.Header.Set("Accept", "*/*")
	redirects := 0
	client := &http.Client{Transport: v.http.transport, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		redirects = len(via)
		return v.checkRedirect(r, via)
	}}
	resp, err := client.Do(hreq)
	if err != nil {
		return netFailure(tried, err, redirects == 0)
	}
	defer resp.Body.Close()
	after, final := "", slog.String("final_host", resp.Request.URL.Host)
	if redirects > 0 {
		after = fmt.Sprintf(" after %d redirect%s", redirects, map[bool]string{true: "s"}[redirects > 1])
	}
	if resp.StatusCode != http.StatusOK {
		return fail(problem.Unauthorized, tried, "the server answered HTTP %d%s, want 200", resp.StatusCode, after).with(final)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return netFailure(tried, err, redirects == 0)
	}
	if len(body) > maxBodyBytes {
		return fail(problem.IncorrectResponse, tried, "the response%s is larger than %d bytes, so it is not the key authorization",
			after, maxBodyBytes).with(final)
	}
	if strings.TrimSpace(string(body)) != req.KeyAuthorization {
		return fail(problem.IncorrectResponse, tried, "the response%s was not the key authorization", after).
			with(final, slog.Int("body_bytes", len(body)))
	}
	return nil
}
