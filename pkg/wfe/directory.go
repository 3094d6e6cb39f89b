package wfe

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/acmera/acmera/pkg/acme"
)

// directory serves the RFC 8555 §7.1.1 directory of a profile.
func (w *WFE) directory(c echo.Context) error {
	p := c.Param("profile")
	pol := w.ra.Policy()
	meta := &acme.DirectoryMeta{Profiles: map[string]string{}}
	for _, name := range pol.Names() {
		meta.Profiles[name] = pol.Profile(name).Description
	}
	meta.ExternalAccountRequired = pol.Profile(p).RequireEAB
	return c.JSON(http.StatusOK, acme.Directory{
		NewNonce:   w.url(c, p, pathNewNonce),
		NewAccount: w.url(c, p, pathNewAccount),
		NewOrder:   w.url(c, p, pathNewOrder),
		RevokeCert: w.url(c, p, pathRevoke),
		KeyChange:  w.url(c, p, pathKeyChange),
		Meta:       meta,
	})
}

// newNonce serves RFC 8555 §7.2: HEAD answers 200, GET 204; the nonce is
// in the Replay-Nonce header set by common.
func (w *WFE) newNonce(c echo.Context) error {
	if c.Request().Method == http.MethodHead {
		return c.NoContent(http.StatusOK)
	}
	return c.NoContent(http.StatusNoContent)
}
