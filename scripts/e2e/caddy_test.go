package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// caddyfile is the Caddyfile of TestCaddy: acmera as the only CA
// (acme_ca, acme_ca_root), Caddy on loopback ports, its storage in the
// test's directory, no admin endpoint, no system trust store, no HTTP/3
// (no UDP port), and one site per challenge type, the other one disabled.
const caddyfile = `{
	admin off
	persist_config off
	skip_install_trust
	default_bind 127.0.0.1
	http_port %d
	https_port %d
	storage file_system %s
	acme_ca %s
	acme_ca_root %s
	email ops@caddy.e2e.test
	ocsp_stapling off
	servers {
		protocols h1 h2
	}
}

caddy-http.e2e.test {
	tls {
		issuer acme {
			disable_tlsalpn_challenge
		}
	}
	respond "http-01"
}

caddy-alpn.e2e.test {
	tls {
		issuer acme {
			disable_http_challenge
		}
	}
	respond "tls-alpn-01"
}
`

// TestCaddy runs Caddy (scripts/caddy-build.sh) with acmera as its CA:
// Caddy listens on the ports acmera validates http-01 and tls-alpn-01
// against and obtains one certificate by each; both verify to acmera's
// root, were validated by the challenge their site allows, and are the
// ones Caddy serves.
func TestCaddy(t *testing.T) {
	bin := e2eutil.NeedCaddy(t)
	t.Parallel()
	dns := e2eutil.StartDNS(t, false)
	httpPort, httpsPort := e2eutil.FreePort(t), e2eutil.FreePort(t)
	srv := startServer(t, e2eutil.ServerConfig{HTTP01Port: httpPort, TLSALPN01Port: httpsPort, Resolver: dns.Addr()})
	dir := t.TempDir()
	caddy := e2eutil.StartCaddy(t, bin, dir, fmt.Sprintf(caddyfile,
		httpPort, httpsPort, e2eutil.CaddyStorage(dir), srv.DirURL, srv.RootPEM))

	ctx := e2eutil.TestContext(t, 45*time.Second)
	for name, challenge := range map[string]string{"caddy-http.e2e.test": "http-01", "caddy-alpn.e2e.test": "tls-alpn-01"} {
		chain, key, err := caddy.WaitCert(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		leaf := verifyChain(t, srv.Root, chain, acme.DomainIDs(name), key.Public())
		wantValidated(t, srv, name, challenge)
		waitServed(ctx, t, srv, httpsPort, name, leaf)
	}
}

// waitServed waits, bounded by ctx, until Caddy on port serves leaf for
// name (it stores a certificate a moment before it serves it).
func waitServed(ctx context.Context, t *testing.T, srv *server, port int, name string, leaf *x509.Certificate) {
	t.Helper()
	d := tls.Dialer{Config: &tls.Config{ServerName: name, RootCAs: srv.Root, MinVersion: tls.VersionTLS12}}
	for {
		var last error
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			served := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
			conn.Close()
			if served.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
				return
			}
			last = fmt.Errorf("serves serial %x, want the stored %x", served.SerialNumber, leaf.SerialNumber)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Caddy's certificate for %s: %v", name, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
