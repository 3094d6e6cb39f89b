package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/acmera/acmera/pkg/ca/adcs"
	"github.com/acmera/acmera/pkg/config"
)

// newADCS builds an AD CS issuer from its configuration; it reads the
// CA bundle, the keytab or password file (never logged).
func newADCS(a *config.ADCSBackend) (*adcs.Issuer, error) {
	cfg := adcs.Config{BaseURL: a.BaseURL, Template: a.Template, Revocation: a.Revocation,
		DCOM: adcs.DCOMConfig{Authority: a.CAName}}
	if a.ApprovalDeadline != "" {
		d, err := time.ParseDuration(a.ApprovalDeadline)
		if err != nil {
			return nil, fmt.Errorf("adcs.approvalDeadline: %w", err)
		}
		cfg.ApprovalDeadline = d
	}
	if a.CABundleFile != "" {
		b, err := os.ReadFile(a.CABundleFile)
		if err != nil {
			return nil, fmt.Errorf("adcs.caBundleFile: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("adcs.caBundleFile %s: no PEM certificates", a.CABundleFile)
		}
	}
	switch au := a.Auth; au.Method {
	case "kerberos":
		spn := au.SPN
		if spn == "" {
			u, err := url.Parse(a.BaseURL)
			if err != nil {
				return nil, fmt.Errorf("adcs.baseURL: %w", err)
			}
			spn = "HTTP/" + u.Hostname()
		}
		cfg.Auth = adcs.Kerberos{Realm: au.Realm, KDCs: au.KDC, Username: au.Username, KeytabFile: au.KeytabFile,
			PasswordFile: au.PasswordFile, SPN: spn}
	case "ntlm":
		cfg.Auth = adcs.NTLM{Domain: au.Domain, Username: au.Username, PasswordFile: au.PasswordFile}
	default:
		return nil, fmt.Errorf("adcs.auth.method %q is not supported", au.Method)
	}
	iss, err := adcs.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("adcs.New: %w", err)
	}
	return iss, nil
}

// checkADCS reaches certsrv and authenticates at start: refused
// credentials or a missing Web Enrollment stop the start; an unreachable
// server or KDC warns. It also warns about what only the CA admin can

func checkADCS(ctx context.Context, iss *adcs.Issuer, setting string, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
	defer cancel()
	_, err := startCheck(log, setting, iss.Check(ctx))
	return err
}
