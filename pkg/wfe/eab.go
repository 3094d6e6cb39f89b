package wfe

import (
	"bytes"
	"net/http"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/ra"
)

// parseEAB checks the structure of a newAccount's externalAccountBinding
// (RFC 8555 §7.3.4) and returns it for the RA, which checks the MAC and
// the key: a flattened JWS with a MAC algorithm, the EAB key's kid, the
// outer request's url, no nonce, and the outer JWS's jwk as payload
// (compared by RFC 7638 thumbprint). Every structural fault is malformed.
// raw is nil or JSON null when the request has no binding.
func (w *WFE) parseEAB(r *http.Request, raw []byte, outer *jose.JSONWebKey) (*ra.EABBinding, error) {
	if len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil
	}
	f, h, err := parseFlattenedAlg(raw, func(alg string) error {
		switch alg {
		case "HS256", "HS384", "HS512":
			return nil
		}
		return problem.Malformedf("the externalAccountBinding JWS algorithm %q is not accepted; use HS256, HS384 or HS512", problem.Truncate(alg, 16))
	})
	if err != nil {
		if p, ok := problem.Of(err); ok {
			return nil, problem.Malformedf("externalAccountBinding: %s", p.Detail)
		}
		return nil, err
	}
	switch {
	case h.KID == "":
		return nil, problem.Malformedf("externalAccountBinding: the JWS must name the EAB key as kid")
	case len(h.JWK) > 0:
		return nil, problem.Malformedf("externalAccountBinding: the JWS must not carry a jwk header")
	case h.Nonce != "":
		return nil, problem.Malformedf("externalAccountBinding: the JWS must not carry a nonce")
	case h.URL != w.requestURL(r):
		return nil, problem.Malformedf("externalAccountBinding: the JWS url must equal the newAccount URL")
	}
	var inner jose.JSONWebKey
	if err := inner.UnmarshalJSON(f.body); err != nil || !inner.Valid() || !inner.IsPublic() {
		return nil, problem.Malformedf("externalAccountBinding: the payload must be the account's public key as a JWK")
	}
	got, err := thumbprint(&inner)
	if err != nil {
		return nil, problem.Malformedf("externalAccountBinding: the payload must be the account's public key as a JWK")
	}
	want, err := thumbprint(outer)
	if err != nil {
		return nil, err
	}
	if got != want {
		return nil, problem.Malformedf("externalAccountBinding: the payload is not the key that signs this request")
	}
	input := make([]byte, 0, len(f.protected)+1+len(f.payload))
	input = append(append(append(input, f.protected...), '.'), f.payload...)
	return &ra.EABBinding{KID: h.KID, Alg: h.Alg, SigningInput: input, MAC: f.signature}, nil
}
