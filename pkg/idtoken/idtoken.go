// Package idtoken fetches the workload's Google-signed OpenID Connect ID
// token from the metadata server, so acmera can log in to a CA outside
// Google Cloud (Vault's JWT auth, AWS STS web identity) with no key file.
package idtoken

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultMetadataURL is the metadata server's base URL on Cloud Run.
const DefaultMetadataURL = "http://metadata.google.internal"

// Source fetches ID tokens for one audience from the metadata server.
type Source struct {
	// Audience is the token's aud claim (what the relying party expects).
	Audience string
	// MetadataURL is the server's base URL; empty means DefaultMetadataURL
	// (tests point it at a loopback fake).
	MetadataURL string
	// Client makes the request; nil means a client with a 10 s timeout.
	Client *http.Client
}

// Token returns a fresh ID token, with the "full" format (email claims).
func (s Source) Token(ctx context.Context) (string, error) {
	if s.Audience == "" {
		return "", errors.New("idtoken: no audience")
	}
	base := s.MetadataURL
	if base == "" {
		base = DefaultMetadataURL
	}
	u := strings.TrimSuffix(base, "/") + "/computeMetadata/v1/instance/service-accounts/default/identity?" +
		url.Values{"audience": {s.Audience}, "format": {"full"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("idtoken: http.NewRequest: %w", err)
	}
	req.Header.Set("Metadata-Flavor", "Google")
	hc := s.Client
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	res, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("idtoken: GET metadata identity: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("idtoken: read metadata identity: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("idtoken: metadata identity: HTTP %d: %.200s", res.StatusCode, b)
	}
	tok := strings.TrimSpace(string(b))
	if strings.Count(tok, ".") != 2 {
		return "", errors.New("idtoken: metadata identity: the answer is not a JWT")
	}
	return tok, nil
}
