package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// replayTransport makes a client reuse a spent nonce once: it reads the
// nonce of each JWS the client sends, and in the next successful POST
// response replaces Replay-Nonce with that spent nonce. It counts the
// badNonce problems the server sends back.
type replayTransport struct {
	base http.RoundTripper

	mu        sync.Mutex
	armed     bool
	replayed  string
	badNonces int
}

func (rt *replayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var spent string
	if req.Method == http.MethodPost && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		spent = jwsNonce(b)
	}
	res, err := rt.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if strings.Contains(string(body), probBadNonce) {
		rt.badNonces++
	}
	if rt.armed && spent != "" && res.StatusCode/100 == 2 && res.Header.Get("Replay-Nonce") != "" {
		res.Header.Set("Replay-Nonce", spent)
		rt.replayed, rt.armed = spent, false
	}
	return res, nil
}

// jwsNonce returns the nonce in a flattened JWS's protected header.
func jwsNonce(body []byte) string {
	var jws struct {
		Protected string `json:"protected"`
	}
	if json.Unmarshal(body, &jws) != nil {
		return ""
	}
	hb, err := b64.DecodeString(jws.Protected)
	if err != nil {
		return ""
	}
	var hdr struct {
		Nonce string `json:"nonce"`
	}
	if json.Unmarshal(hb, &hdr) != nil {
		return ""
	}
	return hdr.Nonce
}

// TestXCryptoBadNonceRetry feeds x/crypto/acme a spent nonce: the server
// answers badNonce (RFC 8555 §6.5) and the client's retry with a fresh
// nonce succeeds.
func TestXCryptoBadNonceRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e2eutil.TestContext(t, 60*time.Second)
	hc := e.Srv.HTTPClient()
	rt := &replayTransport{base: hc.Transport, armed: true}
	hc.Transport = rt
	cl := &acme.Client{Key: newKey(t), DirectoryURL: e.Srv.DirURL, HTTPClient: hc}
	if _, err := cl.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatalf("Register: %v", err)
	}
	o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs("nonce.e2e.test"))
	if err != nil {
		t.Fatalf("AuthorizeOrder after a replayed nonce: %v", err)
	}
	if o.Status != acme.StatusPending {
		t.Errorf("order status %s, want pending", o.Status)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.replayed == "" || rt.badNonces != 1 {
		t.Errorf("replayed nonce %q, %d badNonce answers; want one spent nonce refused once", rt.replayed, rt.badNonces)
	}
}
