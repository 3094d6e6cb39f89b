package bolt

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
)

// The document types below are the storage shapes, private to this
// package; conversion from and to pkg/core happens only here. Problems are
// kept as their RFC 7807 JSON (they are rare and nested).

type accountDoc struct {
	id, thumbprint string
	key            []byte
	contact        []string
	status         string
	createdAt      time.Time
	eabKeyID       string
	profile        string
}

type challengeDoc struct {
	id, typ, token, status string
	validated              time.Time
	errJSON                []byte
}

type authzDoc struct {
	id, accountID, orderID, profile string
	identType, identValue           string
	wildcard                        bool
	status                          string
	expires                         time.Time
	challenges                      []challengeDoc
	createdAt                       time.Time
}

type orderDoc struct {
	id, accountID, profile, status string
	expires                        time.Time
	idents                         []acme.Identifier
	notBefore, notAfter            time.Time
	lifetimeCap                    time.Duration
	authzIDs                       []string
	errJSON                        []byte
	csr                            []byte
	certificateID                  string
	createdAt, updatedAt           time.Time
	// replaces, replacesCertID, backend and caResource (and lifetimeCap)
	// are trailing fields (see reader.more), written together when any is
	// set.
	replaces, replacesCertID string
	backend, caResource      string
}

func encodeProblem(p *problem.Problem) ([]byte, error) {
	if p == nil {
		return nil, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("json.Marshal(problem): %w", err)
	}
	return b, nil
}

func decodeProblem(b []byte) (*problem.Problem, error) {
	if len(b) == 0 {
		return nil, nil
	}
	p := new(problem.Problem)
	if err := json.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("json.Unmarshal(problem): %w", err)
	}
	return p, nil
}

func accountToDoc(a *core.Account) accountDoc {
	return accountDoc{id: a.ID, thumbprint: a.KeyThumbprint, key: a.Key, contact: a.Contact,
		status: string(a.Status), createdAt: a.CreatedAt, eabKeyID: a.EABKeyID, profile: a.Profile}
}

func (d *accountDoc) core() *core.Account {
	return &core.Account{ID: d.id, KeyThumbprint: d.thumbprint, Key: d.key, Contact: d.contact,
		Status: core.Status(d.status), CreatedAt: d.createdAt, EABKeyID: d.eabKeyID, Profile: d.profile}
}

func (d *accountDoc) encode() []byte {
	w := newWriter(96 + len(d.key))
	w.str(d.id)
	w.str(d.thumbprint)
	w.bytes(d.key)
	w.strs(d.contact)
	w.str(d.status)
	w.time(d.createdAt)
	w.str(d.eabKeyID)
	w.str(d.profile)
	return w.b
}

func (d *accountDoc) decode(b []byte) error {
	r := newReader(b)
	d.id, d.thumbprint, d.key = r.str(), r.str(), r.bytes()
	d.contact, d.status, d.createdAt = r.strs(), r.str(), r.time()
	d.eabKeyID, d.profile = r.str(), r.str()
	return r.err
}

func authzToDoc(a *core.Authorization) (authzDoc, error) {
	d := authzDoc{id: a.ID, accountID: a.AccountID, orderID: a.OrderID, profile: a.Profile,
		identType: a.Identifier.Type, identValue: a.Identifier.Value, wildcard: a.Wildcard,
		status: string(a.Status), expires: a.Expires, createdAt: a.CreatedAt,
		challenges: make([]challengeDoc, len(a.Challenges))}
	for i := range a.Challenges {
		c := &a.Challenges[i]
		ej, err := encodeProblem(c.Error)
		if err != nil {
			return authzDoc{}, err
		}
		d.challenges[i] = challengeDoc{id: c.ID, typ: c.Type, token: c.Token,
			status: string(c.Status), validated: c.Validated, errJSON: ej}
	}
	return d, nil
}

func (d *authzDoc) core() (*core.Authorization, error) {
	a := &core.Authorization{ID: d.id, AccountID: d.accountID, OrderID: d.orderID,
		Profile: d.profile, Identifier: acme.Identifier{Type: d.identType, Value: d.identValue},
		Wildcard: d.wildcard, Status: core.Status(d.status), Expires: d.expires,
		CreatedAt: d.createdAt, Challenges: make([]core.Challenge, len(d.challenges))}
	for i := range d.challenges {
		c := &d.challenges[i]
		p, err := decodeProblem(c.errJSON)
		if err != nil {
			return nil, err
		}
		a.Challenges[i] = core.Challenge{ID: c.id, Type: c.typ, Token: c.token,
			Status: core.Status(c.status), Validated: c.validated, Error: p}
	}
	return a, nil
}

// challenge returns the challenge with the given ID, or nil.
func (d *authzDoc) challenge(id string) *challengeDoc {
	for i := range d.challenges {
		if d.challenges[i].id == id {
			return &d.challenges[i]
		}
	}
	return nil
}

