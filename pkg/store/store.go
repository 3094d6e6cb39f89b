// Package store defines the storage authority's contract: durable ACME state
// and the conditional, intent-named transitions that guard its state machine.
// Every transition succeeds only from the expected status; one that finds
// the state already moved returns ErrConflict, which callers treat as a
// benign race (another instance, or a redelivered task, got there first).
//
// Implementations: store/bolt (embedded default) and store/firestore. Both
// must pass the conformance suite in store/storetest.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/certpem"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
)

// ErrNotFound means the named object does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict means a precondition did not hold: the object is not in the
// status the transition starts from, or a unique key is already taken.
var ErrConflict = errors.New("store: conflict")

// ErrEABKeyUnusable means CreateAccount was asked to bind an external
// account binding key that cannot bind it: unknown, of another profile,
// revoked, expired at the account's CreatedAt, or single-use and already
// used. The error wraps the reason; nothing was stored.
var ErrEABKeyUnusable = errors.New("store: EAB key unusable")

// Store is the full storage contract. Callers that only read should accept
// the narrower Reader.
type Store interface {
	Reader
	Accounts
	Orders
	Certificates
	Nonces
	RateLimits
	EABKeys
	// Close releases the store's resources.
	Close() error
}

// Reader reads ACME objects by ID. Each returns ErrNotFound when absent.
type Reader interface {
	GetAccount(ctx context.Context, id string) (*core.Account, error)
	// GetAccountByKey finds the account bound to a JWK thumbprint.
	GetAccountByKey(ctx context.Context, thumbprint string) (*core.Account, error)
	GetOrder(ctx context.Context, id string) (*core.Order, error)
	GetAuthorization(ctx context.Context, id string) (*core.Authorization, error)
	GetCertificate(ctx context.Context, id string) (*core.Certificate, error)
	// GetCertificateBySerial finds a certificate by its serial (see
	// core.Certificate.Serial for the encoding).
	GetCertificateBySerial(ctx context.Context, serial string) (*core.Certificate, error)
}

// Accounts holds the account transitions (RFC 8555 §7.3).
type Accounts interface {
	// CreateAccount stores a new account and binds its key thumbprint to it,
	// atomically. If the thumbprint is already bound it stores nothing and
	// returns ErrConflict; of two racing calls with one key exactly one
	// succeeds. When a.EABKeyID is set, the same transaction binds that
	// external account binding key (RFC 8555 §7.3.4): the key must exist,
	// be of a.Profile and be able to bind an account created at a.CreatedAt
	// (core.EABKey.CanBind); then its use count is incremented. Otherwise
	// nothing is stored and the error wraps ErrEABKeyUnusable (the key
	// binding is checked after the thumbprint, so a known key still gets
	// ErrConflict). Of two accounts racing for one single-use key, exactly
	// one is created.
	CreateAccount(ctx context.Context, a *core.Account) error
	// UpdateAccountContact replaces the contacts of a valid account and
	// returns the result; ErrConflict if the account is not valid.
	UpdateAccountContact(ctx context.Context, id string, contact []string) (*core.Account, error)
	// DeactivateAccount moves a valid account to deactivated and returns the
	// result; ErrConflict if it is not valid. The key stays bound.
	DeactivateAccount(ctx context.Context, id string) (*core.Account, error)
	// ChangeAccountKey rebinds a valid account from oldThumbprint to a new
	// key (RFC 8555 §7.3.5) atomically: ErrConflict if the new thumbprint is
	// bound to any account, or the account's current thumbprint is not
	// oldThumbprint, or the account is not valid.
	ChangeAccountKey(ctx context.Context, id, oldThumbprint, newThumbprint string, newKey []byte) (*core.Account, error)
}

