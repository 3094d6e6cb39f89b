package certsrv

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const pageHead = "<HTML><Head>\r\n<Meta HTTP-Equiv=\"Content-Type\" Content=\"text/html; charset=UTF-8\">\r\n" +
	"<Title>Microsoft Active Directory Certificate Services</Title>\r\n</Head>\r\n<Body BgColor=#FFFFFF>\r\n"

const pageTail = "\r\n</Body></HTML>\r\n"

// pages serves the certsrv application to an authenticated client.
func (s *Server) pages(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.UserAgent(), "Mozilla/") {
		// certsrv offers a downlevel page without the forms to browsers it
		// does not recognise.
		html200(w, pageHead+"<P>This Web browser does not support the generation of certificate requests."+pageTail)
		return
	}
	switch r.URL.Path {
	case "/certsrv/certfnsh.asp":
		s.certfnsh(w, r)
	case "/certsrv/certnew.cer":
		s.certnew(w, r)
	case "/certsrv/certnew.p7b":
		s.p7b(w, r)
	case "/certsrv/certcarc.asp":
		html200(w, pageHead+"<Script Language=\"JavaScript\">\r\n\tvar nRenewals=0;\r\n</Script>\r\n"+
			"<P ID=locPageTitle> <B> Download a CA Certificate, Certificate Chain, or CRL </B>"+pageTail)
	default:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<html><head><title>404 - File or directory not found.</title></head></html>")
	}
}

func html200(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/html")
	fmt.Fprint(w, body)
}

// certfnsh takes a new request (Mode=newreq) and answers its disposition.
func (s *Server) certfnsh(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("Mode") != "newreq" {
		html200(w, pageHead+"<P ID=locPageTitle> <B> Error </B><P>Unexpected request mode."+pageTail)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.next
	s.next++
	req := &Request{ID: id, Form: r.PostForm}
	s.reqs[id] = req
	for _, line := range strings.Split(r.PostForm.Get("CertAttrib"), "\n") {
		if line = strings.TrimRight(line, "\r"); line == "" {
			continue
		}
		req.Attributes = append(req.Attributes, line)
		if name, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "CertificateTemplate") {
			req.Template = v
		}
	}
	deny := func(msg string) {
		req.Status, req.Disposition = Deny, msg
		html200(w, pageHead+"<P ID=locPageTitle> <B> Certificate Request Denied </B>\r\n<P ID=locDenied> Your certificate request was denied.\r\n"+
			fmt.Sprintf("<P ID=locInfoReqIDAndReason> Your Request Id is %d. The disposition message is \"%s\".", id, html.EscapeString(msg))+pageTail)
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(r.PostForm.Get("CertRequest")), ""))
	if b, _ := pem.Decode([]byte(r.PostForm.Get("CertRequest"))); b != nil {
		der, err = b.Bytes, nil
	}
	if err == nil {
		req.csr, err = x509.ParseCertificateRequest(der)
	}
	if err == nil {
		err = req.csr.CheckSignature()
	}
	if err != nil {
		deny("Error Parsing Request ASN1 bad tag value met. 0x8009310b (ASN: 267 CRYPT_E_ASN1_BADTAG)")
		return
	}
	req.DNSNames = req.csr.DNSNames
	switch s.cfg.Templates[req.Template] {
	case Issue:
		if err := s.issueLocked(req); err != nil {
			deny("Error Constructing or Publishing Certificate " + err.Error())
			return
		}
		html200(w, pageHead+"<P ID=locPageTitle> <B> Certificate Issued </B>\r\n<P ID=locInfo>The certificate you requested was issued to you.\r\n"+
			fmt.Sprintf("<A Href=\"certnew.cer?ReqID=%d&amp;Enc=bin\">DER encoded</A> or <A Href=\"certnew.cer?ReqID=%d&amp;Enc=b64\">Base 64 encoded</A>", id, id)+pageTail)
	case Pending:
		req.Status, req.Disposition = Pending, "Taken Under Submission"
		html200(w, pageHead+"<P ID=locPageTitle> <B> Certificate Pending </B>\r\n"+
			"<P ID=locPendInfo1> Your certificate request has been received. However, you must wait for an administrator to issue the certificate you requested.\r\n"+
			fmt.Sprintf("<P ID=locPendInfo2> Your Request Id is %d.\r\n", id)+
			"<P ID=locPendInfo3> Please return to this web site in a day or two to retrieve your certificate."+pageTail)
		if s.cfg.OnPending != nil {
			go s.cfg.OnPending(id)
		}
	case Deny:
		deny("Denied by Policy Module  The request was denied by a policy rule of the fake CA.")
	default:
		deny("Denied by Policy Module  0x80094800, The requested certificate template is not supported by this CA.")
	}
}

