package awspca

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TokenSource returns a web identity token (a JWT) for STS.
type TokenSource func(ctx context.Context) (string, error)

// webIdentity is an aws.CredentialsProvider exchanging the token of a
// TokenSource for temporary credentials of a role, through
// stscreds.WebIdentityRoleProvider. The SDK's IdentityTokenRetriever takes
// no context, so the token is fetched here, under the caller's context,
// and handed to a provider built for this one exchange.
type webIdentity struct {
	sts     *sts.Client
	role    string
	session string
	token   TokenSource
}

// staticToken is an stscreds.IdentityTokenRetriever of one token.
type staticToken string

func (t staticToken) GetIdentityToken() ([]byte, error) { return []byte(t), nil }

// Retrieve implements aws.CredentialsProvider.
func (w *webIdentity) Retrieve(ctx context.Context) (aws.Credentials, error) {
	tok, err := w.token(ctx)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("awspca: web identity token: %w", err)
	}
	p := stscreds.NewWebIdentityRoleProvider(w.sts, w.role, staticToken(tok), func(o *stscreds.WebIdentityRoleOptions) {
		o.RoleSessionName = w.session
	})
	creds, err := p.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("sts.AssumeRoleWithWebIdentity %s: %w", w.role, err)
	}
	return creds, nil
}

// DefaultMetadataURL is the GCE/Cloud Run metadata server.
const DefaultMetadataURL = "http://metadata.google.internal"

// MetadataToken fetches the Google ID token of the workload's service
// account from the metadata server: the web identity AWS trusts through
// an IAM role whose trust policy names Principal
// {"Federated": "accounts.google.com"} with conditions on
// accounts.google.com:aud (the token's azp, the service account's unique
// ID), accounts.google.com:oaud (Audience) and accounts.google.com:sub.
type MetadataToken struct {
	// Audience is the token's aud claim (for example the role ARN, or
	// sts.amazonaws.com); required.
	Audience string
	// BaseURL is the metadata server; empty means DefaultMetadataURL.
	BaseURL string
	// Client makes the request; nil means a client with a 10 s timeout.
	Client *http.Client
}

// maxToken bounds the token read; Google ID tokens are about 1 KiB.
const maxToken = 16 << 10

// Token is a TokenSource: GET
// {BaseURL}/computeMetadata/v1/instance/service-accounts/default/identity?audience=…&format=full
// with Metadata-Flavor: Google.
func (m MetadataToken) Token(ctx context.Context) (string, error) {
	if m.Audience == "" {
		return "", errors.New("awspca: MetadataToken.Audience is empty")
	}
	base := m.BaseURL
	if base == "" {
		base = DefaultMetadataURL
	}
	client := m.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	q := url.Values{"audience": {m.Audience}, "format": {"full"}}
	u := strings.TrimSuffix(base, "/") + "/computeMetadata/v1/instance/service-accounts/default/identity?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("metadata identity: %w", err)
	}
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("metadata identity: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxToken))
	if err != nil {
		return "", fmt.Errorf("metadata identity: read: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("metadata identity: HTTP %d", resp.StatusCode)
	}
	tok := strings.TrimSpace(string(body))
	if strings.Count(tok, ".") != 2 {
		return "", errors.New("metadata identity: the answer is not a JWT")
	}
	return tok, nil
}