// Orders holds order and authorization transitions (RFC 8555 §7.4, §7.5).
type Orders interface {
	// CreateOrder stores a new order and its new (pending) authorizations
	// atomically. o.AuthzIDs may also name existing valid authorizations
	// that are being reused; those are not rewritten.
	CreateOrder(ctx context.Context, o *core.Order, authzs []*core.Authorization) error
	// ListOrders returns the IDs of an account's orders, newest first, at
	// most limit of them.
	ListOrders(ctx context.Context, accountID string, limit int) ([]string, error)
	// FindValidAuthorizations returns, per identifier, a valid authorization
	// of the account and profile that does not expire before notBefore, for
	// reuse (RFC 8555 §7.4). Identifiers with none are absent from the map.
	FindValidAuthorizations(ctx context.Context, accountID, profile string, idents []acme.Identifier, notBefore time.Time) (map[acme.Identifier]*core.Authorization, error)
	// MarkChallengeProcessing moves a pending challenge of a pending
	// authorization to processing and returns the authorization;
	// ErrConflict (with the current authorization) if either is not pending.
	MarkChallengeProcessing(ctx context.Context, authzID, challengeID string) (*core.Authorization, error)
	// RecordValidation records a validation result in one transaction: the
	// challenge (processing -> valid/invalid), its authorization (pending ->
	// valid/invalid), and the authorization's order (pending -> ready when
	// every authorization of the order is now valid; pending -> invalid, with
	// the result's error, when this one failed). ErrConflict if the challenge
	// is not processing (the result was already recorded).
	RecordValidation(ctx context.Context, r core.ValidationResult) (*core.Authorization, error)
	// DeactivateAuthorization moves a pending or valid authorization to
	// deactivated (RFC 8555 §7.5.2), and its own order, if pending or ready,
	// to invalid; ErrConflict otherwise.
	DeactivateAuthorization(ctx context.Context, authzID string) (*core.Authorization, error)
	// BeginFinalize moves a ready, unexpired order to processing and stores
	// its CSR, exactly once: ErrConflict (with the current order) if the
	// order is not ready, or if any of its authorizations is no longer valid
	// or has expired at now.
	BeginFinalize(ctx context.Context, orderID string, csr []byte, now time.Time) (*core.Order, error)
	// CompleteFinalize moves a processing order to valid and stores its
	// certificate (ID = order ID) atomically; ErrConflict if the order is not
	// processing. The store may drop the order's CSR then: only a finalize
	// retry of a processing order reads it.
	CompleteFinalize(ctx context.Context, orderID string, cert *core.Certificate) (*core.Order, error)
	// RecordCARequest stores, on a processing order, the CA's name for the
	// certificate it is issuing (ca.IssueRequest.Submitted); ErrConflict if
	// the order is not processing.
	RecordCARequest(ctx context.Context, orderID, resource string) error
	// FailFinalize moves a processing order to invalid with prob;
	// ErrConflict if the order is not processing.
	FailFinalize(ctx context.Context, orderID string, prob *problem.Problem) (*core.Order, error)
	// CountPendingAuthorizations counts the account's authorizations that
	// are pending and expire after now, stopping at limit (it returns at
	// most limit, so the cost stays bounded).
	CountPendingAuthorizations(ctx context.Context, accountID string, now time.Time, limit int) (int, error)
	// NextPendingExpiry returns the earliest expiry after now among the
	// account's pending authorizations; ErrNotFound when it has none.
	NextPendingExpiry(ctx context.Context, accountID string, now time.Time) (time.Time, error)
}

// Certificates holds certificate transitions (RFC 8555 §7.6).
type Certificates interface {
	// RevokeCertificate marks a valid certificate revoked with an RFC 5280
	// reason code; ErrConflict if it is already revoked.
	RevokeCertificate(ctx context.Context, id string, reason int, at time.Time) (*core.Certificate, error)
}

// Nonces holds the replay-nonce redemption set (RFC 8555 §6.5).
type Nonces interface {
	// RedeemNonce records nonce as used until expires; ErrConflict if it was
	// already redeemed. Implementations may forget a nonce after expires.
	RedeemNonce(ctx context.Context, nonce string, expires time.Time) error
}

// RateLimit names one rate-limit counter: the events of Key counted in
// fixed windows of length Window, aligned to the Unix epoch (an hour
// window runs from one full UTC hour to the next), at most Max per window.
type RateLimit struct {
	// Key names what is counted, such as "orders:{account ID}"; any
	// string up to 512 bytes.
	Key string
	// Max is the most events one window may hold; zero or negative means
	// no limit (Spend always counts and succeeds).
	Max int64
	// Window is the window length, at least a second.
	Window time.Duration
	// Shards is how many documents a store that shards counters
	// (Firestore) spreads one window's writes over, so no document is hot;
	// 0 means 1, at most MaxShards. Stores that count in one place ignore
	// it.
	Shards int
}

