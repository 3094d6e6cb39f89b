package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/ca/awspca"
	"github.com/acmera/acmera/pkg/ca/cas"
	"github.com/acmera/acmera/pkg/ca/vault"
	"github.com/acmera/acmera/pkg/config"
	"github.com/acmera/acmera/pkg/idtoken"
	"github.com/acmera/acmera/pkg/policy"
)

// startCheckTimeout bounds each backend's check at start.
const startCheckTimeout = 15 * time.Second

// buildBackends makes the deployment's CA backends: own under its reserved
// name (the default), plus every backend of the profiles file, each
// checked at start. A misconfiguration (missing mount, role, pool or
// template; refused login) stops the start naming the setting; a CA that
// cannot be reached now only warns. close releases the clients.
func buildBackends(ctx context.Context, c config.Common, own ca.Backend, log *slog.Logger) (*ca.Backends, func(), error) {
	all := []ca.Backend{own}
	var closers []func() error
	closeAll := func() {
		for _, f := range closers {
			if err := f(); err != nil {
				log.Warn("close CA backend", "error", err.Error())
			}
		}
	}
	for _, b := range c.Backends {
		setting := fmt.Sprintf("ACMERA_PROFILES: backends.%s", b.Name)
		be := ca.Backend{Name: b.Name}
		switch b.Type {
		case "cas":
			iss, err := cas.New(ctx, cas.Config{Pool: b.CAS.Pool}, endpointOptions(b.CAS.Endpoint)...)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("%s: cas.New: %w", setting, err)
			}
			closers = append(closers, iss.Close)
			if err := checkCASBackend(ctx, iss, setting+".cas.pool="+b.CAS.Pool, profilesOf(c.Policy, b.Name, false), c.Policy, log); err != nil {
				closeAll()
				return nil, nil, err
			}
			be.Issuer, be.Description = iss, "Google CAS pool "+b.CAS.Pool
		case "vault":
			iss, err := newVault(b.Vault)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("%s: %w", setting, err)
			}
			if err := checkVault(ctx, iss, setting, profilesOf(c.Policy, b.Name, false), c.Policy, log); err != nil {
				closeAll()
				return nil, nil, err
			}
			be.Issuer, be.Description = iss, fmt.Sprintf("HashiCorp Vault PKI, mount %s, role %s", b.Vault.Mount, b.Vault.Role)
		case "awspca":
			a := b.AWSPCA
			iss, err := awspca.New(ctx, awspca.Config{CAArn: a.CAArn, Region: a.Region, TemplateArn: a.TemplateArn,
				SigningAlgorithm: a.SigningAlgorithm, RoleArn: a.RoleArn,
				IdentityToken: idtoken.Source{Audience: a.Audience, MetadataURL: a.MetadataURL}.Token,
				Endpoint:      a.Endpoint, STSEndpoint: a.STSEndpoint})
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("%s: awspca.New: %w", setting, err)
			}
			cctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
			ok, err := startCheck(log, setting, iss.Check(cctx))
			cancel()
			if !ok && err != nil {
				closeAll()
				return nil, nil, err
			}
			be.Issuer, be.Description = iss, "AWS Private CA "+a.CAArn
		case "adcs":
			iss, err := newADCS(b.ADCS)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("%s: %w", setting, err)
			}
			if err := checkADCS(ctx, iss, setting, log); err != nil {
				closeAll()
				return nil, nil, err
			}
			be.Issuer, be.Description = iss, "Microsoft AD CS "+b.ADCS.BaseURL
		default:
			closeAll()
			return nil, nil, fmt.Errorf("%s: unknown backend type %q", setting, b.Type)
		}
		all = append(all, be)
	}
	bs, err := ca.NewBackends(own.Name, all...)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return bs, closeAll, nil
}

// profilesOf lists the profiles whose certificates backend issues (isDefault:
// it is the default, so profiles that name none count too).
func profilesOf(pol *policy.Policy, backend string, isDefault bool) []string {
	var out []string
	for _, name := range pol.Names() {
		be := pol.Profile(name).Backend
		if be == backend || (be == "" && isDefault) {
			out = append(out, name)
		}
	}
	return out
}

// startCheck reports whether to go on checking: only a misconfiguration
// stops the start; anything else (the CA not reachable now) warns.
func startCheck(log *slog.Logger, setting string, err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ca.ErrMisconfigured):
		return false, fmt.Errorf("%s: %w", setting, err)
	}
	log.Warn("could not check the CA at start; continuing", "setting", setting, "error", err.Error())
	return false, nil
}

// checkCASBackend checks a CAS pool and the caTemplate of each profile it
// issues for.
func checkCASBackend(ctx context.Context, iss *cas.Issuer, setting string, profiles []string, pol *policy.Policy, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
	defer cancel()
	if ok, err := startCheck(log, setting, iss.Check(ctx)); !ok {
		return err
	}
	for _, name := range profiles {
		t := pol.Profile(name).CATemplate
		if ok, err := startCheck(log, fmt.Sprintf("ACMERA_PROFILES: profile %q caTemplate %q", name, t), iss.CheckTemplate(ctx, t)); !ok {
			return err
		}
	}
	return nil
}

// newVault builds a Vault issuer from its configuration.
func newVault(v *config.VaultBackend) (*vault.Issuer, error) {
	var auth vault.Auth
	switch a := v.Auth; a.Method {
	case "jwt":
		src := idtoken.Source{Audience: a.Audience, MetadataURL: a.MetadataURL}
		auth = vault.JWTAuth{Path: a.Path, Role: a.Role, JWT: src.Token}
	case "approle":
		auth = vault.AppRoleAuth{Path: a.Path, RoleID: a.RoleID, SecretIDFile: a.SecretIDFile}
	case "token":
		auth = vault.TokenAuth{File: a.TokenFile}
	default:
		return nil, fmt.Errorf("vault.auth.method %q is not supported", a.Method)
	}
	cfg := vault.Config{Address: v.Address, Mount: v.Mount, Role: v.Role, Namespace: v.Namespace, Auth: auth}
	if v.CACertFile != "" {
		b, err := os.ReadFile(v.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("vault.caCertFile: %w", err)
		}
		cfg.CACertPEM = b
	}
	iss, err := vault.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault.New: %w", err)
	}
	return iss, nil
}

// checkVault logs in, checks the mount and role, and that the role's
// extended key usages are what acmera asks for each profile it serves
// (otherwise every certificate would fail acmera's post-issue check).
func checkVault(ctx context.Context, iss *vault.Issuer, setting string, profiles []string, pol *policy.Policy, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
	defer cancel()
	role, readable, err := iss.Check(ctx)
	if ok, err := startCheck(log, setting, err); !ok {
		return err
	}
	if !readable {
		log.Warn("acmera may not read its Vault role: its key usages are not checked at start (grant read on <mount>/roles/<role>)", "setting", setting)
		return nil
	}
	if role.NoStore {
		log.Warn("the Vault role has no_store set: a finalize retried after an instance died mid-call may mint a second (unserved) certificate", "setting", setting)
	}
	if !role.ServerFlag {
		return fmt.Errorf("%s: the Vault role has server_flag=false: acmera's certificates are TLS server certificates (serverAuth)", setting)
	}
	for _, name := range profiles {
		if want := pol.Profile(name).ClientAuth; role.ClientFlag != want {
			return fmt.Errorf("%s: the Vault role has client_flag=%v but profile %q has clientAuth=%v: set client_flag=%v on the role, or use another role for the profile",
				setting, role.ClientFlag, name, want, want)
		}
	}
	return nil
}
