package e2eutil

import (
	"fmt"
	"net"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/testdns"
)

// Responders are what a validation reaches on loopback: the test DNS
// server (127.0.0.1 for every name, and the TXT records set for dns-01),
// an http-01 server and a tls-alpn-01 server.
type Responders struct {
	DNS    *testdns.Server
	HTTP01 *HTTP01
	ALPN   *ALPN
}

// Present publishes cl's response to the challenge ch of z through r (RFC
// 8555 §8.3 http-01, §8.4 dns-01; RFC 8737 §3 tls-alpn-01, which for an IP
// identifier, RFC 8738 §6, is a handshake without SNI).
func (r *Responders) Present(cl *acme.Client, z *acme.Authorization, ch *acme.Challenge) error {
	switch ch.Type {
	case "http-01":
		body, err := cl.HTTP01ChallengeResponse(ch.Token)
		if err != nil {
			return fmt.Errorf("HTTP01ChallengeResponse: %w", err)
		}
		r.HTTP01.Set(ch.Token, body)
	case "dns-01":
		rec, err := cl.DNS01ChallengeRecord(ch.Token)
		if err != nil {
			return fmt.Errorf("DNS01ChallengeRecord: %w", err)
		}
		r.DNS.AddTXT("_acme-challenge."+z.Identifier.Value, rec)
	case "tls-alpn-01":
		cert, err := cl.TLSALPN01ChallengeCert(ch.Token, z.Identifier.Value)
		if err != nil {
			return fmt.Errorf("TLSALPN01ChallengeCert: %w", err)
		}
		sni := z.Identifier.Value
		if net.ParseIP(sni) != nil {
			sni = ""
		}
		r.ALPN.Set(sni, cert)
	default:
		return fmt.Errorf("no responder for %s", ch.Type)
	}
	return nil
}

// FindChallenge returns z's challenge of type typ.
func FindChallenge(z *acme.Authorization, typ string) (*acme.Challenge, error) {
	var have []string
	for _, ch := range z.Challenges {
		if ch.Type == typ {
			return ch, nil
		}
		have = append(have, ch.Type)
	}
	return nil, fmt.Errorf("authorization for %s offers %v, not %s", z.Identifier.Value, have, typ)
}