// MaxShards bounds RateLimit.Shards.
const MaxShards = 64

// WindowStart returns the start of l's window that contains now.
func (l RateLimit) WindowStart(now time.Time) time.Time { return now.UTC().Truncate(l.Window) }

// WindowEnd returns the end of l's window that contains now: when its
// count starts over.
func (l RateLimit) WindowEnd(now time.Time) time.Time { return l.WindowStart(now).Add(l.Window) }

// Check reports a RateLimit a store must refuse.
func (l RateLimit) Check() error {
	switch {
	case l.Key == "" || len(l.Key) > 512:
		return fmt.Errorf("store: rate limit key %q must be 1 to 512 bytes", problem.Truncate(l.Key, 40))
	case l.Window < time.Second:
		return fmt.Errorf("store: rate limit %s: window %v is shorter than a second", l.Key, l.Window)
	case l.Shards < 0 || l.Shards > MaxShards:
		return fmt.Errorf("store: rate limit %s: %d shards, want 0 to %d", l.Key, l.Shards, MaxShards)
	}
	return nil
}

// RateLimits holds rate-limit counters in the store, so that every
// instance sharing the store shares the limits.
type RateLimits interface {
	// Spend adds n events to l's window containing now if the window's
	// count stays at most l.Max, and reports whether it did; if not it adds
	// nothing and returns the end of the window. A store that shards may let
	// concurrent Spends overshoot Max a little (see its documentation).
	Spend(ctx context.Context, l RateLimit, n int64, now time.Time) (ok bool, retryAt time.Time, err error)
	// Add adds n events (negative n: a refund) to l's window containing
	// now, whatever Max says.
	Add(ctx context.Context, l RateLimit, n int64, now time.Time) error
	// Counts returns the count of each limit's window containing now, in
	// one round trip where the store can.
	Counts(ctx context.Context, ls []RateLimit, now time.Time) ([]int64, error)
}

// EABKeys holds the external account binding keys (RFC 8555 §7.3.4),
// managed by the operator; binding one to an account is part of
// Accounts.CreateAccount.
type EABKeys interface {
	// CreateEABKey stores a new key; ErrConflict if its KID exists.
	CreateEABKey(ctx context.Context, k *core.EABKey) error
	// GetEABKey reads a key; ErrNotFound if absent.
	GetEABKey(ctx context.Context, kid string) (*core.EABKey, error)
	// ListEABKeys returns every key, ordered by KID.
	ListEABKeys(ctx context.Context) ([]*core.EABKey, error)
	// RevokeEABKey marks a key revoked at at and returns it; ErrNotFound if
	// absent, ErrConflict (with the key) if it is already revoked.
	RevokeEABKey(ctx context.Context, kid string, at time.Time) (*core.EABKey, error)
}

// Recoverer is implemented by stores that can list work interrupted by a
// crash or whose task was lost: the embedded store re-queues it at start,
// and the RA's reconciler (ra.RA.Reconcile) finishes it on a schedule in
// both deployments. An implementation may bound how many it lists per call.
type Recoverer interface {
	// ProcessingChallenges returns the (authzID, challengeID) pairs of
	// challenges in processing.
	ProcessingChallenges(ctx context.Context) ([][2]string, error)
	// ProcessingOrders returns the IDs of orders in processing.
	ProcessingOrders(ctx context.Context) ([]string, error)
}

// MaxListLimit bounds the Limit of a Lister call.
const MaxListLimit = 1000

// ListScanLimit bounds how many documents one Lister call examines where
// the store cannot filter by an index (a name, or a second condition), so
// an operator's search costs at most that many reads however large the
// store is; a search that finds fewer than Limit within it returns what
// it found.
const ListScanLimit = 10000

// CertificateFilter selects certificates for an operator (Lister). Zero
// fields select everything; set fields must all match.
type CertificateFilter struct {
	// AccountID is the issuing account.
	AccountID string
	// Serial is the serial (see core.Certificate.Serial).
	Serial string
	// Name is a DNS name or IP address among the leaf's subject
	// alternative names, compared case-insensitively ("*.example.com"
	// matches only the wildcard name).
	Name string
	// Revoked selects revoked certificates only.
	Revoked bool
	// ExpiringBefore, when set, selects unrevoked certificates whose
	// NotAfter is after Now and before it.
	ExpiringBefore time.Time
	// Now is the time ExpiringBefore is measured from.
	Now time.Time
	// Limit is the most certificates returned: 1 to MaxListLimit.
	Limit int
}

