package casfake

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/security/privateca/apiv1/privatecapb"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	reqA = "6f9619ff-8b86-4011-b42d-00c04fc964ff"
	reqB = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
)

// start serves a fake on loopback and returns it with a raw gRPC client.
func start(t *testing.T, cfg Config) (*Server, privatecapb.CertificateAuthorityServiceClient) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	g := s.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return s, privatecapb.NewCertificateAuthorityServiceClient(conn)
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func csrPEM(t *testing.T, name string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("ecdsa.GenerateKey: %v", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
	}, k)
	if err != nil {
		t.Fatalf("x509.CreateCertificateRequest: %v", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func createReq(s *Server, csr, reqID, certID string) *privatecapb.CreateCertificateRequest {
	return &privatecapb.CreateCertificateRequest{
		Parent: s.Pool(), CertificateId: certID, RequestId: reqID,
		Certificate: &privatecapb.Certificate{
			CertificateConfig: &privatecapb.Certificate_PemCsr{PemCsr: csr},
			Lifetime:          durationpb.New(time.Hour),
		},
	}
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("status = %v (%v), want %v", got, err, want)
	}
}

func TestCreateRequestIDSemantics(t *testing.T) {
	s, c := start(t, Config{})
	csr := csrPEM(t, "a.example.internal")
	first, err := c.CreateCertificate(ctxT(t), createReq(s, csr, reqA, "cert-a"))
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	tests := []struct {
		name string
		req  *privatecapb.CreateCertificateRequest
		want codes.Code
	}{
		{"same request replays", createReq(s, csr, reqA, "cert-a"), codes.OK},
		{"same request_id, other CSR", createReq(s, csrPEM(t, "b.example.internal"), reqA, "cert-a"), codes.InvalidArgument},
		{"same request_id, other certificate_id", createReq(s, csr, reqA, "cert-b"), codes.InvalidArgument},
		{"request_id not a UUID", createReq(s, csr, "order-1", "cert-c"), codes.InvalidArgument},
		{"zero UUID request_id", createReq(s, csr, "00000000-0000-0000-0000-000000000000", "cert-c"), codes.InvalidArgument},
		{"new request_id, existing certificate_id", createReq(s, csr, reqB, "cert-a"), codes.AlreadyExists},
		{"bad certificate_id", createReq(s, csr, "", "not/valid"), codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.CreateCertificate(ctxT(t), tt.req)
			wantCode(t, err, tt.want)
			if tt.want == codes.OK && (got.GetName() != first.GetName() || got.GetPemCertificate() != first.GetPemCertificate()) {
				t.Error("replay returned a different certificate")
			}
		})
	}
	if s.Minted() != 1 {
		t.Errorf("Minted = %d, want 1", s.Minted())
	}
	if n := s.Stats()[MethodCreateCertificate]; n != 1+len(tests) {
		t.Errorf("CreateCertificate count = %d, want %d", n, 1+len(tests))
	}
}

