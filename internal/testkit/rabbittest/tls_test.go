package rabbittest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/clusterhealth/healthd/internal/testkit/tlstest"
)

// rootCAs returns a pool holding the CA certificate in caFile.
func rootCAs(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("read CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no PEM certificate", caFile)
	}
	return pool
}

// TestBrokerWithTLS starts a node with an amqps listener: a client that
// trusts the test CA connects over TLS, as rabbitmqctl confirms, one that
// trusts another CA is refused by its own verification, and the plain
// listener still serves.
func TestBrokerWithTLS(t *testing.T) {
	certs, wrong := tlstest.New(t), tlstest.New(t)
	b := Start(t, WithTLS(certs.CA, certs.Cert, certs.Key))
	if want := "amqps://guest:guest@127.0.0.1:" + strconv.Itoa(b.TLSPort) + "/"; b.TLSURL != want {
		t.Fatalf("TLSURL: got %q, want %q", b.TLSURL, want)
	}

	conn, err := amqp.DialTLS(b.TLSURL, &tls.Config{RootCAs: rootCAs(t, certs.CA), MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("DialTLS with the test CA: %v", err)
	}
	defer conn.Close()
	if state := conn.ConnectionState(); !state.HandshakeComplete {
		t.Error("connection state: handshake not complete")
	}
	out := b.Ctl(t, "list_connections", "--no-table-headers", "port", "ssl")
	if !strings.Contains(strings.Join(strings.Fields(out), " "), strconv.Itoa(b.TLSPort)+" true") {
		t.Errorf("rabbitmqctl list_connections port ssl: got %q, want a TLS connection on port %d", out, b.TLSPort)
	}

	_, err = amqp.DialTLS(b.TLSURL, &tls.Config{RootCAs: rootCAs(t, wrong.CA), MinVersion: tls.VersionTLS12})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("DialTLS with another CA: got %v, want x509.UnknownAuthorityError", err)
	}

	dial(t, b.URL)
}
