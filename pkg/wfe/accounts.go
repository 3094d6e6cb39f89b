package wfe

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/go-jose/go-jose/v4"
	"github.com/labstack/echo/v4"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/ra"
)

// decode parses a JSON payload into v; a POST-as-GET (empty payload) is
// refused where a body is required, and so is a payload that repeats a
// member name (see uniqueMembers). Unknown members are ignored, as RFC 8555
// extensions expect.
func decode(payload []byte, v any, what string) error {
	if len(payload) == 0 {
		return problem.Malformedf("the %s request needs a JSON payload", what)
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return problem.Malformedf("the %s payload is not valid JSON for this resource", what)
	}
	if !uniqueMembers(payload) {
		return problem.Malformedf("the %s payload repeats a member name", what)
	}
	return nil
}

// newAccount serves RFC 8555 §7.3: 201 with a new account, 200 with the
// existing one for this key.
func (w *WFE) newAccount(c echo.Context) error {
	ctx := c.Request().Context()
	s, err := w.verify(ctx, c.Request(), byJWK)
	if err != nil {
		return err
	}
	var req acme.NewAccountRequest
	if err := decode(s.payload, &req, "newAccount"); err != nil {
		return err
	}
	key, err := s.jwk.MarshalJSON()
	if err != nil {
		return err
	}
	tp, err := thumbprint(s.jwk)
	if err != nil {
		return err
	}
	eab, err := w.parseEAB(c.Request(), req.ExternalAccountBinding, s.jwk)
	if err != nil {
		return err
	}
	a, created, err := w.ra.NewAccount(ctx, ra.NewAccountRequest{
		Profile: c.Param("profile"), Key: key, Thumbprint: tp, Contact: req.Contact, OnlyReturnExisting: req.OnlyReturnExisting,
		Source: c.RealIP(), EAB: eab,
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", w.accountURL(c, a))
	st := http.StatusOK
	if created {
		st = http.StatusCreated
	}
	return c.JSON(st, w.wireAccount(c, a))
}

// verifyOwnAccount verifies a request to an account resource, which only
// that account may make.
func (w *WFE) verifyOwnAccount(c echo.Context) (*signed, error) {
	s, err := w.verify(c.Request().Context(), c.Request(), byKID)
	if err != nil {
		return nil, err
	}
	if s.account.ID != c.Param("id") {
		return nil, problem.Unauthorizedf("the request is signed by another account than the one it names")
	}
	return s, nil
}

// account serves an account (RFC 8555 §7.3.2-7.3.6): POST-as-GET or {} to
// read, "contact" to update, "status":"deactivated" to deactivate.
func (w *WFE) account(c echo.Context) error {
	ctx := c.Request().Context()
	s, err := w.verifyOwnAccount(c)
	if err != nil {
		return err
	}
	a := s.account
	if len(s.payload) > 0 {
		var req acme.AccountUpdateRequest
		if err := decode(s.payload, &req, "account update"); err != nil {
			return err
		}
		switch req.Status {
		case "":
		case string(core.StatusDeactivated):
			if a, err = w.ra.DeactivateAccount(ctx, a); err != nil {
				return err
			}
		default:
			return problem.Malformedf("an account's status can only be set to \"deactivated\"")
		}
		if req.Contact != nil && a.Status == core.StatusValid {
			if a, err = w.ra.UpdateAccount(ctx, a, *req.Contact); err != nil {
				return err
			}
		}
	}
	c.Response().Header().Set("Location", w.accountURL(c, a))
	return c.JSON(http.StatusOK, w.wireAccount(c, a))
}

// accountOrders serves the RFC 8555 §7.1.2.1 orders list.
func (w *WFE) accountOrders(c echo.Context) error {
	ctx := c.Request().Context()
	s, err := w.verifyOwnAccount(c)
	if err != nil {
		return err
	}
	ids, err := w.ra.Orders(ctx, s.account)
	if err != nil {
		return err
	}
	list := acme.OrderList{Orders: make([]string, len(ids))}
	for i, id := range ids {
		list.Orders[i] = w.url(c, c.Param("profile"), pathOrder, id)
	}
	return c.JSON(http.StatusOK, list)
}

// keyChange serves RFC 8555 §7.3.5 account key rollover.
func (w *WFE) keyChange(c echo.Context) error {
	ctx := c.Request().Context()
	s, err := w.verify(ctx, c.Request(), byKID)
	if err != nil {
		return err
	}
	f, h, err := parseFlattened(s.payload)
	if err != nil {
		return err
	}
	if len(h.JWK) == 0 || h.KID != "" {
		return problem.Malformedf("the inner JWS must carry the new key as jwk and no kid")
	}
	if h.Nonce != "" {
		return problem.Malformedf("the inner JWS must not carry a nonce")
	}
	if h.URL != w.requestURL(c.Request()) {
		return problem.Unauthorizedf("the inner JWS url must equal the outer one")
	}
	newKey, err := embeddedKey(h.JWK, "inner jwk")
	if err != nil {
		return err
	}
	if err := checkKeyAlg(newKey, h.Alg); err != nil {
		return err
	}
	if !verifySignature(newKey.Key, h.Alg, f) {
		return problem.Malformedf("the inner JWS signature does not verify with its jwk")
	}
	payload := f.body
	return w.rollKey(c, s.account, payload, newKey)
}

func (w *WFE) rollKey(c echo.Context, a *core.Account, payload []byte, newKey *jose.JSONWebKey) error {
	var req acme.KeyChangeInner
	if err := decode(payload, &req, "keyChange"); err != nil {
		return err
	}
	if req.Account != w.accountURL(c, a) {
		return problem.Unauthorizedf("the inner JWS names another account than the one signing the request")
	}
	var old jose.JSONWebKey
	if err := old.UnmarshalJSON(req.OldKey); err != nil {
		return problem.Malformedf("oldKey is not a JWK")
	}
	oldTP, err := thumbprint(&old)
	if err != nil || oldTP != a.KeyThumbprint {
		return problem.Unauthorizedf("oldKey is not the account's current key")
	}
	newTP, err := thumbprint(newKey)
	if err != nil {
		return err
	}
	if newTP == a.KeyThumbprint {
		return problem.Malformedf("the new key is the account's current key")
	}
	keyJSON, err := newKey.MarshalJSON()
	if err != nil {
		return err
	}
	updated, err := w.ra.ChangeKey(c.Request().Context(), a, bytes.TrimSpace(keyJSON), newTP)
	if inUse, ok := err.(*ra.KeyInUseError); ok {
		other := &core.Account{ID: inUse.AccountID, Profile: a.Profile}
		c.Response().Header().Set("Location", w.accountURL(c, other))
		return problem.Malformedf("the new key is already in use by another account").WithStatus(http.StatusConflict)
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", w.accountURL(c, updated))
	return c.JSON(http.StatusOK, w.wireAccount(c, updated))
}