func TestCreateValidation(t *testing.T) {
	const tmpl = "projects/acmera-test/locations/us-central1/certificateTemplates/known"
	s, c := start(t, Config{Templates: []string{tmpl}})
	csr := csrPEM(t, "a.example.internal")
	tests := []struct {
		name   string
		mutate func(*privatecapb.CreateCertificateRequest)
		want   codes.Code
	}{
		{"ok with known template", func(r *privatecapb.CreateCertificateRequest) { r.Certificate.CertificateTemplate = tmpl }, codes.OK},
		{"unknown template", func(r *privatecapb.CreateCertificateRequest) {
			r.Certificate.CertificateTemplate = "projects/acmera-test/locations/us-central1/certificateTemplates/other"
		}, codes.NotFound},
		{"template in another location", func(r *privatecapb.CreateCertificateRequest) {
			r.Certificate.CertificateTemplate = "projects/acmera-test/locations/europe-west1/certificateTemplates/known"
		}, codes.InvalidArgument},
		{"other pool", func(r *privatecapb.CreateCertificateRequest) {
			r.Parent = "projects/acmera-test/locations/us-central1/caPools/other"
		}, codes.NotFound},
		{"malformed pool", func(r *privatecapb.CreateCertificateRequest) { r.Parent = "pool" }, codes.InvalidArgument},
		{"config without a public key", func(r *privatecapb.CreateCertificateRequest) {
			r.Certificate.CertificateConfig = &privatecapb.Certificate_Config{Config: &privatecapb.CertificateConfig{}}
		}, codes.InvalidArgument},
		{"garbage CSR", func(r *privatecapb.CreateCertificateRequest) {
			r.Certificate.CertificateConfig = &privatecapb.Certificate_PemCsr{PemCsr: "nope"}
		}, codes.InvalidArgument},
		{"no lifetime", func(r *privatecapb.CreateCertificateRequest) { r.Certificate.Lifetime = nil }, codes.InvalidArgument},
		{"not_before without policy", func(r *privatecapb.CreateCertificateRequest) {
			r.Certificate.RequestedNotBeforeTime = timestamppb.Now()
		}, codes.InvalidArgument},
		{"unknown issuing CA", func(r *privatecapb.CreateCertificateRequest) { r.IssuingCertificateAuthorityId = "x" }, codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := createReq(s, csr, "", "")
			tt.mutate(r)
			_, err := c.CreateCertificate(ctxT(t), r)
			wantCode(t, err, tt.want)
		})
	}
	if s.Minted() != 1 {
		t.Errorf("Minted = %d, want 1", s.Minted())
	}
}

func TestCreateValidateOnlyAndNotBefore(t *testing.T) {
	s, c := start(t, Config{Policy: &privatecapb.CaPool_IssuancePolicy{AllowRequesterSpecifiedNotBeforeTime: true}})
	r := createReq(s, csrPEM(t, "a.example.internal"), "", "vo")
	r.ValidateOnly = true
	got, err := c.CreateCertificate(ctxT(t), r)
	if err != nil || got.GetPemCertificate() != "" || s.Minted() != 0 {
		t.Fatalf("validate_only = %v, %v, minted %d; want no certificate", got, err, s.Minted())
	}
	_, err = c.GetCertificate(ctxT(t), &privatecapb.GetCertificateRequest{Name: got.GetName()})
	wantCode(t, err, codes.NotFound)

	nb := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	r = createReq(s, csrPEM(t, "a.example.internal"), "", "nb")
	r.Certificate.RequestedNotBeforeTime = timestamppb.New(nb)
	got, err = c.CreateCertificate(ctxT(t), r)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	block, _ := pem.Decode([]byte(got.GetPemCertificate()))
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !leaf.NotBefore.Equal(nb) {
		t.Errorf("NotBefore = %v (%v), want %v", leaf.NotBefore, err, nb)
	}
}

func TestDevOpsTier(t *testing.T) {
	s, c := start(t, Config{Tier: privatecapb.CaPool_DEVOPS})
	a, err := c.CreateCertificate(ctxT(t), createReq(s, csrPEM(t, "a.example.internal"), "", "same-id"))
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	b, err := c.CreateCertificate(ctxT(t), createReq(s, csrPEM(t, "b.example.internal"), "", "same-id"))
	if err != nil {
		t.Fatalf("CreateCertificate with a reused certificate_id: %v", err)
	}
	if a.GetName() == b.GetName() {
		t.Error("DevOps pool honoured certificate_id; it should ignore it")
	}
	_, err = c.GetCertificate(ctxT(t), &privatecapb.GetCertificateRequest{Name: a.GetName()})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = c.RevokeCertificate(ctxT(t), &privatecapb.RevokeCertificateRequest{Name: a.GetName(), Reason: privatecapb.RevocationReason_SUPERSEDED})
	wantCode(t, err, codes.FailedPrecondition)
}

