// Package bolt is the embedded store.Store: one go.etcd.io/bbolt file, used
// by the embedded default (DESIGN.md, "Embedded default").
//
// Every transition runs in one bbolt read-write transaction, fsync'd before
// it returns, so a crash loses nothing acknowledged. Writes go through a
// group commit (group.go): a lone writer commits at once, and writers that
// arrive while a commit runs share the next one, so N concurrent requests
// share one fsync instead of queueing for N, and no one waits on a timer.
//
// The group commit, like bbolt's DB.Batch, may run a transition function
// several times and rolls a whole batch back when one function returns an
// error, then re-runs that function alone. So every transition here (1) checks all its
// preconditions before it writes anything, (2) reports a lost race
// (store.ErrConflict, store.ErrNotFound) as an outcome captured by the
// closure while returning nil to bbolt, so a lost race neither rolls back
// nor re-runs the batch, and (3) resets its captured result at the start
// of each run, so only the run that committed is reported.
//
// Replay nonces (RFC 8555 §6.5) are redeemed in memory, as DESIGN.md says
// for the embedded mode: the seal must reject nonces from before a restart.
//
// Certificates keep only their leaf; the issuer part of the chain is
// stored once per issuer (certdoc.go). Expired objects are deleted by
// Prune, with the Firestore store's retention (prune.go).
package bolt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/acmera/acmera/pkg/store"
)

// Bucket names.
const (
	bucketAccounts      = "accounts"
	bucketAccountKeys   = "accountKeys"    // JWK thumbprint -> account ID
	bucketOrders        = "orders"         // order ID -> orderDoc
	bucketAuthzs        = "authorizations" // authz ID -> authzDoc
	bucketCerts         = "certificates"   // cert ID (= order ID) -> certDoc
	bucketCertSerials   = "certSerials"    // serial -> cert ID
	bucketAccountOrders = "accountOrders"  // account ID, 0, created, order ID -> empty
	bucketValidAuthzs   = "validAuthzs"    // account, profile, identifier, authz ID -> expires
	bucketProcessing    = "processing"     // "c" authz challenge | "o" order -> empty
	bucketEABKeys       = "eabKeys"        // kid -> eabKeyDoc
)

func bucketNames() []string {
	return []string{bucketAccounts, bucketAccountKeys, bucketOrders, bucketAuthzs,
		bucketCerts, bucketCertSerials, bucketAccountOrders, bucketValidAuthzs, bucketProcessing, bucketChains,
		bucketRateLimits, bucketPendingAuthzs, bucketEABKeys}
}

// Defaults for Open.
const (
	DefaultMaxBatchSize = 1000
	DefaultMaxNonces    = 1 << 17
)

// Store is the bbolt-backed store.Store. It is safe for concurrent use.
type Store struct {
	db     *bbolt.DB
	group  *groupCommit
	now    func() time.Time
	nonces *nonceSet
	// pruneMu serializes Prune steps, which share prune.
	pruneMu sync.Mutex
	prune   pruneCursor
}

var (
	_ store.Store        = (*Store)(nil)
	_ store.Recoverer    = (*Store)(nil)
	_ store.OrderSpender = (*Store)(nil)
)

type config struct {
	now          func() time.Time
	maxBatchSize int
	maxNonces    int
	lockTimeout  time.Duration
}

// Option configures Open.
type Option func(*config)

// WithClock sets the clock used where a transition takes no explicit time
// (FailFinalize, DeactivateAuthorization, CompleteFinalize without a
// certificate CreatedAt) and for forgetting expired nonces.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithMaxBatchSize caps how many writes share one commit.
func WithMaxBatchSize(n int) Option { return func(c *config) { c.maxBatchSize = n } }

// WithMaxNonces bounds the in-memory redeemed-nonce set. When it is full of
// unexpired nonces it forgets the oldest and from then on refuses nonces
// that old with store.ErrConflict (see nonceSet), so such a client gets
// badNonce and retries with a fresh nonce.
func WithMaxNonces(n int) Option { return func(c *config) { c.maxNonces = n } }

