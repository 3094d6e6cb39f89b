package wfe

import (
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/ra"
)

func parseTime(s, field string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, problem.Malformedf("%s %q is not an RFC 3339 date-time", field, problem.Truncate(s, 40))
	}
	return t, nil
}

// newOrder serves RFC 8555 §7.4.
func (w *WFE) newOrder(c echo.Context) error {
	ctx := c.Request().Context()
	s, err := w.verify(ctx, c.Request(), byKID)
	if err != nil {
		return err
	}
	var req acme.NewOrderRequest
	if err := decode(s.payload, &req, "newOrder"); err != nil {
		return err
	}
	nb, err := parseTime(req.NotBefore, "notBefore")
	if err != nil {
		return err
	}
	na, err := parseTime(req.NotAfter, "notAfter")
	if err != nil {
		return err
	}
	profile := c.Param("profile")
	if req.Profile != "" && req.Profile != profile {
		if w.ra.Policy().Profile(req.Profile) == nil {
			return problem.New(problem.InvalidProfile, "profile %q does not exist", problem.Truncate(req.Profile, 64))
		}
		profile = req.Profile
	}
	o, err := w.ra.NewOrder(ctx, s.account, ra.NewOrderRequest{Profile: profile, Identifiers: req.Identifiers, NotBefore: nb, NotAfter: na, Replaces: req.Replaces})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", w.orderURL(c, o))
	return c.JSON(http.StatusCreated, w.wireOrder(c, o, w.ra.Now()))
}

// postAsGet verifies a POST-as-GET request (RFC 8555 §6.3) by an account.
func (w *WFE) postAsGet(c echo.Context) (*core.Account, error) {
	s, err := w.verify(c.Request().Context(), c.Request(), byKID)
	if err != nil {
		return nil, err
	}
	if len(s.payload) != 0 {
		return nil, problem.Malformedf("this resource takes POST-as-GET: the payload must be empty")
	}
	return s.account, nil
}

// order serves an order (RFC 8555 §7.1.3).
func (w *WFE) order(c echo.Context) error {
	a, err := w.postAsGet(c)
	if err != nil {
		return err
	}
	o, err := w.ra.Order(c.Request().Context(), a, c.Param("id"))
	if err != nil {
		return err
	}
	return w.writeOrder(c, o)
}

func (w *WFE) writeOrder(c echo.Context, o *core.Order) error {
	if o.Status == core.StatusProcessing {
		c.Response().Header().Set("Retry-After", w.retryAfter)
	}
	return c.JSON(http.StatusOK, w.wireOrder(c, o, w.ra.Now()))
}

// finalize serves RFC 8555 §7.4 finalization. The response carries
// Location: the order URL, which some clients poll.
func (w *WFE) finalize(c echo.Context) error {
	ctx := c.Request().Context()
	s, err := w.verify(ctx, c.Request(), byKID)
	if err != nil {
		return err
	}
	var req acme.FinalizeRequest
	if err := decode(s.payload, &req, "finalize"); err != nil {
		return err
	}
	der, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(req.CSR, "="))
	if err != nil || len(der) == 0 {
		return problem.BadCSRf("csr is not base64url-encoded DER")
	}
	o, err := w.ra.Finalize(ctx, s.account, c.Param("id"), der)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", w.orderURL(c, o))
	return w.writeOrder(c, o)
}

// authz serves an authorization (RFC 8555 §7.5), and its deactivation
// (§7.5.2).
func (w *WFE) authz(c echo.Context) error {
	ctx := c.Request().Context()
	s, err := w.verify(ctx, c.Request(), byKID)
	if err != nil {
		return err
	}
	var az *core.Authorization
	if len(s.payload) == 0 {
		az, err = w.ra.Authorization(ctx, s.account, c.Param("id"))
	} else {
		var req acme.AuthorizationUpdateRequest
		if err := decode(s.payload, &req, "authorization update"); err != nil {
			return err
		}
		if req.Status != string(core.StatusDeactivated) {
			return problem.Malformedf("an authorization's status can only be set to \"deactivated\"")
		}
		az, err = w.ra.DeactivateAuthorization(ctx, s.account, c.Param("id"))
	}
	if err != nil {
		return err
	}
	if az.Processing() {
		c.Response().Header().Set("Retry-After", w.retryAfter)
	}
	return c.JSON(http.StatusOK, w.wireAuthz(c, az, w.ra.Now()))
}

// challenge serves a challenge: POST-as-GET reads it, a JSON object
// (normally {}) answers it (RFC 8555 §7.5.1).
func (w *WFE) challenge(c echo.Context) error {
	ctx := c.Request().Context()
	s, err := w.verify(ctx, c.Request(), byKID)
	if err != nil {
		return err
	}
	var (
		az *core.Authorization
		ch *core.Challenge
	)
	if len(s.payload) == 0 {
		if az, err = w.ra.Authorization(ctx, s.account, c.Param("authz")); err != nil {
			return err
		}
		if ch = az.Challenge(c.Param("chall")); ch == nil {
			return problem.NotFound("challenge")
		}
	} else {
		var obj map[string]any
		if err := decode(s.payload, &obj, "challenge"); err != nil {
			return err
		}
		a := ra.ChallengeAnswer{AuthzID: c.Param("authz"), ChallengeID: c.Param("chall"), AccountURL: s.kid}
		if az, ch, err = w.ra.AnswerChallenge(ctx, s.account, a); err != nil {
			return err
		}
	}
	c.Response().Header().Add("Link", link(w.url(c, az.Profile, pathAuthz, az.ID), "up"))
	if ch.Status == core.StatusProcessing {
		c.Response().Header().Set("Retry-After", w.retryAfter)
	}
	return c.JSON(http.StatusOK, w.wireChallenge(c, az, ch))
}
