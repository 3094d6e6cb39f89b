package wfe

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/acmera/acmera/pkg/acme"
)

// directory serves the RFC 8555 §7.1.1 directory of a profile.
func (w *WFE) directory(c echo.Context) error {
	p := c.Param("profile")
	pol := w.ra.Policy()
	meta := &acme.DirectoryMeta{Profiles: map[string]string{}, TermsOfService: w.tos, Website: w.site}
	for _, name := range pol.Names() {
		meta.Profiles[name] = profileDescription(pol.Profile(name).Description, w.ra.BackendDescription(name))
	}
	meta.ExternalAccountRequired = pol.Profile(p).RequireEAB
	// The issuer domain names CAA records must name for this profile
	// (RFC 8555 §7.1.1, RFC 8659 §4.2); only where CAA is checked.
	meta.CAAIdentities = pol.Profile(p).CAAIdentities
	return c.JSON(http.StatusOK, acme.Directory{
		NewNonce:   w.url(c, p, pathNewNonce),
		NewAccount: w.url(c, p, pathNewAccount),
		NewOrder:   w.url(c, p, pathNewOrder),
		RevokeCert: w.url(c, p, pathRevoke),
		KeyChange:  w.url(c, p, pathKeyChange),
		// No trailing slash: RFC 9773 §4.1 appends "/" and the certID.
		RenewalInfo: strings.TrimSuffix(w.url(c, p, pathRenewal), "/"),
		Meta:        meta,
	})
}

// profileDescription is a profile's meta.profiles text: its description
// and the CA that issues its certificates.
func profileDescription(desc, ca string) string {
	switch {
	case ca == "":
		return desc
	case desc == "":
		return "issued by " + ca
	}
	return desc + " (issued by " + ca + ")"
}

// newNonce serves RFC 8555 §7.2: HEAD answers 200, GET 204; the nonce is
// in the Replay-Nonce header set by common.
func (w *WFE) newNonce(c echo.Context) error {
	if c.Request().Method == http.MethodHead {
		return c.NoContent(http.StatusOK)
	}
	return c.NoContent(http.StatusNoContent)
}

// renewalInfo serves RFC 9773 §4.1, an unauthenticated GET: the suggested
// renewal window of the certificate named by certID, with Retry-After.
func (w *WFE) renewalInfo(c echo.Context) error {
	win, err := w.ra.RenewalInfo(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Retry-After", retryAfter(win.RetryAfter))
	return c.JSON(http.StatusOK, acme.RenewalInfo{SuggestedWindow: acme.Window{
		Start: win.Start.UTC().Format(time.RFC3339), End: win.End.UTC().Format(time.RFC3339),
	}})
}