// WithLockTimeout bounds the wait for the file lock held by another process.
func WithLockTimeout(d time.Duration) Option { return func(c *config) { c.lockTimeout = d } }

// Open opens (creating if needed) the bbolt file at path.
func Open(path string, opts ...Option) (*Store, error) {
	cfg := config{now: time.Now, maxBatchSize: DefaultMaxBatchSize,
		maxNonces: DefaultMaxNonces, lockTimeout: 5 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: cfg.lockTimeout,
		// The hashmap freelist stays fast as the file grows; not syncing
		// it saves a page write per commit (it is rebuilt on open).
		FreelistType:   bbolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if err != nil {
		return nil, fmt.Errorf("bbolt.Open: %w", err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		newPending := tx.Bucket([]byte(bucketPendingAuthzs)) == nil
		for _, name := range bucketNames() {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("bbolt.CreateBucketIfNotExists(%s): %w", name, err)
			}
		}
		if newPending {
			return indexPendingAuthzs(tx)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bbolt.Update: %w", err)
	}
	return &Store{db: db, group: &groupCommit{db: db, max: max(cfg.maxBatchSize, 1)}, now: cfg.now, nonces: newNonceSet(cfg.maxNonces),
		prune: pruneCursor{next: make(map[string][]byte)}}, nil
}

// Close closes the file. It waits for running transactions.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bbolt.Close: %w", err)
	}
	return nil
}

// isOutcome reports whether err is a transition's normal "no" rather than a
// failure of the store.
func isOutcome(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound)
}

// update runs fn in a group-committed read-write transaction. fn must write
// nothing before it returns an outcome error, and must reset whatever it
// captures at its start (see the package comment).
func (s *Store) update(ctx context.Context, op string, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var outcome error
	err := s.group.update(func(tx *bbolt.Tx) error {
		outcome = nil
		if err := fn(tx); err != nil {
			if isOutcome(err) {
				outcome = err
				return nil
			}
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bbolt.Update(%s): %w", op, err)
	}
	return outcome
}

// view runs fn in a read-only transaction.
func (s *Store) view(ctx context.Context, op string, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.View(fn)
	if err != nil && !isOutcome(err) {
		return fmt.Errorf("bbolt.View(%s): %w", op, err)
	}
	return err
}

func bucket(tx *bbolt.Tx, name string) *bbolt.Bucket { return tx.Bucket([]byte(name)) }

// decoder is implemented by the document types.
type decoder interface{ decode([]byte) error }

// load decodes the document at id into d; ErrNotFound if absent.
func load(tx *bbolt.Tx, name, id string, d decoder) error {
	v := bucket(tx, name).Get([]byte(id))
	if v == nil {
		return fmt.Errorf("%s %q: %w", name, id, store.ErrNotFound)
	}
	if err := d.decode(v); err != nil {
		return fmt.Errorf("decode %s %q: %w", name, id, err)
	}
	return nil
}

func put(tx *bbolt.Tx, name string, key, val []byte) error {
	if err := bucket(tx, name).Put(key, val); err != nil {
		return fmt.Errorf("bbolt.Put(%s): %w", name, err)
	}
	return nil
}

func del(tx *bbolt.Tx, name string, key []byte) error {
	if err := bucket(tx, name).Delete(key); err != nil {
		return fmt.Errorf("bbolt.Delete(%s): %w", name, err)
	}
	return nil
}

func exists(tx *bbolt.Tx, name, key string) bool {
	return bucket(tx, name).Get([]byte(key)) != nil
}

func conflict(format string, args ...any) error {
	return fmt.Errorf("%w: %s", store.ErrConflict, fmt.Sprintf(format, args...))
}

func notFound(format string, args ...any) error {
	return fmt.Errorf("%w: %s", store.ErrNotFound, fmt.Sprintf(format, args...))
}

// ignoreNotFound maps ErrNotFound to nil.
func ignoreNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
