package firestore

import (
	"time"

	"cloud.google.com/go/firestore"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
)

// authzExpireAt is an authorization's TTL (see the policy in docs.go).
func authzExpireAt(a *core.Authorization) time.Time {
	if a.Status == core.StatusValid {
		return a.Expires
	}
	return a.Expires.Add(shortGrace)
}

// orderExpireAt is an order's TTL while it has no certificate.
func orderExpireAt(o *core.Order) time.Time {
	if o.Status == core.StatusProcessing {
		return o.Expires.Add(processingGrace)
	}
	return o.Expires.Add(shortGrace)
}

// certExpireAt is a certificate's TTL, also used for its valid order.
func certExpireAt(c *core.Certificate) time.Time { return c.NotAfter.Add(certGrace) }

func challengesToDocs(chs []core.Challenge) ([]challengeDoc, error) {
	out := make([]challengeDoc, len(chs))
	for i, ch := range chs {
		e, err := encodeProblem(ch.Error)
		if err != nil {
			return nil, err
		}
		out[i] = challengeDoc{ID: ch.ID, Type: ch.Type, Token: ch.Token, Status: string(ch.Status), Validated: ch.Validated, Error: e}
	}
	return out, nil
}

func authzToDoc(a *core.Authorization) (*authzDoc, error) {
	chs, err := challengesToDocs(a.Challenges)
	if err != nil {
		return nil, err
	}
	return &authzDoc{
		AccountID: a.AccountID, OrderID: a.OrderID, Profile: a.Profile,
		IdentType: a.Identifier.Type, IdentValue: a.Identifier.Value, IdentKey: identKey(a.Identifier, a.Wildcard),
		Wildcard: a.Wildcard, Status: string(a.Status), Expires: a.Expires, Challenges: chs,
		Processing: a.Processing(), CreatedAt: a.CreatedAt, ExpireAt: authzExpireAt(a),
	}, nil
}

func authzFromSnap(snap *firestore.DocumentSnapshot) (*core.Authorization, error) {
	d, err := decode[authzDoc](snap)
	if err != nil {
		return nil, err
	}
	a := &core.Authorization{
		ID: snap.Ref.ID, AccountID: d.AccountID, OrderID: d.OrderID, Profile: d.Profile,
		Identifier: acme.Identifier{Type: d.IdentType, Value: d.IdentValue}, Wildcard: d.Wildcard,
		Status: core.Status(d.Status), Expires: utc(d.Expires), CreatedAt: utc(d.CreatedAt),
	}
	for _, c := range d.Challenges {
		p, err := decodeProblem(c.Error)
		if err != nil {
			return nil, err
		}
		a.Challenges = append(a.Challenges, core.Challenge{
			ID: c.ID, Type: c.Type, Token: c.Token, Status: core.Status(c.Status), Validated: utc(c.Validated), Error: p,
		})
	}
	return a, nil
}

// authzStateUpdates are the fields a status transition of a rewrites.
func authzStateUpdates(a *core.Authorization) ([]firestore.Update, error) {
	chs, err := challengesToDocs(a.Challenges)
	if err != nil {
		return nil, err
	}
	return []firestore.Update{
		{Path: fStatus, Value: string(a.Status)},
		{Path: fExpires, Value: a.Expires},
		{Path: fChallenges, Value: chs},
		{Path: fProcessing, Value: a.Processing()},
		{Path: fExpireAt, Value: authzExpireAt(a)},
	}, nil
}

func orderToDoc(o *core.Order) (*orderDoc, error) {
	e, err := encodeProblem(o.Error)
	if err != nil {
		return nil, err
	}
	ids := make([]identDoc, len(o.Identifiers))
	for i, id := range o.Identifiers {
		ids[i] = identDoc{Type: id.Type, Value: id.Value}
	}
	return &orderDoc{
		AccountID: o.AccountID, Profile: o.Profile, Status: string(o.Status), Expires: o.Expires,
		Identifiers: ids, NotBefore: o.NotBefore, NotAfter: o.NotAfter, AuthzIDs: o.AuthzIDs,
		Error: e, CSR: o.CSR, CertificateID: o.CertificateID, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		Replaces: o.Replaces, ReplacesCertID: o.ReplacesCertID, Backend: o.Backend, ExpireAt: orderExpireAt(o),
		LifetimeCap: int64(o.LifetimeCap), CAResource: o.CAResource,
	}, nil
}

func orderFromSnap(snap *firestore.DocumentSnapshot) (*core.Order, error) {
	d, err := decode[orderDoc](snap)
	if err != nil {
		return nil, err
	}
	p, err := decodeProblem(d.Error)
	if err != nil {
		return nil, err
	}
	o := &core.Order{
		ID: snap.Ref.ID, AccountID: d.AccountID, Profile: d.Profile, Status: core.Status(d.Status),
		Expires: utc(d.Expires), NotBefore: utc(d.NotBefore), NotAfter: utc(d.NotAfter),
		AuthzIDs: nilIfEmpty(d.AuthzIDs), Error: p, CSR: nilIfEmpty(d.CSR), CertificateID: d.CertificateID,
		CreatedAt: utc(d.CreatedAt), UpdatedAt: utc(d.UpdatedAt), LifetimeCap: time.Duration(d.LifetimeCap),
		Replaces: d.Replaces, ReplacesCertID: d.ReplacesCertID, Backend: d.Backend, CAResource: d.CAResource,
	}
	for _, id := range d.Identifiers {
		o.Identifiers = append(o.Identifiers, acme.Identifier{Type: id.Type, Value: id.Value})
	}
	return o, nil
}

// orderStateUpdates are the fields a status transition of o rewrites
// (not the CSR or certificate, which their own transitions add).
func orderStateUpdates(o *core.Order, expireAt time.Time) ([]firestore.Update, error) {
	e, err := encodeProblem(o.Error)
	if err != nil {
		return nil, err
	}
	errVal := any(e)
	if e == "" {
		errVal = firestore.Delete
	}
	return []firestore.Update{
		{Path: fStatus, Value: string(o.Status)},
		{Path: fError, Value: errVal},
		{Path: fUpdatedAt, Value: o.UpdatedAt},
		{Path: fExpireAt, Value: expireAt},
	}, nil
}

func certToDoc(c *core.Certificate) *certDoc {
	return &certDoc{
		AccountID: c.AccountID, OrderID: c.OrderID, Profile: c.Profile, Serial: c.Serial, Chain: c.Chain,
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, CAResource: c.CAResource, Status: string(c.Status),
		RevokedAt: c.RevokedAt, RevocationReason: int64(c.RevocationReason), CreatedAt: c.CreatedAt,
		ExpireAt: certExpireAt(c), ReplacedBy: c.ReplacedBy, Backend: c.Backend,
	}
}

func certFromSnap(snap *firestore.DocumentSnapshot) (*core.Certificate, error) {
	d, err := decode[certDoc](snap)
	if err != nil {
		return nil, err
	}
	return &core.Certificate{
		ID: snap.Ref.ID, AccountID: d.AccountID, OrderID: d.OrderID, Profile: d.Profile, Serial: d.Serial,
		Chain: d.Chain, NotBefore: utc(d.NotBefore), NotAfter: utc(d.NotAfter), CAResource: d.CAResource,
		Status: core.Status(d.Status), RevokedAt: utc(d.RevokedAt), RevocationReason: int(d.RevocationReason),
		CreatedAt: utc(d.CreatedAt), ReplacedBy: d.ReplacedBy, Backend: d.Backend,
	}, nil
}
