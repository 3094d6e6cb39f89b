// Package nonce issues and redeems RFC 8555 §6.5 replay nonces across
// instances. A nonce is sealed: issue time and random bytes, authenticated
// with an HMAC under a key every instance shares, so a forged, truncated or
// expired nonce is rejected with no I/O. Redemption is one create-if-absent
// write in the store's nonce set (store.Nonces), so each nonce is accepted
// at most once whichever instance sees it.
package nonce

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"

	"github.com/acmera/acmera/pkg/metrics"
	"github.com/acmera/acmera/pkg/store"
)

// KeySize is the size of the sealing key in bytes.
const KeySize = 32

const (
	tsLen   = 8
	randLen = 8
	macLen  = 16
	rawLen  = tsLen + randLen + macLen
)

// ErrInvalid means the nonce is malformed, forged, expired or already used.
var ErrInvalid = errors.New("nonce: invalid")

// Service issues and redeems nonces.
type Service struct {
	key      []byte
	lifetime time.Duration
	used     store.Nonces
	now      func() time.Time
	macs     sync.Pool
	metrics  *metrics.Metrics
}

// Config configures a Service.
type Config struct {
	// Key is the shared sealing key (KeySize bytes).
	Key []byte
	// Lifetime is how long an issued nonce stays redeemable; default 1 h.
	Lifetime time.Duration
	// Used records redeemed nonces.
	Used store.Nonces
	// Clock returns the current time; default time.Now.
	Clock func() time.Time
	// Metrics counts rejected nonces by reason; nil records nothing.
	Metrics *metrics.Metrics
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if len(cfg.Key) != KeySize {
		return nil, fmt.Errorf("nonce: key must be %d bytes, got %d", KeySize, len(cfg.Key))
	}
	if cfg.Used == nil {
		return nil, errors.New("nonce: no redemption store")
	}
	s := &Service{key: append([]byte(nil), cfg.Key...), lifetime: cfg.Lifetime, used: cfg.Used, now: cfg.Clock, metrics: cfg.Metrics}
	if s.lifetime <= 0 {
		s.lifetime = time.Hour
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.macs.New = func() any { return hmac.New(sha256.New, s.key) }
	return s, nil
}

// NewKey returns a random sealing key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return k
}

func (s *Service) seal(dst []byte) {
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(dst[:tsLen+randLen])
	var sum [sha256.Size]byte
	copy(dst[tsLen+randLen:], m.Sum(sum[:0])[:macLen])
	s.macs.Put(m)
}

// Issue returns a fresh nonce.
func (s *Service) Issue() string {
	var raw [rawLen]byte
	binary.BigEndian.PutUint64(raw[:tsLen], uint64(s.now().UnixNano()))
	if _, err := rand.Read(raw[tsLen : tsLen+randLen]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	s.seal(raw[:])
	return encoding.EncodeToString(raw[:])
}

// encoding is the nonce's text form (RFC 8555 §6.5.1: base64url without
// padding). Decoding is strict: 32 bytes take 43 characters whose last
// carries 2 spare bits, and a lenient decoder would map four different
// strings to one sealed value, each a fresh key in the redeemed set, so one
// nonce could be redeemed four times.
var encoding = base64.RawURLEncoding.Strict()

// check verifies the seal and age of n with no I/O and returns when it
// stops being redeemable, or why it is not (a metrics.Nonce* reason).
func (s *Service) check(n string) (time.Time, string) {
	if encoding.DecodedLen(len(n)) != rawLen {
		return time.Time{}, metrics.NonceMalformed
	}
	var raw, want [rawLen]byte
	if _, err := encoding.Decode(raw[:], []byte(n)); err != nil {
		return time.Time{}, metrics.NonceMalformed
	}
	copy(want[:], raw[:tsLen+randLen])
	s.seal(want[:])
	if !hmac.Equal(raw[tsLen+randLen:], want[tsLen+randLen:]) {
		return time.Time{}, metrics.NonceForged
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(raw[:tsLen])))
	expires := issued.Add(s.lifetime)
	now := s.now()
	if now.After(expires) || issued.After(now.Add(time.Minute)) {
		return time.Time{}, metrics.NonceExpired
	}
	return expires, ""
}

// Redeem accepts n once: ErrInvalid if it is not a nonce this service
// sealed, has expired or was already redeemed; another error if the
// redemption could not be recorded.
func (s *Service) Redeem(ctx context.Context, n string) error {
	expires, reason := s.check(n)
	if reason != "" {
		s.metrics.NonceRejected(ctx, reason)
		return ErrInvalid
	}
	if err := s.used.RedeemNonce(ctx, n, expires); err != nil {
		if errors.Is(err, store.ErrConflict) {
			s.metrics.NonceRejected(ctx, metrics.NonceReplayed)
			return ErrInvalid
		}
		return fmt.Errorf("nonce: redeem: %w", err)
	}
	return nil
}
