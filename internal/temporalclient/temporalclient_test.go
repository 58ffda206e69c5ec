package temporalclient_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/internal/temporalclient"
	"github.com/clusterhealth/healthd/internal/testkit/tlstest"
)

// load returns the settings of env over the defaults, and their problems.
func load(env map[string]string) (temporalclient.Config, error) {
	c := temporalclient.DefaultConfig()
	err := config.Load(func(k string) string { return env[k] }, &c)
	return c, err
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestCheckNamesTheSetting(t *testing.T) {
	certs := tlstest.New(t)
	other := tlstest.New(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // "" for valid
	}{
		{"defaults", nil, ""},
		{"tls only", map[string]string{"TEMPORAL_TLS": "true"}, ""},
		{"ca file", map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": certs.CA}, ""},
		{"mtls", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": certs.ClientCert, "TEMPORAL_TLS_CLIENT_KEY_PATH": certs.ClientKey}, ""},
		{"tls yes", map[string]string{"TEMPORAL_TLS": "yes"}, "TEMPORAL_TLS: must be true, false or empty"},
		{"ca missing", map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "/nonexistent/ca.pem"}, "TEMPORAL_TLS_SERVER_CA_CERT_PATH: must be empty or a readable file holding PEM certificates"},
		{"ca is a key", map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": certs.Key}, "no PEM certificate in it"},
		{"cert without key", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": certs.ClientCert}, "TEMPORAL_TLS_CLIENT_KEY_PATH: must be set with TEMPORAL_TLS_CLIENT_CERT_PATH"},
		{"key without cert", map[string]string{"TEMPORAL_TLS_CLIENT_KEY_PATH": certs.ClientKey}, "TEMPORAL_TLS_CLIENT_CERT_PATH: must be set with TEMPORAL_TLS_CLIENT_KEY_PATH"},
		{"key of another cert", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": certs.ClientCert, "TEMPORAL_TLS_CLIENT_KEY_PATH": other.ClientKey}, "TEMPORAL_TLS_CLIENT_CERT_PATH: with TEMPORAL_TLS_CLIENT_KEY_PATH, must be a readable PEM certificate and its key"},
		{"codec keys missing", map[string]string{"TEMPORAL_CODEC_KEYS_FILE": "/nonexistent/keys"}, "TEMPORAL_CODEC_KEYS_FILE: keys file /nonexistent/keys: no such file or directory"},
		{"api key in the clear", map[string]string{"TEMPORAL_TLS": "false", "TEMPORAL_API_KEY": "k3y"}, "TEMPORAL_API_KEY: is set with TEMPORAL_TLS=false"},
		{"api key in the clear, forced", map[string]string{"TEMPORAL_TLS": "false", "TEMPORAL_API_KEY": "k3y", "TEMPORAL_API_KEY_PLAINTEXT": "true"}, ""},
		{"tls off with a ca", map[string]string{"TEMPORAL_TLS": "false", "TEMPORAL_TLS_SERVER_CA_CERT_PATH": certs.CA}, "TEMPORAL_TLS: is false, but a TEMPORAL_TLS_ file or server name is set"},
		{"profile missing", map[string]string{"TEMPORAL_PROFILE": "prod"}, "TEMPORAL_CONFIG_FILE: unable to find profile prod"},
		{"profile file with another address", map[string]string{"TEMPORAL_CONFIG_FILE": writeFile(t, "a.toml", "[profile.default]\naddress = \"temporal.example:7233\"\n")},
			"TEMPORAL_CONFIG_FILE: profile sets address temporal.example:7233 but TEMPORAL_ADDRESS is 127.0.0.1:7233"},
		{"profile file with another namespace", map[string]string{"TEMPORAL_CONFIG_FILE": writeFile(t, "n.toml", "[profile.default]\nnamespace = \"prod\"\n")},
			"TEMPORAL_CONFIG_FILE: profile sets namespace prod but TEMPORAL_NAMESPACE is default"},
		{"profile file with an unknown key", map[string]string{"TEMPORAL_CONFIG_FILE": writeFile(t, "u.toml", "[profile.default]\nadress = \"x:1\"\n")}, "TEMPORAL_CONFIG_FILE:"},
		{"profile file not toml", map[string]string{"TEMPORAL_CONFIG_FILE": writeFile(t, "bad.toml", "{")}, "TEMPORAL_CONFIG_FILE: failed parsing config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(tc.env)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestClientOptions(t *testing.T) {
	certs := tlstest.New(t)
	const key = "k3y-that-must-not-print"
	profile := writeFile(t, "temporal.toml", `[profile.default]
address = "127.0.0.1:7233"
api_key = "`+key+`"
[profile.default.tls]
server_ca_cert_path = "`+certs.CA+`"
server_name = "localhost"
[profile.default.grpc_meta]
x-tenant = "blue"
`)
	for _, tc := range []struct {
		name     string
		env      map[string]string
		tls      bool // TLS on
		caFile   bool
		certs    int
		apiKey   bool
		server   string
		security string
	}{
		{name: "plaintext by default", security: "plaintext"},
		{name: "tls with the system roots", env: map[string]string{"TEMPORAL_TLS": "true"}, tls: true, security: "TLS, system roots"},
		{name: "a ca file turns tls on", env: map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": certs.CA}, tls: true, caFile: true, security: "TLS, CA file"},
		{name: "server name", env: map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": certs.CA, "TEMPORAL_TLS_SERVER_NAME": "temporal.internal"},
			tls: true, caFile: true, server: "temporal.internal", security: "TLS, CA file, server name temporal.internal"},
		{name: "mtls", env: map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": certs.CA, "TEMPORAL_TLS_CLIENT_CERT_PATH": certs.ClientCert, "TEMPORAL_TLS_CLIENT_KEY_PATH": certs.ClientKey},
			tls: true, caFile: true, certs: 1, security: "TLS, CA file, client certificate"},
		{name: "an api key turns tls on", env: map[string]string{"TEMPORAL_API_KEY": key}, tls: true, apiKey: true, security: "TLS, system roots, API key"},
		{name: "an api key without tls, forced", env: map[string]string{"TEMPORAL_API_KEY": key, "TEMPORAL_TLS": "false", "TEMPORAL_API_KEY_PLAINTEXT": "true"}, apiKey: true, security: "plaintext, API key"},
		{name: "from the profile file", env: map[string]string{"TEMPORAL_CONFIG_FILE": profile},
			tls: true, caFile: true, apiKey: true, server: "localhost", security: "TLS, CA file, server name localhost, API key"},
		{name: "settings over the profile file", env: map[string]string{"TEMPORAL_CONFIG_FILE": profile, "TEMPORAL_TLS_SERVER_NAME": "other.internal"},
			tls: true, caFile: true, apiKey: true, server: "other.internal", security: "TLS, CA file, server name other.internal, API key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(tc.env)
			require.NoError(t, err)
			opts, err := c.ClientOptions()
			require.NoError(t, err)
			require.Equal(t, "127.0.0.1:7233", opts.HostPort)
			require.Equal(t, "default", opts.Namespace)
			tlsOn := opts.ConnectionOptions.TLS != nil && !opts.ConnectionOptions.TLSDisabled
			require.Equal(t, tc.tls, tlsOn, "TLS")
			if tlsOn {
				got := opts.ConnectionOptions.TLS
				require.Equal(t, tc.caFile, got.RootCAs != nil, "RootCAs")
				require.Len(t, got.Certificates, tc.certs)
				require.Equal(t, tc.server, got.ServerName)
				require.False(t, got.InsecureSkipVerify)
				require.NotZero(t, got.MinVersion)
			}
			require.Equal(t, tc.apiKey, opts.Credentials != nil, "API key credentials")
			require.Equal(t, tc.security, c.Security())
			require.NotContains(t, c.Security(), key)
			for k, v := range config.Redacted(&c) {
				require.NotContains(t, v, key, k)
			}
		})
	}
}

func TestProfileGRPCMetadataIsSent(t *testing.T) {
	c, err := load(map[string]string{"TEMPORAL_CONFIG_FILE": writeFile(t, "m.toml", "[profile.default.grpc_meta]\nx-tenant = \"blue\"\n")})
	require.NoError(t, err)
	opts, err := c.ClientOptions()
	require.NoError(t, err)
	require.NotNil(t, opts.HeadersProvider)
	h, err := opts.HeadersProvider.GetHeaders(t.Context())
	require.NoError(t, err)
	require.Equal(t, map[string]string{"x-tenant": "blue"}, h)
}

func TestHint(t *testing.T) {
	withCA := temporalclient.DefaultConfig()
	withCA.ServerCAFile = "ca.pem"
	withCert := withCA
	withCert.ClientCertFile, withCert.ClientKeyFile = "c.pem", "k.pem"
	withKey := temporalclient.DefaultConfig()
	withKey.APIKey = "secret"
	plain := temporalclient.DefaultConfig()
	for _, tc := range []struct {
		name string
		cfg  temporalclient.Config
		err  string
		want string
	}{
		{"unknown ca with a ca file", withCA, `connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`, "not signed by a CA of TEMPORAL_TLS_SERVER_CA_CERT_PATH"},
		{"unknown ca, system roots", withKey, "x509: certificate signed by unknown authority", "set TEMPORAL_TLS_SERVER_CA_CERT_PATH to its CA"},
		{"wrong name", withCA, "x509: certificate is valid for 127.0.0.1, ::1, localhost, not temporal.internal", "set TEMPORAL_TLS_SERVER_NAME"},
		{"plaintext server", withCA, "tls: first record does not look like a TLS handshake", "Temporal does not speak TLS there"},
		{"client certificate asked", withCA, "remote error: tls: certificate required", "set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH"},
		{"client certificate asked over TLS 1.3", withCA, "write: broken pipe", "if it requires client certificates (mTLS), set TEMPORAL_TLS_CLIENT_CERT_PATH"},
		{"plaintext connection reset", plain, "connection reset by peer", ""},
		{"client certificate refused", withCert, "remote error: tls: unknown certificate authority", "refused the client certificate"},
		{"client certificate refused over TLS 1.3", withCert, "failed reaching server: write tcp 127.0.0.1:37344->127.0.0.1:27655: write: broken pipe", "may have refused the client certificate"},
		{"tls server, plaintext client", plain, "connection closed before server preface received", "set TEMPORAL_TLS=true"},
		{"no api key", withCA, "Request unauthorized.", "set TEMPORAL_API_KEY"},
		{"api key refused", withKey, "PermissionDenied: Request unauthorized.", "refused the API key"},
		{"something else", plain, "context deadline exceeded", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cfg.Hint(errors.New(tc.err))
			if tc.want == "" {
				require.Empty(t, got)
				return
			}
			require.Contains(t, got, tc.want)
			require.False(t, strings.Contains(got, "secret"))
		})
	}
}