func TestRevokeCertificate(t *testing.T) {
	s, c := start(t, Config{})
	cert, err := c.CreateCertificate(ctxT(t), createReq(s, csrPEM(t, "a.example.internal"), "", "r1"))
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	rev := func(reason privatecapb.RevocationReason, id string) error {
		_, err := c.RevokeCertificate(ctxT(t), &privatecapb.RevokeCertificateRequest{Name: cert.GetName(), Reason: reason, RequestId: id})
		return err
	}
	steps := []struct {
		name   string
		reason privatecapb.RevocationReason
		id     string
		want   codes.Code
	}{
		{"unknown enum", privatecapb.RevocationReason(99), reqA, codes.InvalidArgument},
		{"first revocation", privatecapb.RevocationReason_PRIVILEGE_WITHDRAWN, reqA, codes.OK},
		{"replay", privatecapb.RevocationReason_PRIVILEGE_WITHDRAWN, reqA, codes.OK},
		{"request_id with other reason", privatecapb.RevocationReason_SUPERSEDED, reqA, codes.InvalidArgument},
		{"already revoked", privatecapb.RevocationReason_SUPERSEDED, reqB, codes.FailedPrecondition},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) { wantCode(t, rev(st.reason, st.id), st.want) })
	}
	if got, ok := s.Revocation(cert.GetName()); !ok || got != privatecapb.RevocationReason_PRIVILEGE_WITHDRAWN {
		t.Errorf("Revocation = %v, %v", got, ok)
	}
	_, err = c.RevokeCertificate(ctxT(t), &privatecapb.RevokeCertificateRequest{Name: s.Pool() + "/certificates/none"})
	wantCode(t, err, codes.NotFound)
}

