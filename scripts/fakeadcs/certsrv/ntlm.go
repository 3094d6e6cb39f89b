package certsrv

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"golang.org/x/crypto/md4" //nolint:staticcheck // NTOWF is MD4 by definition (MS-NLMP 3.3.1)
)

// The server side of NTLMv2 (MS-NLMP): a CHALLENGE_MESSAGE answering a
// NEGOTIATE_MESSAGE, and verification of the AUTHENTICATE_MESSAGE's
// NTLMv2 response against a known password. Session security (signing,
// sealing) is not needed for HTTP and not implemented.

var ntlmSignature = []byte("NTLMSSP\x00")

// Negotiate flags (MS-NLMP 2.2.2.5) the challenge offers.
const (
	flagUnicode         = 0x00000001
	flagRequestTarget   = 0x00000004
	flagNTLM            = 0x00000200
	flagAlwaysSign      = 0x00008000
	flagTargetTypeDom   = 0x00010000
	flagExtendedSession = 0x00080000
	flagTargetInfo      = 0x00800000
	flagVersion         = 0x02000000
	flag128             = 0x20000000
	flag56              = 0x80000000
)

// AV_PAIR IDs (MS-NLMP 2.2.2.1).
const (
	avEOL             = 0
	avNbComputerName  = 1
	avNbDomainName    = 2
	avDNSComputerName = 3
	avDNSDomainName   = 4
	avTimestamp       = 7
)

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return b
}

func fromUTF16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func filetime(t time.Time) uint64 { return uint64(t.UnixNano()/100) + 116444736000000000 }

// challenge is one CHALLENGE_MESSAGE and what verification needs of it.
type challenge struct {
	server [8]byte
	msg    []byte
}

// newChallenge builds a CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) for domain
// and computer, with a fresh server challenge and a timestamp.
func newChallenge(domain, computer string, now time.Time) (*challenge, error) {
	c := new(challenge)
	if _, err := rand.Read(c.server[:]); err != nil {
		return nil, fmt.Errorf("rand.Read: %w", err)
	}
	var info bytes.Buffer
	av := func(id uint16, v []byte) {
		binary.Write(&info, binary.LittleEndian, id)
		binary.Write(&info, binary.LittleEndian, uint16(len(v)))
		info.Write(v)
	}
	av(avNbDomainName, utf16le(strings.ToUpper(domain)))
	av(avNbComputerName, utf16le(strings.ToUpper(computer)))
	av(avDNSDomainName, utf16le(strings.ToLower(domain)+".test"))
	av(avDNSComputerName, utf16le(strings.ToLower(computer)+"."+strings.ToLower(domain)+".test"))
	ts := make([]byte, 8)
	binary.LittleEndian.PutUint64(ts, filetime(now))
	av(avTimestamp, ts)
	av(avEOL, nil)
	target := utf16le(strings.ToUpper(domain))
	const header = 56
	var m bytes.Buffer
	m.Write(ntlmSignature)
	binary.Write(&m, binary.LittleEndian, uint32(2))
	field := func(l, off int) {
		binary.Write(&m, binary.LittleEndian, uint16(l))
		binary.Write(&m, binary.LittleEndian, uint16(l))
		binary.Write(&m, binary.LittleEndian, uint32(off))
	}
	field(len(target), header)
	flags := uint32(flagUnicode | flagRequestTarget | flagNTLM | flagAlwaysSign | flagTargetTypeDom |
		flagExtendedSession | flagTargetInfo | flagVersion | flag128 | flag56)
	binary.Write(&m, binary.LittleEndian, flags)
	m.Write(c.server[:])
	m.Write(make([]byte, 8)) // Reserved
	field(info.Len(), header+len(target))
	m.Write([]byte{10, 0, 0x63, 0x45, 0, 0, 0, 15}) // Version: 10.0.17763, NTLMSSP_REVISION_W2K3
	m.Write(target)
	m.Write(info.Bytes())
	c.msg = m.Bytes()
	return c, nil
}

// authenticate is the part of an AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3)
// verification reads.
type authenticate struct {
	ntResponse []byte
	domain     string
	user       string
}

func parseAuthenticate(b []byte) (*authenticate, error) {
	if len(b) < 64 || !bytes.Equal(b[:8], ntlmSignature) || binary.LittleEndian.Uint32(b[8:]) != 3 {
		return nil, errors.New("not an NTLM AUTHENTICATE_MESSAGE")
	}
	field := func(at int) ([]byte, error) {
		l := int(binary.LittleEndian.Uint16(b[at:]))
		off := int(binary.LittleEndian.Uint32(b[at+4:]))
		if off+l > len(b) || off < 0 {
			return nil, fmt.Errorf("field at %d runs past the message", at)
		}
		return b[off : off+l], nil
	}
	flags := binary.LittleEndian.Uint32(b[60:])
	if flags&flagUnicode == 0 {
		return nil, errors.New("OEM (non-Unicode) AUTHENTICATE_MESSAGE")
	}
	nt, err := field(20)
	if err != nil {
		return nil, err
	}
	dom, err := field(28)
	if err != nil {
		return nil, err
	}
	user, err := field(36)
	if err != nil {
		return nil, err
	}
	return &authenticate{ntResponse: nt, domain: fromUTF16le(dom), user: fromUTF16le(user)}, nil
}

// ntowfv2 is NTOWFv2 (MS-NLMP 3.3.2): HMAC_MD5(MD4(UNICODE(password)),
// UNICODE(Uppercase(user) + domain)).
func ntowfv2(password, user, domain string) []byte {
	h := md4.New()
	h.Write(utf16le(password))
	mac := hmac.New(md5.New, h.Sum(nil))
	mac.Write(utf16le(strings.ToUpper(user) + domain))
	return mac.Sum(nil)
}

// verifyNTLMv2 checks an NTLMv2 response (MS-NLMP 3.3.2): NTProofStr =
// HMAC_MD5(NTOWFv2, ServerChallenge || temp) where the response is
// NTProofStr || temp, temp starting with the blob's version bytes and its
// timestamp, which must be within maxSkew of now.
func verifyNTLMv2(c *challenge, a *authenticate, password string, now time.Time, maxSkew time.Duration) error {
	if len(a.ntResponse) < 16+28 {
		return errors.New("an NT response too short for NTLMv2 (NTLMv1 is refused)")
	}
	proof, temp := a.ntResponse[:16], a.ntResponse[16:]
	if temp[0] != 1 || temp[1] != 1 {
		return errors.New("not an NTLMv2 client challenge blob")
	}
	ts := int64(binary.LittleEndian.Uint64(temp[8:16]))
	if d := time.Duration((ts - int64(filetime(now))) * 100); d > maxSkew || d < -maxSkew {
		return fmt.Errorf("the response's timestamp is %v away from the server's clock", d)
	}
	mac := hmac.New(md5.New, ntowfv2(password, a.user, a.domain))
	mac.Write(c.server[:])
	mac.Write(temp)
	if subtle.ConstantTimeCompare(mac.Sum(nil), proof) != 1 {
		return errors.New("the NTLMv2 response does not verify (wrong password)")
	}
	return nil
}
