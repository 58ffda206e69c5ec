package store_test

import (
	"strings"
	"testing"

	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/testkit/pgtest"
	"github.com/clusterhealth/healthd/internal/testkit/tlstest"
)

// TestOpenOverTLS connects to a private server whose certificate a test CA
// signed. With sslmode=verify-full and that CA as sslrootcert, Open connects
// over TLS and Migrate runs; with another CA it fails, saying the certificate
// is not trusted and showing no password; sslmode=require without a CA
// encrypts without verifying. DATABASE_URL accepts each of these URLs.
func TestOpenOverTLS(t *testing.T) {
	certs, wrong := tlstest.New(t), tlstest.New(t)
	pg := pgtest.Start(t, pgtest.WithTLS(certs.Cert, certs.Key))
	const password = "s3cr3t-pw" // the server trusts loopback and ignores it
	dsn := func(params string) string {
		u := strings.Replace(pg.DSN, "postgres@", "postgres:"+password+"@", 1)
		return strings.Replace(u, "sslmode=disable", params+"&connect_timeout=5", 1)
	}
	encrypted := func(t *testing.T, s *store.Store) bool {
		t.Helper()
		var ssl bool
		if err := s.Pool().QueryRow(testContext(t), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
			t.Fatalf("pg_stat_ssl: %v", err)
		}
		return ssl
	}
	valid := func(t *testing.T, url string) {
		t.Helper()
		if err := config.Validate(&store.Config{URL: url}); err != nil {
			t.Errorf("DATABASE_URL rule: got %v, want the URL accepted", err)
		}
	}

	t.Run("verify-full with the CA", func(t *testing.T) {
		for _, host := range []string{"127.0.0.1", "localhost"} {
			url := strings.Replace(dsn("sslmode=verify-full&sslrootcert="+certs.CA), "@127.0.0.1:", "@"+host+":", 1)
			valid(t, url)
			s, err := store.Open(testContext(t), url)
			if err != nil {
				t.Fatalf("host %s: Open: %v", host, err)
			}
			defer s.Close()
			if err := s.Migrate(testContext(t)); err != nil {
				t.Fatalf("host %s: Migrate: %v", host, err)
			}
			if !encrypted(t, s) {
				t.Errorf("host %s: got a session in the clear, want TLS", host)
			}
		}
	})

	t.Run("verify-full with another CA", func(t *testing.T) {
		url := dsn("sslmode=verify-full&sslrootcert=" + wrong.CA)
		valid(t, url)
		s, err := store.Open(testContext(t), url)
		if err == nil {
			s.Close()
			t.Fatal("Open: got nil error, want the server's certificate refused")
		}
		msg := err.Error()
		t.Logf("Open: %v", msg)
		if !strings.Contains(msg, "certificate signed by unknown authority") || !strings.Contains(msg, "sslrootcert") {
			t.Errorf("Open error = %q, want it to say the certificate is signed by an unknown authority and name sslrootcert", msg)
		}
		if strings.Contains(msg, password) {
			t.Errorf("Open error = %q, want it without the password", msg)
		}
	})

	t.Run("require without a CA", func(t *testing.T) {
		url := dsn("sslmode=require")
		valid(t, url)
		s, err := store.Open(testContext(t), url)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		if !encrypted(t, s) {
			t.Error("got a session in the clear, want TLS")
		}
	})
}
