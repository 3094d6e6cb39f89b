// Package acme holds the RFC 8555 wire types: the JSON resources exchanged with
// ACME clients and the directory. It carries no logic; conversion from the
// domain types in pkg/core happens in pkg/wfe.
package acme

import "encoding/json"

// Identifier types (RFC 8555 §9.7.7, RFC 8738).
const (
	IdentifierDNS = "dns"
	IdentifierIP  = "ip"
)

// Challenge types (RFC 8555 §8.3, §8.4; RFC 8737).
const (
	ChallengeHTTP01    = "http-01"
	ChallengeDNS01     = "dns-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
)

// Identifier is an RFC 8555 §7.1.3 identifier object. It is shared by the
// wire and domain layers because the two shapes are identical.
type Identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Directory is the RFC 8555 §7.1.1 directory object.
type Directory struct {
	NewNonce   string `json:"newNonce"`
	NewAccount string `json:"newAccount"`
	NewOrder   string `json:"newOrder"`
	RevokeCert string `json:"revokeCert"`
	KeyChange  string `json:"keyChange"`
	NewAuthz   string `json:"newAuthz,omitempty"`
	// RenewalInfo is the ARI base URL (RFC 9773 §3).
	RenewalInfo string         `json:"renewalInfo,omitempty"`
	Meta        *DirectoryMeta `json:"meta,omitempty"`
}

// RenewalInfo is the RFC 9773 §4.2 renewal information of a certificate.
type RenewalInfo struct {
	SuggestedWindow Window `json:"suggestedWindow"`
}

// Window is a suggested renewal window (RFC 3339 times).
type Window struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// DirectoryMeta is the optional "meta" member of the directory.
type DirectoryMeta struct {
	TermsOfService          string            `json:"termsOfService,omitempty"`
	Website                 string            `json:"website,omitempty"`
	CAAIdentities           []string          `json:"caaIdentities,omitempty"`
	ExternalAccountRequired bool              `json:"externalAccountRequired,omitempty"`
	Profiles                map[string]string `json:"profiles,omitempty"`
}

// Account is the RFC 8555 §7.1.2 account object.
type Account struct {
	Status                 string          `json:"status"`
	Contact                []string        `json:"contact,omitempty"`
	TermsOfServiceAgreed   bool            `json:"termsOfServiceAgreed,omitempty"`
	Orders                 string          `json:"orders"`
	ExternalAccountBinding json.RawMessage `json:"externalAccountBinding,omitempty"`
}

// NewAccountRequest is the payload of a newAccount request (§7.3).
type NewAccountRequest struct {
	Contact                []string        `json:"contact,omitempty"`
	TermsOfServiceAgreed   bool            `json:"termsOfServiceAgreed,omitempty"`
	OnlyReturnExisting     bool            `json:"onlyReturnExisting,omitempty"`
	ExternalAccountBinding json.RawMessage `json:"externalAccountBinding,omitempty"`
}

// AccountUpdateRequest is the payload of an account update (§7.3.2, §7.3.6).
type AccountUpdateRequest struct {
	Contact *[]string `json:"contact,omitempty"`
	Status  string    `json:"status,omitempty"`
}

// KeyChangeInner is the payload of the inner JWS of a keyChange request (§7.3.5).
type KeyChangeInner struct {
	Account string          `json:"account"`
	OldKey  json.RawMessage `json:"oldKey"`
}

// OrderList is the RFC 8555 §7.1.2.1 orders list.
type OrderList struct {
	Orders []string `json:"orders"`
}

// NewOrderRequest is the payload of a newOrder request (§7.4).
type NewOrderRequest struct {
	Identifiers []Identifier `json:"identifiers"`
	NotBefore   string       `json:"notBefore,omitempty"`
	NotAfter    string       `json:"notAfter,omitempty"`
	Profile     string       `json:"profile,omitempty"`
	// Replaces is the ARI certID of the certificate this order replaces
	// (RFC 9773 §5).
	Replaces string `json:"replaces,omitempty"`
}

// Order is the RFC 8555 §7.1.3 order object.
type Order struct {
	Status         string          `json:"status"`
	Expires        string          `json:"expires,omitempty"`
	Identifiers    []Identifier    `json:"identifiers"`
	NotBefore      string          `json:"notBefore,omitempty"`
	NotAfter       string          `json:"notAfter,omitempty"`
	Error          json.RawMessage `json:"error,omitempty"`
	Authorizations []string        `json:"authorizations"`
	Finalize       string          `json:"finalize"`
	Certificate    string          `json:"certificate,omitempty"`
	// Profile is the profile the order was created under, echoed as
	// draft-ietf-acme-profiles §4 asks.
	Profile string `json:"profile,omitempty"`
	// Replaces echoes the newOrder's "replaces" (RFC 9773 §5).
	Replaces string `json:"replaces,omitempty"`
}

// FinalizeRequest is the payload of a finalize request (§7.4).
type FinalizeRequest struct {
	CSR string `json:"csr"`
}

// Authorization is the RFC 8555 §7.1.4 authorization object.
type Authorization struct {
	Identifier Identifier  `json:"identifier"`
	Status     string      `json:"status"`
	Expires    string      `json:"expires,omitempty"`
	Challenges []Challenge `json:"challenges"`
	Wildcard   bool        `json:"wildcard,omitempty"`
}

// AuthorizationUpdateRequest is the payload of an authorization deactivation (§7.5.2).
type AuthorizationUpdateRequest struct {
	Status string `json:"status"`
}

// Challenge is the RFC 8555 §8 challenge object.
type Challenge struct {
	Type      string          `json:"type"`
	URL       string          `json:"url"`
	Status    string          `json:"status"`
	Token     string          `json:"token"`
	Validated string          `json:"validated,omitempty"`
	Error     json.RawMessage `json:"error,omitempty"`
}

// RevocationRequest is the payload of a revokeCert request (§7.6).
type RevocationRequest struct {
	Certificate string `json:"certificate"`
	Reason      *int   `json:"reason,omitempty"`
}
