package tlstest_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"testing"

	"github.com/clusterhealth/healthd/internal/testkit/tlstest"
)

// serve accepts one TLS connection on loopback with f's server certificate
// and completes its handshake.
func serve(t *testing.T, f tlstest.Files) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatalf("load key pair: %v", err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}

func pool(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("read CA: %v", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no PEM certificate", caFile)
	}
	return p
}

// TestNewVerifiesForLoopbackOnlyWithItsCA proves the server certificate
// verifies against its own CA for each of Hosts, and not against the CA of
// another call, and that the key is private to its owner.
func TestNewVerifiesForLoopbackOnlyWithItsCA(t *testing.T) {
	f, other := tlstest.New(t), tlstest.New(t)
	addr := serve(t, f)
	_, port, _ := net.SplitHostPort(addr)
	for _, host := range tlstest.Hosts {
		if host == "::1" {
			continue // the listener is on 127.0.0.1; ::1 is checked below
		}
		c, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", port), &tls.Config{RootCAs: pool(t, f.CA), ServerName: host})
		if err != nil {
			t.Errorf("server name %s with its CA: %v", host, err)
			continue
		}
		_ = c.Close()
	}
	_, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool(t, other.CA), ServerName: "127.0.0.1"})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("with another call's CA: got %v, want x509.UnknownAuthorityError", err)
	}

	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("::1"); err != nil {
		t.Errorf("VerifyHostname(::1): %v", err)
	}
	if err := leaf.VerifyHostname("example.com"); err == nil {
		t.Error("VerifyHostname(example.com): got nil, want an error: the certificate is for loopback only")
	}
	if st, err := os.Stat(f.Key); err != nil {
		t.Errorf("key file: %v", err)
	} else if st.Mode().Perm() != 0o600 {
		t.Errorf("key file: got mode %v, want 0600", st.Mode().Perm())
	}
}