func (d *authzDoc) encode() []byte {
	w := newWriter(160 + 96*len(d.challenges))
	w.str(d.id)
	w.str(d.accountID)
	w.str(d.orderID)
	w.str(d.profile)
	w.str(d.identType)
	w.str(d.identValue)
	w.bool(d.wildcard)
	w.str(d.status)
	w.time(d.expires)
	w.time(d.createdAt)
	w.uint(uint64(len(d.challenges)))
	for i := range d.challenges {
		c := &d.challenges[i]
		w.str(c.id)
		w.str(c.typ)
		w.str(c.token)
		w.str(c.status)
		w.time(c.validated)
		w.bytes(c.errJSON)
	}
	return w.b
}

func (d *authzDoc) decode(b []byte) error {
	r := newReader(b)
	d.id, d.accountID, d.orderID, d.profile = r.str(), r.str(), r.str(), r.str()
	d.identType, d.identValue, d.wildcard = r.str(), r.str(), r.bool()
	d.status, d.expires, d.createdAt = r.str(), r.time(), r.time()
	d.challenges = make([]challengeDoc, r.count())
	for i := range d.challenges {
		c := &d.challenges[i]
		c.id, c.typ, c.token, c.status = r.str(), r.str(), r.str(), r.str()
		c.validated, c.errJSON = r.time(), r.bytes()
	}
	return r.err
}

func orderToDoc(o *core.Order) (orderDoc, error) {
	ej, err := encodeProblem(o.Error)
	if err != nil {
		return orderDoc{}, err
	}
	return orderDoc{id: o.ID, accountID: o.AccountID, profile: o.Profile, status: string(o.Status),
		expires: o.Expires, idents: o.Identifiers, notBefore: o.NotBefore, notAfter: o.NotAfter,
		authzIDs: o.AuthzIDs, errJSON: ej, csr: o.CSR, certificateID: o.CertificateID,
		createdAt: o.CreatedAt, updatedAt: o.UpdatedAt, replaces: o.Replaces,
		replacesCertID: o.ReplacesCertID, lifetimeCap: o.LifetimeCap, backend: o.Backend,
		caResource: o.CAResource}, nil
}

func (d *orderDoc) core() (*core.Order, error) {
	p, err := decodeProblem(d.errJSON)
	if err != nil {
		return nil, err
	}
	return &core.Order{ID: d.id, AccountID: d.accountID, Profile: d.profile,
		Status: core.Status(d.status), Expires: d.expires, Identifiers: d.idents,
		NotBefore: d.notBefore, NotAfter: d.notAfter, AuthzIDs: d.authzIDs, Error: p,
		CSR: d.csr, CertificateID: d.certificateID, CreatedAt: d.createdAt,
		UpdatedAt: d.updatedAt, Replaces: d.replaces, ReplacesCertID: d.replacesCertID,
		LifetimeCap: d.lifetimeCap, Backend: d.backend, CAResource: d.caResource}, nil
}

func (d *orderDoc) encode() []byte {
	w := newWriter(160 + 48*len(d.idents) + 24*len(d.authzIDs) + len(d.errJSON) + len(d.csr))
	w.str(d.id)
	w.str(d.accountID)
	w.str(d.profile)
	w.str(d.status)
	w.time(d.expires)
	w.uint(uint64(len(d.idents)))
	for _, id := range d.idents {
		w.str(id.Type)
		w.str(id.Value)
	}
	w.time(d.notBefore)
	w.time(d.notAfter)
	w.strs(d.authzIDs)
	w.bytes(d.errJSON)
	w.bytes(d.csr)
	w.str(d.certificateID)
	w.time(d.createdAt)
	w.time(d.updatedAt)
	// Optional trailing fields, added after version 1: written together
	// when any is set; a reader that finds none (an older document)
	// leaves them zero (see reader.more).
	if d.replaces != "" || d.replacesCertID != "" || d.lifetimeCap > 0 || d.backend != "" || d.caResource != "" {
		w.str(d.replaces)
		w.str(d.replacesCertID)
		w.int(int64(d.lifetimeCap))
		w.str(d.backend)
		w.str(d.caResource)
	}
	return w.b
}

func (d *orderDoc) decode(b []byte) error {
	r := newReader(b)
	d.id, d.accountID, d.profile, d.status, d.expires = r.str(), r.str(), r.str(), r.str(), r.time()
	if n := r.count(); n > 0 {
		d.idents = make([]acme.Identifier, n)
		for i := range d.idents {
			d.idents[i] = acme.Identifier{Type: r.str(), Value: r.str()}
		}
	}
	d.notBefore, d.notAfter, d.authzIDs = r.time(), r.time(), r.strs()
	d.errJSON, d.csr, d.certificateID = r.bytes(), r.bytes(), r.str()
	d.createdAt, d.updatedAt = r.time(), r.time()
	d.replaces, d.replacesCertID, d.lifetimeCap, d.backend, d.caResource = "", "", 0, "", ""
	if r.more() {
		d.replaces, d.replacesCertID = r.str(), r.str()
		d.lifetimeCap, d.backend, d.caResource = time.Duration(r.int()), r.str(), r.str()
	}
	return r.err
}
