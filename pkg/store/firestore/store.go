// Package firestore implements store.Store on Cloud Firestore (native mode),
// the storage authority of the Google Cloud deployment.
//
// Data model (one collection per ACME resource, documents named by the
// caller's random IDs from core.NewID):
//
//	accounts/{id}                  RFC 8555 §7.1.2 account
//	accountKeys/{jwk thumbprint}   {accountId}: binds one account per key (§7.3)
//	orders/{id}                    §7.1.3 order
//	authorizations/{id}            §7.1.4 authorization, challenges embedded
//	certificates/{order id}        issued certificate, one per order
//	nonces/{nonce}                 redeemed replay nonces (§6.5)
//	rateLimits/{key hash-window-shard} rate-limit counter shards (ratelimits.go)
//	eabKeys/{kid}                  external account binding keys (§7.3.4)
//
// Every transition is conditional. A transition that reads and writes one
// document uses an optimistic update: read it, check the status, and write
// with a LastUpdateTime precondition (one read, one write, two RPCs, no
// locks); a lost race re-reads a bounded number of times. A transition that
// must read or write several documents atomically uses a transaction, whose
// reads all come before its writes and whose function only derives its
// result from those reads, so the client library may re-run it on Aborted.
// Create-if-absent (accountKeys, nonces, new orders) uses Create, whose
// AlreadyExists becomes store.ErrConflict.
//
// TTL: documents carry an expireAt timestamp for a Firestore TTL policy
// (see expireAt in docs.go); readers never rely on it, since TTL deletion
// lags, and use core's StatusAt instead.
package firestore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/acmera/acmera/pkg/store"
)

var _ store.Store = (*Store)(nil)

// Collection names, before Config.CollectionPrefix.
const (
	collAccounts       = "accounts"
	collAccountKeys    = "accountKeys"
	collOrders         = "orders"
	collAuthorizations = "authorizations"
	collCertificates   = "certificates"
	collNonces         = "nonces"
	collRateLimits     = "rateLimits"
	collEABKeys        = "eabKeys"
)

// DefaultDatabaseID is the database New opens when Config.DatabaseID is empty.
const DefaultDatabaseID = "(default)"

// Config configures a Store.
type Config struct {
	// ProjectID is the Google Cloud project holding the database. Required.
	ProjectID string
	// DatabaseID names the Firestore database; empty means "(default)".
	DatabaseID string
	// CollectionPrefix is prepended to every collection name, so tests can
	// share one emulator without seeing each other's documents. Empty in
	// production.
	CollectionPrefix string
	// EmulatorHost, when set (host:port, the FIRESTORE_EMULATOR_HOST
	// convention), connects to the Firestore emulator in plaintext with the
	// emulator's owner credentials. The entry point reads the environment and
	// passes it here.
	EmulatorHost string
	// DialOptions are extra gRPC dial options for the connection, such as
	// OpCounter.DialOptions. They apply in both production and emulator mode.
	DialOptions []grpc.DialOption
	// Clock returns the current time for timestamps the caller does not
	// provide (an order's UpdatedAt). Nil means time.Now.
	Clock func() time.Time
}

// Store is a store.Store backed by one Firestore client, built once by New
// and shared by all requests of the instance.
type Store struct {
	client *firestore.Client
	conn   *grpc.ClientConn // owned emulator connection, nil in production
	now    func() time.Time

	accounts, accountKeys, orders, authzs, certs, nonces, rateLimits, eabKeys *firestore.CollectionRef
}

// New connects to Firestore. opts are passed to the Firestore client (for
// example option.WithCredentialsFile); they are ignored for the connection
// itself in emulator mode.
func New(ctx context.Context, cfg Config, opts ...option.ClientOption) (*Store, error) {
	if cfg.ProjectID == "" {
		return nil, errors.New("firestore.New: ProjectID is required")
	}
	if strings.Contains(cfg.CollectionPrefix, "/") {
		return nil, fmt.Errorf("firestore.New: CollectionPrefix %q contains '/'", cfg.CollectionPrefix)
	}
	if cfg.DatabaseID == "" {
		cfg.DatabaseID = DefaultDatabaseID
	}
	s := &Store{now: cfg.Clock}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.EmulatorHost != "" {
		conn, err := dialEmulator(cfg.EmulatorHost, cfg.DialOptions)
		if err != nil {
			return nil, err
		}
		s.conn = conn
		opts = append(opts, option.WithGRPCConn(conn))
	} else {
		for _, d := range cfg.DialOptions {
			opts = append(opts, option.WithGRPCDialOption(d))
		}
	}
	client, err := firestore.NewClientWithDatabase(ctx, cfg.ProjectID, cfg.DatabaseID, opts...)
	if err != nil {
		if s.conn != nil {
			_ = s.conn.Close()
		}
		return nil, fmt.Errorf("firestore.NewClientWithDatabase: %w", err)
	}
	s.client = client
	p := cfg.CollectionPrefix
	s.accounts = client.Collection(p + collAccounts)
	s.accountKeys = client.Collection(p + collAccountKeys)
	s.orders = client.Collection(p + collOrders)
	s.authzs = client.Collection(p + collAuthorizations)
	s.certs = client.Collection(p + collCertificates)
	s.nonces = client.Collection(p + collNonces)
	s.rateLimits = client.Collection(p + collRateLimits)
	s.eabKeys = client.Collection(p + collEABKeys)
	return s, nil
}

// emulatorCreds sends the emulator's "owner" bearer token, which bypasses
// security rules, as the Firestore client library does for the emulator.
type emulatorCreds struct{}

func (emulatorCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}

func (emulatorCreds) RequireTransportSecurity() bool { return false }

