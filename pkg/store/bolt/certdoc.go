package bolt

import (
	"bytes"
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/acmera/acmera/pkg/certpem"
	"github.com/acmera/acmera/pkg/core"
)

// bucketChains holds the issuer part of certificate chains, once each:
// SHA-256 of the PEM text after the leaf -> that text. Every certificate
// of one intermediate shares one entry, so a certificate document stores
// only its leaf, as DER: about 0.6 KB instead of about 1.6 KB, which
// shrinks the file and the pages each finalize writes. Entries are few
// (one per intermediate) and are never deleted.
const bucketChains = "chains"

// certDoc is the storage shape of a certificate (RFC 8555 §7.4.2).
//
// The chain is kept in one of two forms. Compact: the leaf's DER and the
// key of the rest of the chain in bucketChains, used when the chain is a
// PEM CERTIFICATE block exactly as encoding/pem writes it followed by
// anything, so that the chain read back is byte for byte the one given.
// Raw: the chain as given, for anything else.
type certDoc struct {
	id, accountID, orderID, profile, serial string
	chain                                   []byte // the full chain; set by resolve in the compact form
	leafDER, tailKey                        []byte // the compact form, or nil
	tail                                    []byte // the chain after the leaf, to store under tailKey
	notBefore, notAfter                     time.Time
	caResource, status                      string
	revokedAt                               time.Time
	reason                                  int64
	createdAt                               time.Time
	// replacedBy and backend are trailing fields (see reader.more),
	// written together when either is set.
	replacedBy, backend string
}

const (
	chainRaw     = 0
	chainCompact = 1
)

func certToDoc(c *core.Certificate) certDoc {
	d := certDoc{id: c.ID, accountID: c.AccountID, orderID: c.OrderID, profile: c.Profile,
		serial: c.Serial, chain: c.Chain, notBefore: c.NotBefore, notAfter: c.NotAfter,
		caResource: c.CAResource, status: string(c.Status), revokedAt: c.RevokedAt,
		reason: int64(c.RevocationReason), createdAt: c.CreatedAt, replacedBy: c.ReplacedBy,
		backend: c.Backend}
	d.leafDER, d.tail = splitChain(c.Chain)
	if d.leafDER != nil {
		sum := sha256.Sum256(d.tail)
		d.tailKey = sum[:]
	}
	return d
}

// splitChain returns the DER of the chain's first PEM block and the text
// after it, if re-encoding that DER gives back the block's exact text;
// nil otherwise.
func splitChain(chain []byte) (leafDER, tail []byte) {
	block, rest := pem.Decode(chain)
	if block == nil || block.Type != "CERTIFICATE" || len(block.Headers) != 0 {
		return nil, nil
	}
	first := chain[:len(chain)-len(rest)]
	if !bytes.Equal(certpem.Append(nil, block.Bytes), first) {
		return nil, nil
	}
	return block.Bytes, rest
}

func (d *certDoc) core() *core.Certificate {
	return &core.Certificate{ID: d.id, AccountID: d.accountID, OrderID: d.orderID,
		Profile: d.profile, Serial: d.serial, Chain: d.chain, NotBefore: d.notBefore,
		NotAfter: d.notAfter, CAResource: d.caResource, Status: core.Status(d.status),
		RevokedAt: d.revokedAt, RevocationReason: int(d.reason), CreatedAt: d.createdAt,
		ReplacedBy: d.replacedBy, Backend: d.backend}
}

func (d *certDoc) encode() []byte {
	w := newWriterVersion(160+len(d.leafDER)+len(d.tailKey)+len(d.chain), certDocVersion)
	w.str(d.id)
	w.str(d.accountID)
	// A certificate's ID is its order's (CompleteFinalize), so the order
	// ID is written as "" when it repeats the ID.
	if d.orderID == d.id {
		w.str("")
	} else {
		w.str(d.orderID)
	}
	w.str(d.profile)
	w.str(d.serial)
	if d.leafDER != nil {
		w.uint(chainCompact)
		w.bytes(d.leafDER)
		w.bytes(d.tailKey)
	} else {
		w.uint(chainRaw)
		w.bytes(d.chain)
	}
	w.time(d.notBefore)
	w.time(d.notAfter)
	w.str(d.caResource)
	w.str(d.status)
	w.time(d.revokedAt)
	w.int(d.reason)
	w.time(d.createdAt)
	if d.replacedBy != "" || d.backend != "" {
		w.str(d.replacedBy)
		w.str(d.backend)
	}
	return w.b
}

// decode reads both layouts: docVersion (the chain always raw) and
// certDocVersion. A compact chain needs resolve before use.
func (d *certDoc) decode(b []byte) error {
	r, version := newReaderAny(b)
	d.id, d.accountID, d.orderID, d.profile, d.serial = r.str(), r.str(), r.str(), r.str(), r.str()
	if d.orderID == "" {
		d.orderID = d.id
	}
	d.chain, d.leafDER, d.tailKey = nil, nil, nil
	switch {
	case version == docVersion:
		d.chain = r.bytes()
	case version != certDocVersion:
		r.fail()
	case r.uint() == chainCompact:
		d.leafDER, d.tailKey = r.bytes(), r.bytes()
	default:
		d.chain = r.bytes()
	}
	d.notBefore, d.notAfter = r.time(), r.time()
	d.caResource, d.status, d.revokedAt = r.str(), r.str(), r.time()
	d.reason, d.createdAt = r.int(), r.time()
	d.replacedBy, d.backend = "", ""
	if r.more() {
		d.replacedBy, d.backend = r.str(), r.str()
	}
	if r.err == nil && d.leafDER == nil && d.tailKey != nil {
		r.fail()
	}
	return r.err
}

// loadCert loads the certificate at id and rebuilds its chain.
func loadCert(tx *bbolt.Tx, id string, d *certDoc) error {
	if err := load(tx, bucketCerts, id, d); err != nil {
		return err
	}
	if d.leafDER == nil {
		return nil
	}
	tail := bucket(tx, bucketChains).Get(d.tailKey)
	if empty := sha256.Sum256(nil); tail == nil && !bytes.Equal(d.tailKey, empty[:]) {
		// Only an empty tail is not stored (see putChainTail).
		return fmt.Errorf("certificate %q: chain %x is missing: %w", id, d.tailKey, errCorrupt)
	}
	d.chain = append(certpem.Append(make([]byte, 0, 2*len(d.leafDER)+len(tail)), d.leafDER), tail...)
	return nil
}

// putChainTail stores a compact certificate's chain tail unless it is
// stored already (the usual case: one write per intermediate, ever).
func putChainTail(tx *bbolt.Tx, d *certDoc) error {
	if d.leafDER == nil || len(d.tail) == 0 || exists(tx, bucketChains, string(d.tailKey)) {
		return nil
	}
	return put(tx, bucketChains, d.tailKey, d.tail)
}
