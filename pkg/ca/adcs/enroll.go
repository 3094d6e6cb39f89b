package adcs

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/acmera/acmera/pkg/ca"
)

// ErrPending is the answer for a request waiting for a certificate
// manager's approval; it is a ca.ErrTransient, so the order stays
// processing and the finalize retries collect the certificate.
var ErrPending = fmt.Errorf("%w: the request is pending a certificate manager's approval", ca.ErrTransient)

// maxPage bounds what is read of any certsrv answer.
const maxPage = 1 << 20

// Issue enrols req's CSR with the template (req.Template, else the
// configured one): POST certfnsh.asp with nothing but the template as a
// request attribute. Issued: the leaf (certnew.cer) and the CA chain
// (certnew.p7b). Pending: the request ID goes to req.Submitted and Issue
// returns ErrPending. Denied: *ca.RejectedError with the disposition
// message (a template this CA does not offer, or one acmera may not enroll
// in, is ca.ErrMisconfigured instead).
func (i *Issuer) Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	if req.CSR == nil {
		return nil, errors.New("adcs: IssueRequest.CSR is nil")
	}
	if err := ca.CheckCSRNames(req); err != nil {
		return nil, err
	}
	tmpl := req.Template
	if tmpl == "" {
		tmpl = i.template
	}
	if err := checkTemplate(tmpl); err != nil {
		return nil, fmt.Errorf("adcs: %w: %w", ca.ErrMisconfigured, err)
	}
	form := url.Values{
		"Mode":             {"newreq"},
		"CertRequest":      {base64.StdEncoding.EncodeToString(req.CSR.Raw)},
		"CertAttrib":       {"CertificateTemplate:" + tmpl + "\r\n"},
		"FriendlyType":     {"Saved-Request Certificate"},
		"TargetStoreFlags": {"0"},
		"SaveCert":         {"yes"},
	}
	_, page, err := i.do(ctx, "certfnsh.asp", http.MethodPost, nil, form)
	if err != nil {
		return nil, err
	}
	a, err := parseAnswer(string(page))
	if err != nil {
		return nil, fmt.Errorf("adcs: certfnsh.asp: %w", err)
	}
	if a.kind == answerDenied {
		return nil, denied(a.message)
	}
	if req.Submitted != nil {
		if err := req.Submitted(ctx, a.reqID); err != nil {
			return nil, fmt.Errorf("adcs: IssueRequest.Submitted(%s): %w", a.reqID, err)
		}
	}
	if a.kind == answerPending {
		return nil, fmt.Errorf("adcs: certfnsh.asp: request %s: %w", a.reqID, ErrPending)
	}
	return i.collect(ctx, a.reqID)
}

// denied is the error of a denial: the operator's fault when the template
// is not offered or acmera may not enroll in it, else the CA's refusal of
// this request, whose message the ACME client sees.
func denied(msg string) error {
	for _, code := range []string{"0x80094800", "0x80094012", "0x80094801"} {
		if strings.Contains(msg, code) {
			return fmt.Errorf("adcs: certfnsh.asp: %w: the CA denied the request: %s", ca.ErrMisconfigured, msg)
		}
	}
	return &ca.RejectedError{Detail: "the CA denied the request: " + msg}
}

// Find implements ca.Finder for the request ID an earlier attempt recorded
// through IssueRequest.Submitted: its certificate once issued; ErrPending
// while it waits for approval; *ca.RejectedError once denied, or when it
// has waited past the approval deadline (measured from req.RequestedAt).
// With no request ID recorded it cannot tell (the attempt died before AD CS
// answered, or before the ID was stored): not ca.ErrNotIssued, so the RA
// enrols again.
func (i *Issuer) Find(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	if req.Resource == "" {
		return nil, errors.New("adcs: no request ID was recorded for the request")
	}
	if _, err := strconv.ParseUint(req.Resource, 10, 32); err != nil {
		return nil, fmt.Errorf("adcs: the recorded request ID %q is not a number", req.Resource)
	}
	issued, err := i.collect(ctx, req.Resource)
	if errors.Is(err, ErrPending) && !req.RequestedAt.IsZero() && i.now().Sub(req.RequestedAt) > i.deadline {
		return nil, &ca.RejectedError{Detail: fmt.Sprintf("the CA's certificate managers did not approve request %s within %v", req.Resource, i.deadline)}
	}
	return issued, err
}