func dialEmulator(host string, extra []grpc.DialOption) (*grpc.ClientConn, error) {
	dopts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(emulatorCreds{}),
	}, extra...)
	conn, err := grpc.NewClient(host, dopts...)
	if err != nil {
		return nil, fmt.Errorf("grpc.NewClient(%s): %w", host, err)
	}
	return conn, nil
}

// Close releases the client and, in emulator mode, its connection.
func (s *Store) Close() error {
	err := s.client.Close()
	if s.conn != nil {
		if cerr := s.conn.Close(); cerr != nil && status.Code(cerr) != codes.Canceled && err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("firestore.Client.Close: %w", err)
	}
	return nil
}

// doc names a document, or returns ErrNotFound when id cannot be a
// document ID, which no stored document has.
func doc(c *firestore.CollectionRef, id string) (*firestore.DocumentRef, error) {
	if !validDocID(id) {
		return nil, fmt.Errorf("firestore: invalid document ID %q in %s: %w", id, c.ID, store.ErrNotFound)
	}
	return c.Doc(id), nil
}

// validDocID reports whether id is a legal Firestore document ID: 1-1500
// bytes, no '/', not "." or "..", not of the reserved form __.*__.
func validDocID(id string) bool {
	if id == "" || len(id) > 1500 || id == "." || id == ".." || strings.Contains(id, "/") {
		return false
	}
	return !(len(id) >= 4 && strings.HasPrefix(id, "__") && strings.HasSuffix(id, "__"))
}

// readErr converts a read's error: NotFound becomes store.ErrNotFound.
// FailedPrecondition on a read is a missing index, not a conflict.
func readErr(call string, err error) error {
	if isStoreErr(err) {
		return err
	}
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("firestore: %s: %w: %w", call, store.ErrNotFound, err)
	}
	return fmt.Errorf("firestore: %s: %w", call, err)
}

// writeErr converts a write's error: a failed precondition (Create of an
// existing document, LastUpdateTime mismatch) becomes store.ErrConflict and
// an update of a missing document store.ErrNotFound.
func writeErr(call string, err error) error {
	if isStoreErr(err) {
		return err
	}
	switch status.Code(err) {
	case codes.AlreadyExists, codes.FailedPrecondition:
		return fmt.Errorf("firestore: %s: %w: %w", call, store.ErrConflict, err)
	case codes.NotFound:
		return fmt.Errorf("firestore: %s: %w: %w", call, store.ErrNotFound, err)
	}
	return fmt.Errorf("firestore: %s: %w", call, err)
}

func isStoreErr(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound)
}

// conflictf reports a transition attempted from the wrong state.
func conflictf(format string, args ...any) error {
	return fmt.Errorf("firestore: "+format+": %w", append(args, store.ErrConflict)...)
}

// notFoundf reports a missing object found by a query.
func notFoundf(format string, args ...any) error {
	return fmt.Errorf("firestore: "+format+": %w", append(args, store.ErrNotFound)...)
}

// maxOptimisticAttempts bounds the re-reads of updateIfUnchanged when the
// document keeps changing under it.
const maxOptimisticAttempts = 5

// updateIfUnchanged is the single-document conditional transition: it reads
// ref, asks mutate for the field updates (mutate returns an error, typically
// a conflict, to write nothing), and writes them only if the document has
// not changed since the read (LastUpdateTime precondition). A concurrent
// change re-runs the read and mutate, so mutate must derive everything from
// the snapshot it is given. Cost: one read and one write per attempt.
func updateIfUnchanged(ctx context.Context, call string, ref *firestore.DocumentRef, mutate func(*firestore.DocumentSnapshot) ([]firestore.Update, error)) error {
	for range maxOptimisticAttempts {
		snap, err := ref.Get(ctx)
		if err != nil {
			return readErr(call+": DocumentRef.Get", err)
		}
		ups, err := mutate(snap)
		if err != nil {
			return err
		}
		_, err = ref.Update(ctx, ups, firestore.LastUpdateTime(snap.UpdateTime))
		if status.Code(err) == codes.FailedPrecondition {
			continue // changed since the read: decide again on fresh state
		}
		if err != nil {
			return writeErr(call+": DocumentRef.Update", err)
		}
		return nil
	}
	return conflictf("%s: %s kept changing after %d attempts", call, ref.Path, maxOptimisticAttempts)
}

// transition is updateIfUnchanged for a method returning the object:
// change receives a freshly decoded copy of the document to check and
// modify, and returns the updates that store the modification. It returns
// the modified object on success, and the object as last read on failure
// (nil if it could not be read), as the store contract asks for conflicts.
func transition[T any](ctx context.Context, call string, ref *firestore.DocumentRef,
	decode func(*firestore.DocumentSnapshot) (*T, error), change func(next *T) ([]firestore.Update, error)) (*T, error) {
	var current, result *T
	err := updateIfUnchanged(ctx, call, ref, func(snap *firestore.DocumentSnapshot) ([]firestore.Update, error) {
		current, result = nil, nil
		cur, err := decode(snap)
		if err != nil {
			return nil, err
		}
		current = cur
		next, err := decode(snap)
		if err != nil {
			return nil, err
		}
		ups, err := change(next)
		if err != nil {
			return nil, err
		}
		result = next
		return ups, nil
	})
	if err != nil {
		return current, err
	}
	return result, nil
}

// runTx runs f in a read-write transaction and converts its error. f must
// do all reads before any write and must not mutate state outside itself
// except results it overwrites on every run: the library re-runs it when the
// transaction aborts under contention.
func (s *Store) runTx(ctx context.Context, call string, f func(context.Context, *firestore.Transaction) error) error {
	if err := s.client.RunTransaction(ctx, f); err != nil {
		return writeErr(call+": RunTransaction", err)
	}
	return nil
}
