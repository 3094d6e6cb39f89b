package wfe

import (
	"encoding/json"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
)

// Conversion from domain types to RFC 8555 wire resources.

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func problemJSON(p *problem.Problem) json.RawMessage {
	if p == nil {
		return nil
	}
	b, _ := json.Marshal(p)
	return b
}

func (w *WFE) accountURL(c echo.Context, a *core.Account) string {
	return w.url(c, profileOf(a.Profile), pathAccount, a.ID)
}

func profileOf(p string) string {
	if p == "" {
		return "acme"
	}
	return p
}

func (w *WFE) wireAccount(c echo.Context, a *core.Account) acme.Account {
	return acme.Account{
		Status: string(a.Status), Contact: a.Contact,
		Orders: w.accountURL(c, a) + "/orders",
	}
}

func (w *WFE) orderURL(c echo.Context, o *core.Order) string {
	return w.url(c, o.Profile, pathOrder, o.ID)
}

func (w *WFE) wireOrder(c echo.Context, o *core.Order, now time.Time) acme.Order {
	out := acme.Order{
		Status: string(o.StatusAt(now)), Expires: timeString(o.Expires), Identifiers: o.Identifiers,
		NotBefore: timeString(o.NotBefore), NotAfter: timeString(o.NotAfter), Error: problemJSON(o.Error),
		Authorizations: make([]string, len(o.AuthzIDs)), Finalize: w.orderURL(c, o) + "/finalize",
		Profile: o.Profile, Replaces: o.Replaces,
	}
	for i, id := range o.AuthzIDs {
		out.Authorizations[i] = w.url(c, o.Profile, pathAuthz, id)
	}
	if o.Status == core.StatusValid && o.CertificateID != "" {
		out.Certificate = w.url(c, o.Profile, pathCert, o.CertificateID)
	}
	if o.Status == core.StatusInvalid && o.Error == nil && o.StatusAt(now) == core.StatusInvalid {
		out.Error = problemJSON(problem.Malformedf("the order is invalid"))
	}
	return out
}

func (w *WFE) challengeURL(c echo.Context, az *core.Authorization, ch *core.Challenge) string {
	return w.url(c, az.Profile, pathChallenge, az.ID, "/", ch.ID)
}

func (w *WFE) wireChallenge(c echo.Context, az *core.Authorization, ch *core.Challenge) acme.Challenge {
	return acme.Challenge{
		Type: ch.Type, URL: w.challengeURL(c, az, ch), Status: string(ch.Status), Token: ch.Token,
		Validated: timeString(ch.Validated), Error: problemJSON(ch.Error),
	}
}

func (w *WFE) wireAuthz(c echo.Context, az *core.Authorization, now time.Time) acme.Authorization {
	out := acme.Authorization{
		Identifier: az.Identifier, Status: string(az.StatusAt(now)), Expires: timeString(az.Expires),
		Wildcard: az.Wildcard, Challenges: make([]acme.Challenge, 0, len(az.Challenges)),
	}
	for i := range az.Challenges {
		ch := &az.Challenges[i]
		// RFC 8555 §7.1.4: once valid, list only the challenge that
		// succeeded.
		if az.Status == core.StatusValid && ch.Status != core.StatusValid {
			continue
		}
		out.Challenges = append(out.Challenges, w.wireChallenge(c, az, ch))
	}
	return out
}
