package firestore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
)

// The document types below are the Firestore shapes, private to this
// package; conversion from and to pkg/core happens only here. A document's
// ID is its object's ID and is not repeated inside it. Problems are stored
// as their RFC 7807 JSON text (rare and nested). Firestore keeps timestamps
// to the microsecond.

// Field names used in queries and partial updates.
const (
	fAccountID     = "accountId"
	fProfile       = "profile"
	fStatus        = "status"
	fCreatedAt     = "createdAt"
	fUpdatedAt     = "updatedAt"
	fExpires       = "expires"
	fExpireAt      = "expireAt"
	fIdentKey      = "identKey"
	fChallenges    = "challenges"
	fProcessing    = "processing"
	fContact       = "contact"
	fKey           = "key"
	fKeyThumbprint = "keyThumbprint"
	fError         = "error"
	fCSR           = "csr"
	fCertificateID = "certificateId"
	fSerial        = "serial"
	fRevokedAt     = "revokedAt"
	fReason        = "revocationReason"
	fRevision      = "rev"
	fReplacedBy    = "replacedBy"
	fCAResource    = "caResource"
)

// TTL policy (the expireAt field; Firestore deletes a document some time,
// up to about a day, after it passes):
//   - accounts and accountKeys: no expireAt, kept until deleted explicitly;
//     an account is the durable identity behind its certificates.
//   - pending/invalid/deactivated authorizations and pending/ready/invalid
//     orders: Expires + shortGrace, so a client polling just after expiry
//     still sees the final state rather than 404.
//   - valid authorizations: Expires, the end of their reuse window.
//   - processing orders: Expires + processingGrace, so a finalize retried by
//     Cloud Tasks for a long CA outage still finds its order.
//   - valid orders and certificates: certificate NotAfter + certGrace, long
//     enough for downloads, revocation and ARI after expiry.
//   - nonces: the nonce's own expiry.
const (
	shortGrace      = 6 * time.Hour
	processingGrace = 7 * 24 * time.Hour
	certGrace       = 30 * 24 * time.Hour
)

type accountDoc struct {
	KeyThumbprint string    `firestore:"keyThumbprint"`
	Key           []byte    `firestore:"key"`
	Contact       []string  `firestore:"contact"`
	Status        string    `firestore:"status"`
	CreatedAt     time.Time `firestore:"createdAt"`
	EABKeyID      string    `firestore:"eabKeyId,omitempty"`
	Profile       string    `firestore:"profile"`
}

type accountKeyDoc struct {
	AccountID string `firestore:"accountId"`
}

type challengeDoc struct {
	ID        string    `firestore:"id"`
	Type      string    `firestore:"type"`
	Token     string    `firestore:"token"`
	Status    string    `firestore:"status"`
	Validated time.Time `firestore:"validated,omitempty"`
	Error     string    `firestore:"error,omitempty"`
}

type authzDoc struct {
	AccountID  string `firestore:"accountId"`
	OrderID    string `firestore:"orderId"`
	Profile    string `firestore:"profile"`
	IdentType  string `firestore:"identType"`
	IdentValue string `firestore:"identValue"`
	// IdentKey is the identifier as an order names it (type:value, with
	// "*." for a wildcard), the key FindValidAuthorizations queries by.
	IdentKey   string         `firestore:"identKey"`
	Wildcard   bool           `firestore:"wildcard"`
	Status     string         `firestore:"status"`
	Expires    time.Time      `firestore:"expires"`
	Challenges []challengeDoc `firestore:"challenges"`
	// Processing is core.Authorization.Processing (pending, with a
	// challenge processing), kept by every write of the authorization so
	// that ProcessingChallenges finds them with one equality query.
	Processing bool      `firestore:"processing"`
	CreatedAt  time.Time `firestore:"createdAt"`
	ExpireAt   time.Time `firestore:"expireAt"`
}

type identDoc struct {
	Type  string `firestore:"type"`
	Value string `firestore:"value"`
}