func TestFaultsLatencyAndStats(t *testing.T) {
	s, c := start(t, Config{})
	s.FailNext(MethodGetCertificate, 2, codes.Unavailable)
	get := func(ctx context.Context) error {
		_, err := c.GetCertificate(ctx, &privatecapb.GetCertificateRequest{Name: s.Pool() + "/certificates/x"})
		return err
	}
	for i, want := range []codes.Code{codes.Unavailable, codes.Unavailable, codes.NotFound} {
		if got := status.Code(get(ctxT(t))); got != want {
			t.Errorf("call %d: %v, want %v", i, got, want)
		}
	}
	s.SetLatency(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	wantCode(t, get(ctx), codes.DeadlineExceeded)
	s.SetLatency(0)
	if n := s.Stats()[MethodGetCertificate]; n != 4 {
		t.Errorf("GetCertificate count = %d, want 4", n)
	}
}

func TestFetchCaCertsAndRootPEM(t *testing.T) {
	s, c := start(t, Config{})
	resp, err := c.FetchCaCerts(ctxT(t), &privatecapb.FetchCaCertsRequest{CaPool: s.Pool()})
	if err != nil {
		t.Fatalf("FetchCaCerts: %v", err)
	}
	if len(resp.GetCaCerts()) != 1 || len(resp.GetCaCerts()[0].GetCertificates()) != 2 {
		t.Fatalf("FetchCaCerts = %v, want one chain of two", resp)
	}
	chain := resp.GetCaCerts()[0].GetCertificates()
	if chain[1] != string(s.RootPEM()) {
		t.Error("last certificate of the chain is not the root")
	}
	b, _ := pem.Decode([]byte(chain[0]))
	inter, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatalf("x509.ParseCertificate: %v", err)
	}
	rb, _ := pem.Decode(s.RootPEM())
	root, err := x509.ParseCertificate(rb.Bytes)
	if err != nil || inter.CheckSignatureFrom(root) != nil {
		t.Errorf("intermediate is not signed by the root (%v)", err)
	}

	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	hc := &http.Client{Timeout: 5 * time.Second}
	res, err := hc.Get(srv.URL + "/root.pem")
	if err != nil {
		t.Fatalf("GET /root.pem: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != string(s.RootPEM()) {
		t.Errorf("GET /root.pem = %d, %d bytes; want the root", res.StatusCode, len(body))
	}
	res, err = hc.Post(srv.URL+"/root.pem", "text/plain", nil)
	if err != nil {
		t.Fatalf("POST /root.pem: %v", err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /root.pem = %d, want 405", res.StatusCode)
	}
}

func TestNewRejectsBadPool(t *testing.T) {
	if _, err := New(Config{Pool: "projects/p/caPools/x"}); err == nil {
		t.Error("New accepted a malformed pool")
	}
}

func TestCreateFromConfigWithTemplateValues(t *testing.T) {
	const tmpl = "projects/acmera-test/locations/us-central1/certificateTemplates/adds-codesigning"
	s, c := start(t, Config{Templates: []string{tmpl}, TemplateValues: map[string]*privatecapb.X509Parameters{
		tmpl: {KeyUsage: &privatecapb.KeyUsage{ExtendedKeyUsage: &privatecapb.KeyUsage_ExtendedKeyUsageOptions{CodeSigning: true}}},
	}})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	config := &privatecapb.CertificateConfig{
		SubjectConfig: &privatecapb.CertificateConfig_SubjectConfig{
			Subject:        &privatecapb.Subject{CommonName: "app.example.internal"},
			SubjectAltName: &privatecapb.SubjectAltNames{DnsNames: []string{"app.example.internal"}, IpAddresses: []string{"10.0.0.7"}},
		},
		X509Config: &privatecapb.X509Parameters{
			KeyUsage: &privatecapb.KeyUsage{
				BaseKeyUsage:     &privatecapb.KeyUsage_KeyUsageOptions{DigitalSignature: true},
				ExtendedKeyUsage: &privatecapb.KeyUsage_ExtendedKeyUsageOptions{ServerAuth: true},
			},
		},
		PublicKey: &privatecapb.PublicKey{Key: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), Format: privatecapb.PublicKey_PEM},
	}
	for i, tc := range []struct {
		template string
		wantEKU  []x509.ExtKeyUsage
	}{
		{"", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		{tmpl, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}, // predefined_values replace the request's
	} {
		req := &privatecapb.CreateCertificateRequest{
			Parent: s.Pool(), CertificateId: fmt.Sprintf("cfg-%d", i), RequestId: uuid.NewString(),
			Certificate: &privatecapb.Certificate{
				CertificateConfig:   &privatecapb.Certificate_Config{Config: config},
				Lifetime:            durationpb.New(time.Hour),
				CertificateTemplate: tc.template,
			},
		}
		got, err := c.CreateCertificate(ctxT(t), req)
		if err != nil {
			t.Fatalf("CreateCertificate(template %q): %v", tc.template, err)
		}
		b, _ := pem.Decode([]byte(got.GetPemCertificate()))
		leaf, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if leaf.Subject.CommonName != "app.example.internal" || len(leaf.DNSNames) != 1 || len(leaf.IPAddresses) != 1 ||
			leaf.IsCA || !slices.Equal(leaf.ExtKeyUsage, tc.wantEKU) || !key.PublicKey.Equal(leaf.PublicKey) {
			t.Errorf("template %q: leaf CN %q SANs %v %v CA %v EKU %v", tc.template, leaf.Subject.CommonName,
				leaf.DNSNames, leaf.IPAddresses, leaf.IsCA, leaf.ExtKeyUsage)
		}
		if got.GetConfig() == nil {
			t.Error("the returned Certificate does not carry the config")
		}
	}
	if configs, pemCSRs := s.Requests(); configs != 2 || pemCSRs != 0 {
		t.Errorf("Requests() = %d, %d, want 2, 0", configs, pemCSRs)
	}
	if _, err := c.GetCertificateTemplate(ctxT(t), &privatecapb.GetCertificateTemplateRequest{Name: tmpl}); err != nil {
		t.Errorf("GetCertificateTemplate: %v", err)
	}
	_, err := c.GetCertificateTemplate(ctxT(t), &privatecapb.GetCertificateTemplateRequest{Name: tmpl + "-missing"})
	wantCode(t, err, codes.NotFound)
}
