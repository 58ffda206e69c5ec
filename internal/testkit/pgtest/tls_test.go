package pgtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clusterhealth/healthd/internal/testkit/pgtest"
	"github.com/clusterhealth/healthd/internal/testkit/tlstest"
)

// TestClusterWithTLS starts a server with a test CA's certificate: a client
// that requires TLS gets an encrypted session, and one that disables it is
// still served in the clear.
func TestClusterWithTLS(t *testing.T) {
	certs := tlstest.New(t)
	c := pgtest.Start(t, pgtest.WithTLS(certs.Cert, certs.Key))
	if !c.TLS {
		t.Fatal("TLS after WithTLS: got false")
	}
	for _, tc := range []struct {
		sslmode string
		want    bool
	}{{"verify-full&sslrootcert=" + certs.CA, true}, {"disable", false}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, strings.Replace(c.DSN, "sslmode=disable", "sslmode="+tc.sslmode, 1))
		if err != nil {
			cancel()
			t.Fatalf("sslmode=%s: connect: %v", tc.sslmode, err)
		}
		var ssl bool
		err = conn.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl)
		_ = conn.Close(ctx)
		cancel()
		if err != nil {
			t.Fatalf("sslmode=%s: pg_stat_ssl: %v", tc.sslmode, err)
		}
		if ssl != tc.want {
			t.Errorf("sslmode=%s: got ssl %v, want %v", tc.sslmode, ssl, tc.want)
		}
	}
}
