package bridge

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clusterhealth/healthd/internal/metrics"
	"github.com/clusterhealth/healthd/internal/testkit/rabbittest"
	"github.com/clusterhealth/healthd/internal/testkit/tlstest"
)

// TestBridgeOverTLS runs the bridge against a private node with an amqps
// listener whose certificate a test CA signed. With AMQP_CA_FILE naming that
// CA the bridge consumes over TLS (rabbitmqctl sees its connection encrypted)
// and signals a notification published on the plain listener. With another
// CA, or none (the system's roots), it never connects, and Ready says that the
// certificate is not trusted and what to set, without the password.
func TestBridgeOverTLS(t *testing.T) {
	certs, wrong := tlstest.New(t), tlstest.New(t)
	broker := rabbittest.Start(t, rabbittest.WithTLS(certs.CA, certs.Cert, certs.Key))
	env := newTestEnvAt(t, broker.URL)

	t.Run("trusted CA", func(t *testing.T) {
		cfg := env.cfg
		cfg.URL, cfg.CAFile = broker.TLSURL, certs.CA
		if err := cfg.WithDefaults().Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		sig := &fakeSignaller{}
		b := startBridge(t, cfg, sig)
		env.publishFixture(fixtureByName(t, memberNova))
		require.Eventually(t, func() bool { return b.count(metrics.BridgeSignalled) == 1 }, waitTimeout, waitTick, "waiting for the notification to be signalled")
		if _, got := sig.snapshot(); len(got) != 1 || got[0].cluster != fxCluster {
			t.Errorf("got signals %+v, want one for cluster %s", got, fxCluster)
		}

		out := broker.Ctl(t, "list_connections", "--no-table-headers", "port", "ssl", "client_properties")
		marker := `{"connection_name","` + cfg.ConnectionName + `"}`
		found := false
		for line := range strings.SplitSeq(out, "\n") {
			if strings.Contains(line, marker) {
				found = true
				if f := strings.Fields(line); len(f) < 2 || f[0] != strconv.Itoa(broker.TLSPort) || f[1] != "true" {
					t.Errorf("bridge connection: got %q, want port %d with ssl true", line, broker.TLSPort)
				}
			}
		}
		if !found {
			t.Errorf("rabbitmqctl list_connections: no connection named %s in %q", cfg.ConnectionName, out)
		}
		b.stop(t)
	})

	for _, tc := range []struct {
		name, caFile, want string
	}{
		{"another CA", wrong.CA, `not signed by a CA of AMQP_CA_FILE "` + wrong.CA + `"`},
		{"system roots", "", "set AMQP_CA_FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := env.cfg
			cfg.URL, cfg.CAFile = broker.TLSURL, tc.caFile
			b := New(cfg, &fakeSignaller{}, nil, nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- b.Run(ctx) }()
			defer func() {
				cancel()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("Run: got %v, want nil after shutdown", err)
					}
				case <-time.After(waitTimeout):
					t.Errorf("Run did not return within %s of shutdown", waitTimeout)
				}
			}()
			require.Eventually(t, func() bool {
				err := b.Ready()
				return err != nil && strings.Contains(err.Error(), "certificate signed by unknown authority")
			}, waitTimeout, waitTick, "waiting for Ready to report the refused certificate")
			msg := b.Ready().Error()
			t.Logf("Ready: %s", msg)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("Ready: got %q, want it to say %q", msg, tc.want)
			}
			if strings.Contains(msg, ":guest@") {
				t.Errorf("Ready: got %q, want the URL without its password", msg)
			}
			if n := b.connections.Load(); n != 0 {
				t.Errorf("got %d connections, want none", n)
			}
		})
	}
}

// TestCAFileRule checks the rules of AMQP_CA_FILE: empty or a file holding a
// PEM certificate, and only with an amqps:// AMQP_URL.
func TestCAFileRule(t *testing.T) {
	certs := tlstest.New(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const amqps = "amqps://u:s3cret@rabbit:5671/"
	for _, tc := range []struct {
		name, url, caFile, want string
	}{
		{"unset", amqps, "", ""},
		{"the test CA", amqps, certs.CA, ""},
		{"missing file", amqps, filepath.Join(dir, "missing.pem"), `AMQP_CA_FILE: must be empty or a readable file holding PEM certificates (no such file or directory), got "` + filepath.Join(dir, "missing.pem") + `"`},
		{"no PEM certificate", amqps, notPEM, `AMQP_CA_FILE: must be empty or a readable file holding PEM certificates (no PEM certificate in it), got "` + notPEM + `"`},
		{"a key only", amqps, certs.Key, "AMQP_CA_FILE: must be empty or a readable file holding PEM certificates (no PEM certificate in it)"},
		{"plain AMQP", "amqp://u:s3cret@rabbit:5672/", certs.CA, "AMQP_CA_FILE: is only used with an amqps:// AMQP_URL, got scheme amqp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{URL: tc.url, CAFile: tc.caFile}.WithDefaults()
			err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: got %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate: got %v, want %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "s3cret"):
				t.Errorf("Validate: got %v, want no password", err)
			}
		})
	}
}