type orderDoc struct {
	AccountID     string     `firestore:"accountId"`
	Profile       string     `firestore:"profile"`
	Status        string     `firestore:"status"`
	Expires       time.Time  `firestore:"expires"`
	Identifiers   []identDoc `firestore:"identifiers"`
	NotBefore     time.Time  `firestore:"notBefore,omitempty"`
	NotAfter      time.Time  `firestore:"notAfter,omitempty"`
	AuthzIDs      []string   `firestore:"authzIds"`
	Error         string     `firestore:"error,omitempty"`
	CSR           []byte     `firestore:"csr,omitempty"`
	CertificateID string     `firestore:"certificateId,omitempty"`
	// Replaces and ReplacesCertID: see core.Order.
	Replaces       string    `firestore:"replaces,omitempty"`
	ReplacesCertID string    `firestore:"replacesCertId,omitempty"`
	LifetimeCap    int64     `firestore:"lifetimeCapNs,omitempty"`
	CAResource     string    `firestore:"caResource,omitempty"`
	Backend        string    `firestore:"backend,omitempty"`
	CreatedAt      time.Time `firestore:"createdAt"`
	UpdatedAt      time.Time `firestore:"updatedAt,omitempty"`
	ExpireAt       time.Time `firestore:"expireAt"`
	// Revision counts the order's writes by RecordValidation (see
	// validationPlan.commit); never read back into core.Order.
	Revision int64 `firestore:"rev"`
}

type certDoc struct {
	AccountID        string    `firestore:"accountId"`
	OrderID          string    `firestore:"orderId"`
	Profile          string    `firestore:"profile"`
	Serial           string    `firestore:"serial"`
	Chain            []byte    `firestore:"chain"`
	NotBefore        time.Time `firestore:"notBefore"`
	NotAfter         time.Time `firestore:"notAfter"`
	CAResource       string    `firestore:"caResource,omitempty"`
	Status           string    `firestore:"status"`
	RevokedAt        time.Time `firestore:"revokedAt,omitempty"`
	RevocationReason int64     `firestore:"revocationReason"`
	CreatedAt        time.Time `firestore:"createdAt"`
	ExpireAt         time.Time `firestore:"expireAt"`
	ReplacedBy       string    `firestore:"replacedBy,omitempty"`
	Backend          string    `firestore:"backend,omitempty"`
}

type nonceDoc struct {
	ExpireAt time.Time `firestore:"expireAt"`
}

func encodeProblem(p *problem.Problem) (string, error) {
	if p == nil {
		return "", nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("json.Marshal(problem): %w", err)
	}
	return string(b), nil
}

func decodeProblem(s string) (*problem.Problem, error) {
	if s == "" {
		return nil, nil
	}
	p := new(problem.Problem)
	if err := json.Unmarshal([]byte(s), p); err != nil {
		return nil, fmt.Errorf("json.Unmarshal(problem): %w", err)
	}
	return p, nil
}

// identKey is the key of an identifier as an order lists it. An
// authorization for "*.example.com" may be stored with the base name and
// Wildcard set (RFC 8555 §7.1.4); both forms give "dns:*.example.com".
func identKey(id acme.Identifier, wildcard bool) string {
	v := id.Value
	if wildcard && !strings.HasPrefix(v, "*.") {
		v = "*." + v
	}
	return id.Type + ":" + v
}

// utc drops the monotonic reading and location, as a round trip through
// Firestore does.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// nilIfEmpty makes a decoded empty list nil, as it was before storing.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func decode[T any](snap *firestore.DocumentSnapshot) (*T, error) {
	v := new(T)
	if err := snap.DataTo(v); err != nil {
		return nil, fmt.Errorf("firestore.DocumentSnapshot.DataTo(%s): %w", snap.Ref.Path, err)
	}
	return v, nil
}

func accountToDoc(a *core.Account) *accountDoc {
	return &accountDoc{
		KeyThumbprint: a.KeyThumbprint, Key: a.Key, Contact: a.Contact,
		Status: string(a.Status), CreatedAt: a.CreatedAt, EABKeyID: a.EABKeyID, Profile: a.Profile,
	}
}

func accountFromSnap(snap *firestore.DocumentSnapshot) (*core.Account, error) {
	d, err := decode[accountDoc](snap)
	if err != nil {
		return nil, err
	}
	return &core.Account{
		ID: snap.Ref.ID, KeyThumbprint: d.KeyThumbprint, Key: d.Key, Contact: nilIfEmpty(d.Contact),
		Status: core.Status(d.Status), CreatedAt: utc(d.CreatedAt), EABKeyID: d.EABKeyID, Profile: d.Profile,
	}, nil
}
