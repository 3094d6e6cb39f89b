package bolt

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// errCorrupt reports a stored document that does not decode.
var errCorrupt = errors.New("bolt: corrupt document")

// docVersion is the first byte of every stored document, so the layout can
// evolve without guessing. certDocVersion is the certificate layout with a
// compact chain (see certdoc.go); certificates written as docVersion still
// decode.
const (
	docVersion     = 1
	certDocVersion = 2
)

// compactStrings is a flag of the version byte: the document's strings
// are in the compact form (writer.str), in which an ID (core.NewID: 128
// random bits, 22 characters of base64url) takes 17 bytes instead of 23.
// Every document is written so; documents written before the flag (their
// strings length-prefixed only) still decode. A build from before the flag
// cannot read documents written with it (it reports them corrupt), so a
// data directory does not go back to such a build.
const compactStrings = 0x80

// idLen and idRawLen are the lengths of an ID as text and as bytes.
const (
	idLen    = 22
	idRawLen = 16
)

// writer appends a document's fields in a compact, versioned binary layout:
// unsigned varints for lengths and counts, length-prefixed strings and byte
// strings, and times as a presence byte, Unix seconds and nanoseconds (full
// precision, any year). It replaces reflection-based encoders on the hot path.
type writer struct {
	b       []byte
	compact bool // strings in the compact form (compactStrings)
}

func newWriter(sizeHint int) *writer { return newWriterVersion(sizeHint, docVersion) }

func newWriterVersion(sizeHint int, version byte) *writer {
	w := &writer{b: make([]byte, 0, sizeHint+1), compact: true}
	w.b = append(w.b, version|compactStrings)
	return w
}

func (w *writer) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }

func (w *writer) int(v int64) { w.b = binary.AppendVarint(w.b, v) }

// str writes a length-prefixed string. In the compact form the prefix is
// the length plus one, and 0 announces an ID as its 16 raw bytes.
func (w *writer) str(s string) {
	if !w.compact {
		w.uint(uint64(len(s)))
		w.b = append(w.b, s...)
		return
	}
	if id, ok := rawID(s); ok {
		w.b = append(append(w.b, 0), id[:]...)
		return
	}
	w.uint(uint64(len(s)) + 1)
	w.b = append(w.b, s...)
}

// rawID decodes s if it is an ID exactly as core.NewID writes it: 22
// characters of unpadded base64url that encode back to s.
func rawID(s string) ([idRawLen]byte, bool) {
	var id [idRawLen]byte
	if len(s) != idLen {
		return id, false
	}
	if n, err := base64.RawURLEncoding.Decode(id[:], []byte(s)); err != nil || n != idRawLen {
		return id, false
	}
	var back [idLen]byte
	base64.RawURLEncoding.Encode(back[:], id[:])
	return id, string(back[:]) == s
}

func (w *writer) bytes(p []byte) {
	w.uint(uint64(len(p)))
	w.b = append(w.b, p...)
}

func (w *writer) strs(ss []string) {
	w.uint(uint64(len(ss)))
	for _, s := range ss {
		w.str(s)
	}
}

func (w *writer) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
		return
	}
	w.b = append(w.b, 0)
}

func (w *writer) time(t time.Time) {
	if t.IsZero() {
		w.b = append(w.b, 0)
		return
	}
	w.b = append(w.b, 1)
	w.int(t.Unix())
	w.uint(uint64(t.Nanosecond()))
}

// reader decodes what writer wrote. The first failure sticks in err and
// makes every later read return a zero value, so decoders check once.
type reader struct {
	b       []byte
	err     error
	compact bool // strings in the compact form (compactStrings)
}

// newReader reads a document of docVersion.
func newReader(b []byte) *reader {
	r, version := newReaderAny(b)
	if r.err == nil && version != docVersion {
		r.fail()
	}
	return r
}

// newReaderAny reads a document of any version and returns the version.
func newReaderAny(b []byte) (*reader, byte) {
	r := &reader{b: b}
	if len(b) == 0 {
		r.err = errCorrupt
		return r, 0
	}
	r.b, r.compact = b[1:], b[0]&compactStrings != 0
	return r, b[0] &^ compactStrings
}

func (r *reader) fail() { r.err = errCorrupt; r.b = nil }

// more reports whether fields remain: a field appended to a layout later
// is read only when present, so documents written before it still decode.
func (r *reader) more() bool { return r.err == nil && len(r.b) > 0 }

func (r *reader) uint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) int() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// raw returns the next length-prefixed field, aliasing the input.
func (r *reader) raw() []byte {
	n := r.uint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) str() string {
	if !r.compact {
		return string(r.raw())
	}
	n := r.uint()
	switch {
	case r.err != nil:
		return ""
	case n == 0:
		if len(r.b) < idRawLen {
			r.fail()
			return ""
		}
		s := base64.RawURLEncoding.EncodeToString(r.b[:idRawLen])
		r.b = r.b[idRawLen:]
		return s
	case n-1 > uint64(len(r.b)):
		r.fail()
		return ""
	}
	s := string(r.b[:n-1])
	r.b = r.b[n-1:]
	return s
}

// bytes returns a copy (bbolt's values are valid only inside the
// transaction), nil when empty.
func (r *reader) bytes() []byte {
	p := r.raw()
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

// count reads a slice length, bounded by the bytes left (every element
// takes at least one byte), so a corrupt length cannot force a huge
// allocation.
func (r *reader) count() int {
	n := r.uint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *reader) strs() []string {
	n := r.count()
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = r.str()
	}
	return ss
}

func (r *reader) bool() bool {
	if r.err != nil {
		return false
	}
	if len(r.b) == 0 {
		r.fail()
		return false
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v == 1
}

func (r *reader) time() time.Time {
	if !r.bool() {
		return time.Time{}
	}
	sec := r.int()
	nsec := r.uint()
	if nsec >= uint64(time.Second) {
		r.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}
