// Package sigv4 verifies AWS Signature Version 4 on requests reaching the
// AWS fakes, by recomputing the signature from the request as received
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).
// Only the headers the client named in SignedHeaders are part of the
// canonical request: Go's transport adds Accept-Encoding (and the server
// sees hop-by-hop headers) after the SDK has signed.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Credential is what a fake knows about one access key.
type Credential struct {
	Secret string
	// SessionToken is set for temporary credentials (STS): the request must
	// carry it in X-Amz-Security-Token.
	SessionToken string
	// Expires is when temporary credentials stop working; zero for none.
	Expires time.Time
}

// Store looks up the credential of an access key ID.
type Store interface {
	Lookup(accessKeyID string) (Credential, bool)
}

// Static is a Store of long-term keys: access key ID → secret.
type Static map[string]string

// Lookup implements Store.
func (s Static) Lookup(id string) (Credential, bool) {
	secret, ok := s[id]
	return Credential{Secret: secret}, ok
}

// Stores consults each Store in turn.
type Stores []Store

// Lookup implements Store.
func (ss Stores) Lookup(id string) (Credential, bool) {
	for _, s := range ss {
		if s == nil {
			continue
		}
		if c, ok := s.Lookup(id); ok {
			return c, true
		}
	}
	return Credential{}, false
}

// Error is a refusal in AWS's terms: Code is the error type a real
// service sends (InvalidSignatureException, UnrecognizedClientException,
// ExpiredTokenException, MissingAuthenticationTokenException).
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// MaxSkew is how far X-Amz-Date may be from the server's clock; AWS
// allows 15 minutes.
const MaxSkew = 15 * time.Minute

const algorithm = "AWS4-HMAC-SHA256"

// Verifier checks requests for one region and service.
type Verifier struct {
	Region  string
	Service string
	Store   Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// auth is the parsed Authorization header.
type auth struct {
	keyID, date, region, service string
	signedHeaders                []string
	signature                    string
}

func parseAuth(h string) (auth, error) {
	var a auth
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return a, &Error{"IncompleteSignatureException", "Authorization header requires AWS4-HMAC-SHA256"}
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, &Error{"IncompleteSignatureException", "malformed Authorization header"}
		}
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return a, &Error{"IncompleteSignatureException", "Credential must be AKID/date/region/service/aws4_request"}
	}
	a.keyID, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]
	if fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return a, &Error{"IncompleteSignatureException", "SignedHeaders and Signature are required"}
	}
	a.signedHeaders = strings.Split(fields["SignedHeaders"], ";")
	a.signature = fields["Signature"]
	return a, nil
}

// Verify checks r's signature over body (the whole request body, already
// read). It returns the access key ID that signed, or an *Error.
func (v *Verifier) Verify(r *http.Request, body []byte) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", &Error{"MissingAuthenticationTokenException", "Missing Authentication Token"}
	}
	a, err := parseAuth(h)
	if err != nil {
		return "", err
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return "", &Error{"IncompleteSignatureException", "X-Amz-Date is missing or malformed"}
	}
	if d := now.Sub(t); d > MaxSkew || d < -MaxSkew {
		return "", &Error{"InvalidSignatureException", "Signature expired: " + amzDate + " is not within 15 minutes of the server's time"}
	}
	if a.date != t.Format("20060102") || a.region != v.Region || a.service != v.Service {
		return "", &Error{"InvalidSignatureException", fmt.Sprintf("Credential should be scoped to a valid date, region %s and service %s", v.Region, v.Service)}
	}
	if !slices.Contains(a.signedHeaders, "host") {
		return "", &Error{"InvalidSignatureException", "the host header must be signed"}
	}
	cred, ok := v.Store.Lookup(a.keyID)
	if !ok {
		return "", &Error{"UnrecognizedClientException", "The security token included in the request is invalid."}
	}
	if cred.SessionToken != "" && r.Header.Get("X-Amz-Security-Token") != cred.SessionToken {
		return "", &Error{"UnrecognizedClientException", "The security token included in the request is invalid."}
	}
	if !cred.Expires.IsZero() && !now.Before(cred.Expires) {
		return "", &Error{"ExpiredTokenException", "The security token included in the request is expired"}
	}
	payload := hexSHA256(body)
	if p := r.Header.Get("X-Amz-Content-Sha256"); p != "" && p != "UNSIGNED-PAYLOAD" && p != payload {
		return "", &Error{"InvalidSignatureException", "X-Amz-Content-Sha256 does not match the body"}
	}
	canonical := strings.Join([]string{
		r.Method,
		canonicalURI(r.URL),
		canonicalQuery(r.URL.Query()),
		canonicalHeaders(r, a.signedHeaders),
		strings.Join(a.signedHeaders, ";"),
		payload,
	}, "\n")
	scope := strings.Join([]string{a.date, a.region, a.service, "aws4_request"}, "/")
	toSign := strings.Join([]string{algorithm, amzDate, scope, hexSHA256([]byte(canonical))}, "\n")
	key := hmacSHA256([]byte("AWS4"+cred.Secret), a.date)
	for _, s := range []string{a.region, a.service, "aws4_request"} {
		key = hmacSHA256(key, s)
	}
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return "", &Error{"InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."}
	}
	return a.keyID, nil
}

// canonicalURI is the URI-encoded path, each segment encoded once more
// (every service but S3).
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return uriEncode(p, false)
}

// canonicalQuery sorts parameters by name, then value, URI-encoded.
func canonicalQuery(q url.Values) string {
	var parts []string
	for k, vs := range q {
		for _, v := range vs {
			parts = append(parts, uriEncode(k, true)+"="+uriEncode(v, true))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "&")
}

// canonicalHeaders lists the signed headers, lowercase, values trimmed
// and inner runs of spaces collapsed, multiple values joined by commas.
func canonicalHeaders(r *http.Request, names []string) string {
	var b strings.Builder
	for _, name := range names {
		var values []string
		switch name {
		case "host":
			values = []string{r.Host}
		case "content-length":
			values = r.Header.Values("Content-Length")
			if len(values) == 0 {
				values = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		default:
			values = r.Header.Values(name)
		}
		for i, v := range values {
			values[i] = strings.Join(strings.Fields(v), " ")
		}
		b.WriteString(name + ":" + strings.Join(values, ",") + "\n")
	}
	return b.String()
}

// uriEncode percent-encodes every byte but the unreserved characters
// (and '/' unless encodeSlash).
func uriEncode(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}