// Check reports a filter a store must refuse.
func (f CertificateFilter) Check() error {
	if f.Limit < 1 || f.Limit > MaxListLimit {
		return fmt.Errorf("store: limit %d, want 1 to %d", f.Limit, MaxListLimit)
	}
	if !f.ExpiringBefore.IsZero() && f.Now.IsZero() {
		return errors.New("store: ExpiringBefore needs Now")
	}
	return nil
}

// Match reports whether c is selected by f.
func (f CertificateFilter) Match(c *core.Certificate) bool {
	switch {
	case f.AccountID != "" && c.AccountID != f.AccountID,
		f.Serial != "" && c.Serial != f.Serial,
		f.Revoked && c.Status != core.StatusRevoked:
		return false
	case !f.ExpiringBefore.IsZero() && (c.Status == core.StatusRevoked || !c.NotAfter.After(f.Now) || !c.NotAfter.Before(f.ExpiringBefore)):
		return false
	case f.Name != "":
		return slices.ContainsFunc(certpem.LeafNames(c.Chain), func(n string) bool { return strings.EqualFold(n, f.Name) })
	}
	return true
}

// Lister is implemented by stores that list for an operator (`acmera
// admin`, the admin page); no ACME request uses it. Results are newest
// first (CreatedAt, or UpdatedAt for orders), at most the limit given
// (1 to MaxListLimit).
type Lister interface {
	// ListCertificates returns the certificates f selects.
	ListCertificates(ctx context.Context, f CertificateFilter) ([]*core.Certificate, error)
	// ListAccounts returns the newest accounts.
	ListAccounts(ctx context.Context, limit int) ([]*core.Account, error)
	// ListInvalidOrders returns the orders that became invalid most
	// recently, with their problem documents.
	ListInvalidOrders(ctx context.Context, limit int) ([]*core.Order, error)
}

// CheckLimit reports a Lister limit a store must refuse.
func CheckLimit(limit int) error {
	if limit < 1 || limit > MaxListLimit {
		return fmt.Errorf("store: limit %d, want 1 to %d", limit, MaxListLimit)
	}
	return nil
}

// SortNewest sorts xs newest first by at, then by id, and cuts it to
// limit: the order every Lister returns.
func SortNewest[T any](xs []T, limit int, at func(T) time.Time, id func(T) string) []T {
	slices.SortFunc(xs, func(a, b T) int {
		if c := at(b).Compare(at(a)); c != 0 {
			return c
		}
		return strings.Compare(id(a), id(b))
	})
	if len(xs) > limit {
		xs = xs[:limit]
	}
	return xs
}

// AtOnceFinalizer is implemented by stores that can finalize an order in
// one write (the embedded store: one fsync'd commit instead of two), for a
// certificate signed in this process before the write (ca.InProcess): until
// the write it exists nowhere else, so no processing state is needed to
// recover it after a crash, and none is stored.
type AtOnceFinalizer interface {
	// FinalizeAtOnce is BeginFinalize's checks and CompleteFinalize's
	// writes in one transaction: a ready, unexpired order whose
	// authorizations are all valid at now becomes valid with cert (ID =
	// order ID). ErrConflict, with the current order and nothing written,
	// if it cannot be finalized at now or the serial is taken.
	FinalizeAtOnce(ctx context.Context, orderID string, now time.Time, cert *core.Certificate) (*core.Order, error)
}

// OrderSpender is implemented by stores that can count a new order against
// a rate limit and store it in one transaction (the embedded store: one
// fsync'd commit instead of two). The RA uses it when the store has it,
// and Spend, CreateOrder and a refund otherwise.
type OrderSpender interface {
	// SpendCreateOrder is Spend(l, 1, now) followed, only if it spent, by
	// CreateOrder(o, authzs), atomically: when the limit refuses (ok
	// false, with the end of the window) or CreateOrder fails (ErrConflict
	// included) nothing is written.
	SpendCreateOrder(ctx context.Context, l RateLimit, now time.Time, o *core.Order, authzs []*core.Authorization) (ok bool, retryAt time.Time, err error)
}
