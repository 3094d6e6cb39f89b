package local

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func readDirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// serveOnce accepts TLS connections on ln and answers "ok" after each
// handshake, until ln is closed.
func serveOnce(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = conn.Write([]byte("ok"))
		}()
	}
}

func TestServerCertificateTLS(t *testing.T) {
	c := openCA(t, t.TempDir(), nil) // real clock: the TLS stack checks validity against time.Now
	cert, err := c.ServerCertificate([]string{"localhost", "127.0.0.1", "[::1]"}, time.Hour)
	if err != nil {
		t.Fatalf("ServerCertificate: %v", err)
	}
	if len(cert.Certificate) != 2 {
		t.Fatalf("chain length %d, want 2", len(cert.Certificate))
	}
	if got := cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore); got != time.Hour+backdate {
		t.Errorf("validity %s, want 1h after a backdated start", got)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(readFile(t, c.RootPath())) {
		t.Fatal("root.pem holds no certificate")
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("tls.Listen: %v", err)
	}
	defer ln.Close()
	go serveOnce(ln)

	tests := []struct {
		serverName string
		wantErr    string
	}{
		{"127.0.0.1", ""},
		{"localhost", ""},
		{"::1", ""},
		{"example.com", "certificate is valid for"},
	}
	for _, tc := range tests {
		t.Run(tc.serverName, func(t *testing.T) {
			dialer := &tls.Dialer{
				NetDialer: &net.Dialer{Timeout: 5 * time.Second},
				Config:    &tls.Config{RootCAs: pool, ServerName: tc.serverName, MinVersion: tls.VersionTLS12},
			}
			conn, err := dialer.Dial("tcp", ln.Addr().String())
			if tc.wantErr != "" {
				if err == nil {
					conn.Close()
					t.Fatal("handshake succeeded for a name not in the certificate")
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("tls.Dial: %v", err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(conn)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if string(got) != "ok" {
				t.Errorf("read %q, want ok", got)
			}
		})
	}
}

func TestServerCertificateErrors(t *testing.T) {
	c := openCA(t, t.TempDir(), fixedClock(testNow))
	tests := []struct {
		name    string
		names   []string
		wantErr string
	}{
		{"no names", nil, "no names"},
		{"empty name", []string{""}, "invalid name"},
		{"url", []string{"https://x"}, "invalid name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ServerCertificate(tc.names, time.Hour)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestServerCertificateFreshKeys(t *testing.T) {
	c := openCA(t, t.TempDir(), fixedClock(testNow))
	a, err := c.ServerCertificate([]string{"localhost"}, 0)
	if err != nil {
		t.Fatalf("ServerCertificate: %v", err)
	}
	b, err := c.ServerCertificate([]string{"localhost"}, 0)
	if err != nil {
		t.Fatalf("ServerCertificate: %v", err)
	}
	if a.Leaf.SerialNumber.Cmp(b.Leaf.SerialNumber) == 0 {
		t.Error("two server certificates share a serial")
	}
	aPub, bPub := a.Leaf.PublicKey.(*ecdsa.PublicKey), b.Leaf.PublicKey.(*ecdsa.PublicKey)
	if aPub.Equal(bPub) {
		t.Error("two server certificates share a key")
	}
	if key, ok := a.PrivateKey.(*ecdsa.PrivateKey); !ok || !aPub.Equal(key.Public()) || key.Curve != elliptic.P256() {
		t.Errorf("private key %T does not match the P-256 leaf key", a.PrivateKey)
	}
	if a.Leaf.Subject.CommonName != "localhost" {
		t.Errorf("CN = %q", a.Leaf.Subject.CommonName)
	}
}
