package awspca

import (
	"context"
	"fmt"

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
