package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/acmera/acmera/pkg/ca"
)

// Auth obtains a Vault token.
type Auth interface {
	// login returns a token and how long it lives (zero: does not expire
	// or unknown).
	login(ctx context.Context, c *client) (string, time.Duration, error)
	// name says which method, for errors.
	name() string
}

// TokenAuth uses a token given directly or read from a file (re-read at
// each login, so a rotated file is picked up).
type TokenAuth struct {
	Token string
	File  string
}

func (a TokenAuth) name() string { return "token" }

func (a TokenAuth) login(context.Context, *client) (string, time.Duration, error) {
	if a.File == "" {
		if a.Token == "" {
			return "", 0, errors.New("no token")
		}
		return a.Token, 0, nil
	}
	b, err := os.ReadFile(a.File)
	if err != nil {
		return "", 0, fmt.Errorf("%w: os.ReadFile: %w", ca.ErrMisconfigured, err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", 0, fmt.Errorf("%w: token file %s is empty", ca.ErrMisconfigured, a.File)
	}
	return t, 0, nil
}

// JWTAuth logs in with the JWT auth method: Path is its mount (default
// "jwt"), Role the Vault role, JWT fetches the token to present (the
// workload's Google ID token, see package idtoken).
type JWTAuth struct {
	Path string
	Role string
	JWT  func(ctx context.Context) (string, error)
}

func (a JWTAuth) name() string { return "jwt" }

func (a JWTAuth) login(ctx context.Context, c *client) (string, time.Duration, error) {
	if a.JWT == nil || a.Role == "" {
		return "", 0, errors.New("jwt auth needs a role and a token source")
	}
	jwt, err := a.JWT(ctx)
	if err != nil {
		return "", 0, fmt.Errorf("fetch the JWT: %w: %w", ca.ErrTransient, err)
	}
	return c.loginAt(ctx, "auth/"+orDefault(a.Path, "jwt")+"/login", map[string]any{"role": a.Role, "jwt": jwt})
}

// AppRoleAuth logs in with AppRole: Path is its mount (default "approle");
// the secret ID is SecretID or read from SecretIDFile at each login.
type AppRoleAuth struct {
	Path         string
	RoleID       string
	SecretID     string
	SecretIDFile string
}

func (a AppRoleAuth) name() string { return "approle" }

func (a AppRoleAuth) login(ctx context.Context, c *client) (string, time.Duration, error) {
	secret := a.SecretID
	if a.SecretIDFile != "" {
		b, err := os.ReadFile(a.SecretIDFile)
		if err != nil {
			return "", 0, fmt.Errorf("%w: os.ReadFile: %w", ca.ErrMisconfigured, err)
		}
		secret = strings.TrimSpace(string(b))
	}
	if a.RoleID == "" {
		return "", 0, errors.New("approle auth needs a role_id")
	}
	return c.loginAt(ctx, "auth/"+orDefault(a.Path, "approle")+"/login", map[string]any{"role_id": a.RoleID, "secret_id": secret})
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
