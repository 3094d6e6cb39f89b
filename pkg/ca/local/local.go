// Package local is the software CA of the embedded default: a root and an
// intermediate generated on first start and kept in a data directory, and
// an implementation of ca.Issuer that signs finalize CSRs (RFC 8555 §7.4)
// with the intermediate. It also issues the TLS certificate of the embedded
// HTTPS listener.
//
// The local CA is for development, tests and small private installations.
// It publishes no CRL or OCSP: see (*CA).Revoke.
package local

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/acmera/acmera/pkg/ca"
)

var (
	_ ca.Issuer    = (*CA)(nil)
	_ ca.InProcess = (*CA)(nil)
)

// DefaultMaxLifetime caps leaf lifetimes when Config.MaxLifetime is zero.
const DefaultMaxLifetime = 90 * 24 * time.Hour

// Config configures Open.
type Config struct {
	// Dir is the data directory holding the CA files; created (mode 0700)
	// if missing. Required.
	Dir string
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// MaxLifetime caps the validity of issued certificates; zero means
	// DefaultMaxLifetime. Lifetimes are also capped at the intermediate's
	// notAfter.
	MaxLifetime time.Duration
	// Organization is the O of the generated root and intermediate; empty
	// means "acmera". Used only when the CA is first created.
	Organization string
	// CommonName is the base of the CAs' CNs ("<CommonName> Root CA
	// <hex>"); empty means "acmera local". Used only when the CA is first
	// created.
	CommonName string
	// CRLURL is where the CRL (CA.CRLHandler) is served, put in every
	// leaf's cRLDistributionPoints; empty leaves it out.
	CRLURL string
}

// CA is a software CA. It is immutable after Open and safe for concurrent
// use; issuance does no disk I/O.
type CA struct {
	now         func() time.Time
	maxLifetime time.Duration
	rootPath    string
	rootDER     []byte
	interDER    []byte
	inter       *x509.Certificate
	interKey    crypto.Signer
	// crlURL is put in every leaf's cRLDistributionPoints; empty for none.
	crlURL string
	crl    *crlState
}

// Open loads the CA in cfg.Dir, or creates it there if the directory holds
// none of its files. A directory holding only some of them (for example
// after a crash during creation) is an error naming them: regenerating
// would silently replace a root that clients may already trust.
//
// Open assumes one process owns cfg.Dir at a time.
func Open(ctx context.Context, cfg Config) (*CA, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local.Open: %w", err)
	}
	if cfg.Dir == "" {
		return nil, errors.New("local.Open: Config.Dir is required")
	}
	if cfg.MaxLifetime < 0 {
		return nil, fmt.Errorf("local.Open: negative MaxLifetime %s", cfg.MaxLifetime)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = DefaultMaxLifetime
	}
	if cfg.Organization == "" {
		cfg.Organization = "acmera"
	}
	if cfg.CommonName == "" {
		cfg.CommonName = "acmera local"
	}
	if err := os.MkdirAll(cfg.Dir, dirMode); err != nil {
		return nil, fmt.Errorf("os.MkdirAll: %w", err)
	}
	m, err := loadOrCreate(cfg)
	if err != nil {
		return nil, err
	}
	c, err := newCA(cfg, m)
	if err != nil {
		return nil, err
	}
	if c.crl, err = loadCRLState(cfg.Dir); err != nil {
		return nil, err
	}
	return c, nil
}

func loadOrCreate(cfg Config) (*material, error) {
	present, missing, err := presentFiles(cfg.Dir)
	if err != nil {
		return nil, err
	}
	switch {
	case len(missing) == 0:
		return load(cfg.Dir)
	case len(present) > 0:
		return nil, incompleteError(cfg.Dir, present, missing)
	}
	m, err := generate(cfg.Organization, cfg.CommonName, cfg.Clock())
	if err != nil {
		return nil, err
	}
	if err := save(cfg.Dir, m); err != nil {
		return nil, err
	}
	return m, nil
}

// newCA parses and cross-checks the CA material: each key matches its
// certificate and the intermediate is a CA signed by the root.
func newCA(cfg Config, m *material) (*CA, error) {
	root, err := x509.ParseCertificate(m.rootDER)
	if err != nil {
		return nil, fmt.Errorf("x509.ParseCertificate %s: %w", rootCertFile, err)
	}
	inter, err := x509.ParseCertificate(m.interDER)
	if err != nil {
		return nil, fmt.Errorf("x509.ParseCertificate %s: %w", interCertFile, err)
	}
	if err := matchKey(root, m.rootKey, rootKeyFile); err != nil {
		return nil, err
	}
	if err := matchKey(inter, m.interKey, interKeyFile); err != nil {
		return nil, err
	}
	if !inter.IsCA || len(inter.SubjectKeyId) == 0 {
		return nil, fmt.Errorf("%s is not a CA certificate with a subject key ID", interCertFile)
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		return nil, fmt.Errorf("%s is not signed by %s: %w", interCertFile, rootCertFile, err)
	}
	if now := cfg.Clock(); !now.Before(inter.NotAfter) {
		return nil, fmt.Errorf("local CA in %s: the intermediate expired at %s; delete the CA files to generate a new CA",
			cfg.Dir, inter.NotAfter.Format(time.RFC3339))
	}
	return &CA{
		now:         cfg.Clock,
		maxLifetime: cfg.MaxLifetime,
		rootPath:    filepath.Join(cfg.Dir, rootCertFile),
		rootDER:     m.rootDER,
		interDER:    m.interDER,
		inter:       inter,
		interKey:    m.interKey,
		crlURL:      cfg.CRLURL,
	}, nil
}

func matchKey(cert *x509.Certificate, key crypto.Signer, keyFile string) error {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return fmt.Errorf("%s does not match the certificate %q", keyFile, cert.Subject.CommonName)
	}
	return nil
}

// RootPath returns the path of root.pem, the PEM root certificate clients
// should trust (for example REQUESTS_CA_BUNDLE for certbot).
func (c *CA) RootPath() string { return c.rootPath }

// Roots implements ca.Issuer: the DER root certificate.
func (c *CA) Roots(ctx context.Context) ([][]byte, error) {
	return [][]byte{bytes.Clone(c.rootDER)}, nil
}

// SignsInProcess implements ca.InProcess: the CA signs in this process,
// deterministically (see Issue), and keeps no record of what it signed,
// so a certificate nobody recorded was never issued.
func (c *CA) SignsInProcess() bool { return true }