// collect fetches the certificate of request reqID and its chain.
func (i *Issuer) collect(ctx context.Context, reqID string) (*ca.Issued, error) {
	ctype, body, err := i.do(ctx, "certnew.cer", http.MethodGet, url.Values{"ReqID": {reqID}, "Enc": {"b64"}}, nil)
	if err != nil {
		return nil, err
	}
	if ctype != "application/pkix-cert" {
		pending, msg, ok := parseRetrieval(string(body))
		switch {
		case !ok:
			return nil, fmt.Errorf("adcs: certnew.cer?ReqID=%s: %s answered %s, not a certificate", reqID, ctype, pageTitle(string(body)))
		case pending:
			return nil, fmt.Errorf("adcs: certnew.cer?ReqID=%s: %w", reqID, ErrPending)
		}
		return nil, denied(msg)
	}
	der, err := decodeB64(body)
	if err != nil {
		return nil, fmt.Errorf("adcs: certnew.cer?ReqID=%s: %w", reqID, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("adcs: certnew.cer?ReqID=%s: x509.ParseCertificate: %w", reqID, err)
	}
	cas, err := i.caChain(ctx)
	if err != nil {
		return nil, err
	}
	chain, err := chainFor(leaf, cas)
	if err != nil {
		return nil, fmt.Errorf("adcs: certnew.p7b: %w", err)
	}
	return &ca.Issued{Chain: chain, Resource: reqID}, nil
}

// caChain reads the current CA certificate's chain: certcarc.asp for the
// number of renewals, then certnew.p7b of the newest.
func (i *Issuer) caChain(ctx context.Context) ([]*x509.Certificate, error) {
	_, page, err := i.do(ctx, "certcarc.asp", http.MethodGet, nil, nil)
	if err != nil {
		return nil, err
	}
	n, err := parseRenewals(string(page))
	if err != nil {
		return nil, fmt.Errorf("adcs: certcarc.asp: %w: %w", ca.ErrMisconfigured, err)
	}
	q := url.Values{"ReqID": {"CACert"}, "Renewal": {strconv.Itoa(n)}, "Enc": {"b64"}}
	ctype, body, err := i.do(ctx, "certnew.p7b", http.MethodGet, q, nil)
	if err != nil {
		return nil, err
	}
	if ctype != "application/x-pkcs7-certificates" {
		return nil, fmt.Errorf("adcs: certnew.p7b: %w: answered %s, not application/x-pkcs7-certificates", ca.ErrMisconfigured, ctype)
	}
	der, err := decodeB64(body)
	if err != nil {
		return nil, fmt.Errorf("adcs: certnew.p7b: %w", err)
	}
	certs, err := parsePKCS7Certs(der)
	if err != nil {
		return nil, fmt.Errorf("adcs: certnew.p7b: %w", err)
	}
	return certs, nil
}

// do makes one authenticated exchange with a certsrv page and returns the
// answer's media type and body. Failures name the page: refused
// credentials (401 after authenticating, a KDC refusal), a missing page
// (404) and forbidden access are ca.ErrMisconfigured; no answer, a 5xx and
// an unreachable KDC are ca.ErrTransient.
func (i *Issuer) do(ctx context.Context, page, method string, query, form url.Values) (string, []byte, error) {
	u := i.base.JoinPath(page)
	u.RawQuery = query.Encode()
	ctx, cancel := context.WithTimeout(ctx, i.callTimeout)
	defer cancel()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return "", nil, fmt.Errorf("adcs: %s: %w", page, err)
	}
	req.Header.Set("User-Agent", UserAgent)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := i.client.Do(req)
	if err != nil {
		var ae *authError
		if errors.As(err, &ae) && ae.refused {
			return "", nil, fmt.Errorf("adcs: %s: %w: %w", page, ca.ErrMisconfigured, err)
		}
		return "", nil, fmt.Errorf("adcs: %s: %w: %w", page, ca.ErrTransient, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxPage))
	if err != nil {
		return "", nil, fmt.Errorf("adcs: %s: reading the answer: %w: %w", page, ca.ErrTransient, err)
	}
	switch {
	case res.StatusCode == http.StatusUnauthorized:
		return "", nil, fmt.Errorf("adcs: %s: %w: IIS refused acmera's credentials (%s) with 401", page, ca.ErrMisconfigured, i.auth.principal())
	case res.StatusCode == http.StatusForbidden || res.StatusCode == http.StatusNotFound:
		return "", nil, fmt.Errorf("adcs: %s: %w: HTTP %d (is Web Enrollment installed at %s, and may %s use it?)", page, ca.ErrMisconfigured, res.StatusCode, i.base, i.auth.principal())
	case res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests:
		return "", nil, fmt.Errorf("adcs: %s: %w: HTTP %d", page, ca.ErrTransient, res.StatusCode)
	case res.StatusCode != http.StatusOK:
		return "", nil, fmt.Errorf("adcs: %s: HTTP %d", page, res.StatusCode)
	}
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	return mt, b, nil
}