// certnew serves a request's certificate, or certsrv's error page with
// its disposition.
func (s *Server) certnew(w http.ResponseWriter, r *http.Request) {
	id, err := atoiReq(r.URL.Query().Get("ReqID"))
	s.mu.Lock()
	req := s.reqs[id]
	var cert *x509.Certificate
	var status Mode
	var disp string
	if req != nil {
		cert, status, disp = req.Cert, req.Status, req.Disposition
	}
	s.mu.Unlock()
	if err != nil || req == nil {
		html200(w, pageHead+"<P ID=locPageTitle> <B> Error </B>\r\n<P>The parameter is incorrect. 0x80070057 (WIN32: 87 ERROR_INVALID_PARAMETER)"+pageTail)
		return
	}
	if status != Issue {
		html200(w, pageHead+"<P ID=locPageTitle> <B> Error </B>\r\n"+
			fmt.Sprintf("<P>Your Request Id is %d.\r\n<LocID ID=locDisposition>Disposition message:</LocID>\t\t%s\r\n", id, html.EscapeString(disp))+pageTail)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-cert")
	w.Header().Set("Content-Disposition", "attachment; filename=certnew.cer")
	if r.URL.Query().Get("Enc") == "b64" {
		w.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
		return
	}
	w.Write(cert.Raw)
}

// p7b serves the CA chain (root and issuing CA) as a certs-only PKCS #7.
func (s *Server) p7b(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("ReqID") != "CACert" || q.Get("Renewal") != "0" {
		html200(w, pageHead+"<P ID=locPageTitle> <B> Error </B><P>The parameter is incorrect. 0x80070057"+pageTail)
		return
	}
	der, err := pkcs7(s.issuer, s.root)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-pkcs7-certificates")
	w.Header().Set("Content-Disposition", "attachment; filename=certnew.p7b")
	if q.Get("Enc") == "b64" {
		// certsrv labels the base64 PKCS #7 "CERTIFICATE".
		w.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		return
	}
	w.Write(der)
}

// pkcs7 is a degenerate (certs-only) SignedData (RFC 5652 §5.1).
func pkcs7(certs ...*x509.Certificate) ([]byte, error) {
	var raw []byte
	for _, c := range certs {
		raw = append(raw, c.Raw...)
	}
	emptySet := asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true}
	data, err := asn1.Marshal(struct{ Type asn1.ObjectIdentifier }{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}})
	if err != nil {
		return nil, err
	}
	sd, err := asn1.Marshal(struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		ContentInfo      asn1.RawValue
		Certificates     asn1.RawValue
		SignerInfos      asn1.RawValue
	}{1, emptySet, asn1.RawValue{FullBytes: data},
		asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: raw}, emptySet})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue // [0] EXPLICIT, built by hand: Marshal ignores tags on a RawValue
	}{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd}})
}

// StartTLS serves s on loopback HTTPS until the test ends and returns the
// server (its URL and TLS certificate: srv.URL, srv.Certificate()).
func StartTLS(tb testing.TB, s *Server) *httptest.Server {
	tb.Helper()
	srv := httptest.NewUnstartedServer(s)
	srv.Config.ConnContext = ConnContext
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	return srv
}

// TLSRootPEM is the PEM of the test server's TLS certificate, for a CA
// bundle file.
func TLSRootPEM(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}
