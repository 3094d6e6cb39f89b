package wfe

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/ra"
)

// certificate serves a certificate chain (RFC 8555 §7.4.2).
func (w *WFE) certificate(c echo.Context) error {
	a, err := w.postAsGet(c)
	if err != nil {
		return err
	}
	cert, err := w.ra.Certificate(c.Request().Context(), a, c.Param("id"))
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/pem-certificate-chain", cert.Chain)
}

// revoke serves RFC 8555 §7.6, signed by the issuing account (kid) or by
// the certificate's key (jwk).
func (w *WFE) revoke(c echo.Context) error {
	ctx := c.Request().Context()
	s, err := w.verify(ctx, c.Request(), byEither)
	if err != nil {
		return err
	}
	var req acme.RevocationRequest
	if err := decode(s.payload, &req, "revokeCert"); err != nil {
		return err
	}
	der, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(req.Certificate, "="))
	if err != nil || len(der) == 0 {
		return problem.Malformedf("certificate is not base64url-encoded DER")
	}
	rr := ra.RevokeRequest{CertDER: der, Reason: req.Reason, Account: s.account}
	if s.jwk != nil {
		rr.Key = s.jwk.Key
	}
	if err := w.ra.Revoke(ctx, rr); err != nil {
		return err
	}
	return c.NoContent(http.StatusOK)
}
