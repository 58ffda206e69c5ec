package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap/zaptest"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/internal/temporalclient"
	"github.com/clusterhealth/healthd/internal/testkit/temporaltest"
	"github.com/clusterhealth/healthd/internal/testkit/tlstest"
)

// jwtIssuer signs API keys (JWTs, ES256) and serves its public key as a
// JSON Web Key Set, as an identity provider does for Temporal's default
// claim mapper.
type jwtIssuer struct {
	key  *ecdsa.PrivateKey
	kid  string
	JWKS string // URL of the key set
}

func newJWTIssuer(t *testing.T) *jwtIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	iss := &jwtIssuer{key: key, kid: "healthd-test"}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": iss.kid,
		"x": b64(key.X.FillBytes(make([]byte, 32))), "y": b64(key.Y.FillBytes(make([]byte, 32))),
	}}})
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	iss.JWKS = srv.URL
	return iss
}

// token returns an API key for subject with the permissions, valid an hour.
func (iss *jwtIssuer) token(t *testing.T, subject string, permissions ...string) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	header, err := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": iss.kid})
	require.NoError(t, err)
	now := time.Now()
	claims, err := json.Marshal(map[string]any{"sub": subject, "permissions": permissions,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	require.NoError(t, err)
	signed := b64(header) + "." + b64(claims)
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, iss.key, digest[:])
	require.NoError(t, err)
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	return signed + "." + b64(sig)
}

// temporalSettings loads the Temporal section from env as a process would.
func temporalSettings(t *testing.T, address string, env map[string]string) temporalclient.Config {
	t.Helper()
	c := temporalclient.DefaultConfig()
	require.NoError(t, config.Load(func(k string) string { return env[k] }, &c))
	c.Address = address
	return c
}

// callTemporal dials with the settings and describes the namespace: the
// first call that needs a permission. The error carries the hint the
// processes print.
func callTemporal(t *testing.T, c temporalclient.Config) error {
	t.Helper()
	opts, err := c.ClientOptions()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := client.DialContext(ctx, opts)
	if err == nil {
		defer cl.Close()
		_, err = cl.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: c.Namespace})
	}
	if err != nil {
		return fmt.Errorf("%w (%s)", err, c.Hint(err))
	}
	return nil
}

// recoverOver runs the health worker and the engine with the Temporal
// settings, registers a cluster through a client of the same settings and
// waits for its broken node's recovery: every Temporal call of the scenario
// goes over the secured connection.
func recoverOver(t *testing.T, tc temporalclient.Config) {
	t.Helper()
	cfg := testConfig(t, tc.Address)
	cfg.Temporal = tc
	m := runApp(t, cfg, zaptest.NewLogger(t), app.RoleHealth, app.RoleEngine)
	ns := newNodes(t, "n-1", "n-2")
	ns.broken["n-2"] = true
	require.NoError(t, seedCluster(context.Background(), m.Store, "c-tls", ns.hook.URL, []string{"n-1", "n-2"}))
	opts, err := tc.ClientOptions()
	require.NoError(t, err)
	c, err := client.Dial(opts)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	startCluster(t, c, pollURLRegistration("c-tls", ns.srv.URL, 60))
	require.Eventually(t, func() bool {
		return clusterStatus(context.Background(), c, "c-tls").Counters.RecoveriesSucceeded == 1
	}, 60*time.Second, waitTick, "waiting for the recovery over %s", tc.Security())
	require.Equal(t, int32(1), ns.webhook.Load())
}

// TestTemporalOverTLS runs healthd against the Temporal server (on
// PostgreSQL) serving its frontend over TLS with a CA of the test's own.
func TestTemporalOverTLS(t *testing.T) {
	certs := tlstest.New(t)
	srv := temporaltest.Start(t, temporaltest.Options{TLS: &temporaltest.TLS{CertFile: certs.Cert, KeyFile: certs.Key}})
	good := temporalSettings(t, srv.Address, map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": certs.CA})

	t.Run("recovery over TLS", func(t *testing.T) { recoverOver(t, good) })

	other := tlstest.New(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"plaintext", nil, []string{"set TEMPORAL_TLS=true"}},
		{"system roots", map[string]string{"TEMPORAL_TLS": "true"},
			[]string{"certificate signed by unknown authority", "set TEMPORAL_TLS_SERVER_CA_CERT_PATH to its CA"}},
		{"another CA", map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": other.CA},
			[]string{"certificate signed by unknown authority", "not signed by a CA of TEMPORAL_TLS_SERVER_CA_CERT_PATH"}},
		{"wrong host name", map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": certs.CA, "TEMPORAL_TLS_SERVER_NAME": "temporal.internal"},
			[]string{"temporal.internal", "set TEMPORAL_TLS_SERVER_NAME to a name it is for"}},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			err := callTemporal(t, temporalSettings(t, srv.Address, tc.env))
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

// TestTemporalOverMTLSWithAPIKey runs healthd against the Temporal server
// requiring a client certificate and an API key (a JWT of the test's own
// issuer, checked by Temporal's default claim mapper and authorizer).
func TestTemporalOverMTLSWithAPIKey(t *testing.T) {
	certs := tlstest.New(t)
	iss := newJWTIssuer(t)
	srv := temporaltest.Start(t, temporaltest.Options{
		TLS:     &temporaltest.TLS{CertFile: certs.Cert, KeyFile: certs.Key, ClientCAFile: certs.CA},
		JWKSURL: iss.JWKS,
	})
	writer := iss.token(t, "healthd", "default:write")
	env := func(extra ...string) map[string]string {
		m := map[string]string{
			"TEMPORAL_TLS_SERVER_CA_CERT_PATH": certs.CA,
			"TEMPORAL_TLS_CLIENT_CERT_PATH":    certs.ClientCert,
			"TEMPORAL_TLS_CLIENT_KEY_PATH":     certs.ClientKey,
			"TEMPORAL_API_KEY":                 writer,
		}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "" {
				delete(m, extra[i])
			} else {
				m[extra[i]] = extra[i+1]
			}
		}
		return m
	}
	good := temporalSettings(t, srv.Address, env())
	require.Equal(t, "TLS, CA file, client certificate, API key", good.Security())
	require.NoError(t, callTemporal(t, good), "server log:\n%s", srv.Log())

	t.Run("recovery over mTLS with an API key", func(t *testing.T) { recoverOver(t, good) })

	otherCA := tlstest.New(t)
	otherIssuer := newJWTIssuer(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"no client certificate", env("TEMPORAL_TLS_CLIENT_CERT_PATH", "", "TEMPORAL_TLS_CLIENT_KEY_PATH", ""),
			[]string{"set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH"}},
		{"a client certificate of another CA", env("TEMPORAL_TLS_CLIENT_CERT_PATH", otherCA.ClientCert, "TEMPORAL_TLS_CLIENT_KEY_PATH", otherCA.ClientKey),
			[]string{"refused the client certificate"}},
		{"no API key", env("TEMPORAL_API_KEY", ""), []string{"Request unauthorized", "set TEMPORAL_API_KEY"}},
		{"an API key of another issuer", env("TEMPORAL_API_KEY", otherIssuer.token(t, "healthd", "default:write")),
			[]string{"refused the API key"}},
		{"an API key for another namespace", env("TEMPORAL_API_KEY", iss.token(t, "healthd", "other:write")),
			[]string{"Request unauthorized", "refused the API key"}},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			c := temporalSettings(t, srv.Address, tc.env)
			err := callTemporal(t, c)
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			if c.APIKey != "" {
				require.False(t, strings.Contains(err.Error(), c.APIKey), "the error shows the API key")
			}
		})
	}
}
