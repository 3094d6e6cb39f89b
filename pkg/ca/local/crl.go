package local

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/acmera/acmera/pkg/ca"
)

// revokedFile holds the revoked serials, so the CRL survives a restart.
const revokedFile = "revoked.json"

// crlValidity is a CRL's nextUpdate after its thisUpdate; a CRL is signed
// again when half of it has passed, or at once after a revocation.
const crlValidity = 24 * time.Hour

// revokedEntry is one revoked certificate.
type revokedEntry struct {
	Serial    string    `json:"serial"` // lower-case hex
	Reason    int       `json:"reason"`
	RevokedAt time.Time `json:"revokedAt"`
}

// crlState is the local CA's revocation list and its last signed CRL.
type crlState struct {
	dir     string
	mu      sync.Mutex
	entries []revokedEntry
	seen    map[string]bool
	der     []byte
	signed  time.Time
}

func loadCRLState(dir string) (*crlState, error) {
	st := &crlState{dir: dir, seen: map[string]bool{}}
	b, err := os.ReadFile(filepath.Join(dir, revokedFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", revokedFile, err)
	}
	if err := json.Unmarshal(b, &st.entries); err != nil {
		return nil, fmt.Errorf("%s in %s: %w", revokedFile, dir, err)
	}
	for _, e := range st.entries {
		st.seen[e.Serial] = true
	}
	return st, nil
}

// Revoke implements ca.Issuer: the serial is added to the CRL, with the
// RFC 5280 reason, and the CRL is signed again. Revoking a certificate
// twice changes nothing.
func (c *CA) Revoke(ctx context.Context, req ca.RevokeRequest) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local.Revoke: %w", err)
	}
	if req.Cert == nil {
		return errors.New("local.Revoke: no certificate")
	}
	if err := req.Cert.CheckSignatureFrom(c.inter); err != nil {
		return &ca.RejectedError{Detail: "the certificate was not issued by this CA"}
	}
	st := c.crl
	serial := req.Cert.SerialNumber.Text(16)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.seen[serial] {
		return nil
	}
	entries := append(append([]revokedEntry(nil), st.entries...), revokedEntry{Serial: serial, Reason: req.Reason, RevokedAt: c.now().UTC()})
	b, err := json.Marshal(entries)
	if err != nil {
		return fmt.Errorf("json.Marshal revoked: %w", err)
	}
	if err := writeFileAtomic(st.dir, revokedFile, b, certMode); err != nil {
		return err
	}
	st.entries, st.seen[serial], st.der = entries, true, nil
	return nil
}

// CRL returns the current CRL (DER), signed by the intermediate: every
// revoked serial with its reason. It is signed again after a revocation
// and when half of its validity has passed.
func (c *CA) CRL() ([]byte, error) {
	st := c.crl
	st.mu.Lock()
	defer st.mu.Unlock()
	now := c.now().UTC().Truncate(time.Second)
	if st.der != nil && now.Before(st.signed.Add(crlValidity/2)) {
		return st.der, nil
	}
	list := &x509.RevocationList{
		// Monotonic across restarts without state of its own (RFC 5280
		// §5.2.3): the signing time in nanoseconds.
		Number:     new(big.Int).SetInt64(c.now().UnixNano()),
		ThisUpdate: now,
		NextUpdate: now.Add(crlValidity),
	}
	for _, e := range st.entries {
		n, ok := new(big.Int).SetString(e.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("%s: serial %q is not hex", revokedFile, e.Serial)
		}
		list.RevokedCertificateEntries = append(list.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: n, RevocationTime: e.RevokedAt, ReasonCode: e.Reason})
	}
	der, err := x509.CreateRevocationList(rand.Reader, list, c.inter, c.interKey)
	if err != nil {
		return nil, fmt.Errorf("x509.CreateRevocationList: %w", err)
	}
	st.der, st.signed = der, now
	return der, nil
}

// CRLHandler serves the CRL as application/pkix-crl (RFC 5280 §4.2.1.13).
func (c *CA) CRLHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		der, err := c.CRL()
		if err != nil {
			http.Error(w, "the CRL is not available", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write(der)
	})
}
