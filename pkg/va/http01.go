package va

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/acmera/acmera/pkg/problem"
)

const (
	// maxRedirects is how many redirects http-01 follows (as Let's Encrypt does).
	maxRedirects = 10
	// maxBodyBytes is how much of the response body http-01 reads. A key
	// authorization is under 100 bytes; anything over this cannot match.
	maxBodyBytes = 4096
	// excerptBytes is how much of a wrong response a problem quotes.
	excerptBytes = 64
	userAgent    = "acmera-va (RFC 8555 §8.3)"
)

// httpFetcher is the HTTP client http-01 uses, built once per Validator.
type httpFetcher struct {
	client *http.Client
}

// newHTTPFetcher builds a client that resolves through the Validator's
// resolver, never reuses connections, does not verify certificates on https
// redirects (the challenge response, not the certificate, proves control;
// Let's Encrypt does the same), and applies the redirect policy.
func newHTTPFetcher(v *Validator) httpFetcher {
	tr := &http.Transport{
		Proxy:       nil,
		DialContext: v.dialContext,
		TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, // see above: https redirects may use any certificate
			MinVersion:         tls.VersionTLS12,
		},
		TLSHandshakeTimeout:    v.cfg.Timeout,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 16 << 10,
	}
	return httpFetcher{client: &http.Client{Transport: tr, CheckRedirect: v.checkRedirect}}
}

// checkRedirect allows at most maxRedirects redirects, only to http or https
// URLs on ports 80 and 443 or the configured HTTP01Port and TLSALPN01Port
// (RFC 8555 §10.2 leaves redirect policy to the server).
func (v *Validator) checkRedirect(req *http.Request, via []*http.Request) error {
	tried := "GET " + via[0].URL.String()
	if len(via) > maxRedirects {
		return fail(problem.Connection, tried, "too many redirects (more than %d)", maxRedirects)
	}
	u := req.URL
	if u.Scheme != "http" && u.Scheme != "https" {
		return fail(problem.Connection, tried, "redirect to %s: only http and https are allowed", excerpt([]byte(u.String())))
	}
	if u.Hostname() == "" {
		return fail(problem.Connection, tried, "redirect to %s: no host", excerpt([]byte(u.String())))
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if !v.redirectPortAllowed(port) {
		return fail(problem.Connection, tried, "redirect to %s: port %s is not allowed (only %s)",
			excerpt([]byte(u.String())), port, strings.Join(v.redirectPorts(), ", "))
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

func (v *Validator) redirectPortAllowed(port string) bool {
	return contains(v.redirectPorts(), port)
}

// http01 performs one http-01 attempt (RFC 8555 §8.3): GET the token's
// well-known URL and compare the body, with leading and trailing whitespace
// removed, to the key authorization. For an IP identifier the address is
// used directly, without DNS, and is the Host header (RFC 8738 §4, §5).
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
	resp, err := v.http.client.Do(hreq)
	if err != nil {
		return netFailure(tried, err)
	}
	defer resp.Body.Close()
	at := ""
	if final := resp.Request.URL.String(); final != u {
		at = " at " + final
	}
	if resp.StatusCode != http.StatusOK {
		return fail(problem.Unauthorized, tried, "server returned HTTP %d%s, want 200", resp.StatusCode, at)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return netFailure(tried, err)
	}
	if len(body) > maxBodyBytes {
		return fail(problem.IncorrectResponse, tried, "response body%s is larger than %d bytes", at, maxBodyBytes)
	}
	if strings.TrimSpace(string(body)) != req.KeyAuthorization {
		return fail(problem.IncorrectResponse, tried, "expected key authorization %q, got %s%s",
			req.KeyAuthorization, excerpt(body), at)
	}
	return nil
}

// excerpt quotes at most excerptBytes of b, marking truncation.
func excerpt(b []byte) string {
	if len(b) > excerptBytes {
		return fmt.Sprintf("%q...", b[:excerptBytes])
	}
	return fmt.Sprintf("%q", b)
}
