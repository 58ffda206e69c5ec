// Package temporalclient holds the settings with which every healthd process
// reaches Temporal: the frontend, the namespace, the task queue of the
// ClusterHealth workflows, and how the connection is secured (TLS, mTLS, an
// API key).
//
// The security settings are the SDK's standard environment configuration
// (go.temporal.io/sdk/contrib/envconfig): the same TEMPORAL_TLS_* and
// TEMPORAL_API_KEY variables, and the same TOML profile file
// (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE) the temporal CLI and the other
// SDKs read. healthd loads them like its other settings, so that they have
// flags, show in --help, are checked before anything starts and never print
// the API key; [Config.ClientOptions] then hands them to envconfig, which
// builds the SDK's connection options.
package temporalclient

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/clusterhealth/healthd/internal/codec"
	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/workflows"
)

// Config is the Temporal section of the settings of the health worker, the
// bridge, dev mode and the starter.
type Config struct {
	// Address is the host:port of the Temporal frontend (TEMPORAL_ADDRESS).
	Address string
	// Namespace is the Temporal namespace (TEMPORAL_NAMESPACE).
	Namespace string
	// TaskQueue is the task queue of the ClusterHealth workflow and its
	// activities (TEMPORAL_TASK_QUEUE).
	TaskQueue string

	// TLS turns TLS on ("true") or off ("false") (TEMPORAL_TLS); empty
	// leaves it to the other settings: on when a TLS file, server name or API
	// key is set, off otherwise.
	TLS string
	// ServerCAFile holds the CA certificates the server's certificate must be
	// signed by (TEMPORAL_TLS_SERVER_CA_CERT_PATH); empty: the system's roots.
	ServerCAFile string
	// ServerName is the name the server's certificate must be for, and the
	// TLS server name sent (TEMPORAL_TLS_SERVER_NAME); empty: the host of
	// Address.
	ServerName string
	// DisableHostVerification accepts any server certificate, whoever signed
	// it and whatever name it is for (TEMPORAL_TLS_DISABLE_HOST_VERIFICATION).
	// Only for tests.
	DisableHostVerification bool
	// ClientCertFile and ClientKeyFile are the client certificate and key of
	// mTLS (TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH).
	ClientCertFile, ClientKeyFile string
	// APIKey is sent as a bearer token with every call (TEMPORAL_API_KEY).
	APIKey string
	// APIKeyPlaintext lets APIKey go without TLS (TEMPORAL_API_KEY_PLAINTEXT):
	// for a server on this machine or a test, never across a network.
	APIKeyPlaintext bool
	// CodecKeysFile, when set, encrypts every payload given to Temporal
	// with the keys of this file (TEMPORAL_CODEC_KEYS_FILE, see
	// internal/codec): every process of a deployment must have it.
	CodecKeysFile string
	// ConfigFile is the envconfig TOML file (TEMPORAL_CONFIG_FILE); empty:
	// the SDK's default path, when that file exists.
	ConfigFile string
	// Profile is the profile of ConfigFile (TEMPORAL_PROFILE); empty:
	// "default", when the file has one.
	Profile string
}

// DefaultAddress is the frontend used when TEMPORAL_ADDRESS is not set: a
// local server.
const DefaultAddress = "127.0.0.1:7233"

// DefaultConfig returns the Temporal settings used when nothing is set: a
// local server, without TLS.
func DefaultConfig() Config {
	return Config{Address: DefaultAddress, Namespace: "default", TaskQueue: workflows.TaskQueue}
}

// Settings binds the TEMPORAL_ variables to c.
func (c *Config) Settings() []config.Setting {
	return []config.Setting{
		config.String("TEMPORAL_ADDRESS", "host:port of the Temporal frontend", &c.Address, config.HostPort),
		config.String("TEMPORAL_NAMESPACE", "Temporal namespace", &c.Namespace, config.NonEmpty),
		config.String("TEMPORAL_TASK_QUEUE", "task queue of the ClusterHealth workflow", &c.TaskQueue, config.NonEmpty),
		config.String("TEMPORAL_TLS", "TLS to Temporal: true or false (empty: on when a TEMPORAL_TLS_ setting or TEMPORAL_API_KEY is set)", &c.TLS, tlsSwitch),
		config.String("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "PEM file of the CA certificates Temporal's certificate must be signed by (empty: the system's roots)", &c.ServerCAFile, config.PEMCertificates),
		config.String("TEMPORAL_TLS_SERVER_NAME", "name Temporal's certificate must be for (empty: the host of TEMPORAL_ADDRESS)", &c.ServerName, nil),
		config.Bool("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "do not verify Temporal's certificate at all, neither its CA nor its name (tests only)", &c.DisableHostVerification),
		config.String("TEMPORAL_TLS_CLIENT_CERT_PATH", "PEM client certificate for mTLS to Temporal (with TEMPORAL_TLS_CLIENT_KEY_PATH)", &c.ClientCertFile, nil),
		config.String("TEMPORAL_TLS_CLIENT_KEY_PATH", "PEM private key of TEMPORAL_TLS_CLIENT_CERT_PATH", &c.ClientKeyFile, nil),
		config.Secret("TEMPORAL_API_KEY", "API key sent to Temporal as a bearer token (turns TLS on unless TEMPORAL_TLS=false)", &c.APIKey),
		config.Bool("TEMPORAL_API_KEY_PLAINTEXT", "let TEMPORAL_API_KEY go without TLS (TEMPORAL_TLS=false): for a server on this machine or a test only", &c.APIKeyPlaintext),
		config.String("TEMPORAL_CODEC_KEYS_FILE", "file of AES-256 keys (\"<id> <base64>\" per line, the first encrypts) that encrypt every payload given to Temporal (empty: payloads in clear)", &c.CodecKeysFile, nil),
		config.String("TEMPORAL_CONFIG_FILE", "Temporal client profile file, TOML, as the temporal CLI writes it (empty: the SDK's default path, if it exists)", &c.ConfigFile, nil),
		config.String("TEMPORAL_PROFILE", "profile of TEMPORAL_CONFIG_FILE (empty: default)", &c.Profile, nil),
	}
}

// tlsSwitch is the rule of TEMPORAL_TLS.
func tlsSwitch(s string) string {
	if s == "" || s == "true" || s == "false" {
		return ""
	}
	return "must be true, false or empty"
}

// Check reports the rules that relate the Temporal settings: a client
// certificate comes with its key and both load, and the profile file loads
// and agrees with TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE.
func (c *Config) Check() []*config.FieldError {
	var errs []*config.FieldError
	switch {
	case c.ClientCertFile != "" && c.ClientKeyFile == "":
		errs = append(errs, &config.FieldError{Var: "TEMPORAL_TLS_CLIENT_KEY_PATH", Rule: "must be set with TEMPORAL_TLS_CLIENT_CERT_PATH"})
	case c.ClientCertFile == "" && c.ClientKeyFile != "":
		errs = append(errs, &config.FieldError{Var: "TEMPORAL_TLS_CLIENT_CERT_PATH", Rule: "must be set with TEMPORAL_TLS_CLIENT_KEY_PATH"})
	case c.ClientCertFile != "":
		if _, err := tls.LoadX509KeyPair(c.ClientCertFile, c.ClientKeyFile); err != nil {
			errs = append(errs, &config.FieldError{Var: "TEMPORAL_TLS_CLIENT_CERT_PATH",
				Rule: fmt.Sprintf("with TEMPORAL_TLS_CLIENT_KEY_PATH, must be a readable PEM certificate and its key (%s)", pathless(err))})
		}
	}
	if c.TLS == "false" && c.APIKey != "" && !c.APIKeyPlaintext {
		errs = append(errs, &config.FieldError{Var: "TEMPORAL_API_KEY", Rule: "is set with TEMPORAL_TLS=false, so it would cross the network in the clear: " +
			"turn TLS on, or set TEMPORAL_API_KEY_PLAINTEXT=true for a server on this machine"})
	}
	if c.TLS == "false" && c.tlsAsked() {
		errs = append(errs, &config.FieldError{Var: "TEMPORAL_TLS", Rule: "is false, but a TEMPORAL_TLS_ file or server name is set: remove one"})
	}
	if _, err := c.profile(); err != nil {
		errs = append(errs, &config.FieldError{Var: "TEMPORAL_CONFIG_FILE", Rule: err.Error()})
	}
	if c.CodecKeysFile != "" {
		if _, err := codec.Load(c.CodecKeysFile); err != nil {
			errs = append(errs, &config.FieldError{Var: "TEMPORAL_CODEC_KEYS_FILE", Rule: err.Error()})
		}
	}
	return errs
}

// tlsOn tells whether the connection uses TLS, as envconfig decides it.
func (c *Config) tlsOn() bool {
	return c.TLS == "true" || (c.TLS == "" && (c.tlsAsked() || c.APIKey != ""))
}

// tlsAsked tells whether a setting that only means something over TLS is set.
func (c *Config) tlsAsked() bool {
	return c.ServerCAFile != "" || c.ServerName != "" || c.ClientCertFile != "" || c.DisableHostVerification
}

// pathless drops the path an *os.PathError repeats.
func pathless(err error) error {
	var pathErr *os.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}

// profile loads the profile file (or none), checks it against healthd's own
// address and namespace, then lays healthd's settings over it with
// envconfig's own rules, as if they were its environment variables.
func (c *Config) profile() (envconfig.ClientConfigProfile, error) {
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{
		ConfigFilePath:    c.ConfigFile,
		ConfigFileProfile: c.Profile,
		ConfigFileStrict:  true,
		DisableEnv:        true,
		EnvLookup:         settingsLookup{}, // the file and profile come from c, not from os
	})
	if err != nil {
		return prof, err
	}
	// healthd always has an address and a namespace (their defaults are
	// settings); a profile that names others would be silently overridden.
	if prof.Address != "" && prof.Address != c.Address {
		return prof, fmt.Errorf("profile sets address %s but TEMPORAL_ADDRESS is %s: healthd connects to TEMPORAL_ADDRESS; set it to the same value or remove the address from the profile", prof.Address, c.Address)
	}
	if prof.Namespace != "" && prof.Namespace != c.Namespace {
		return prof, fmt.Errorf("profile sets namespace %s but TEMPORAL_NAMESPACE is %s: set it to the same value or remove the namespace from the profile", prof.Namespace, c.Namespace)
	}
	if err := prof.ApplyEnvVars(settingsLookup(c.asEnv())); err != nil {
		return prof, err
	}
	return prof, nil
}

// asEnv returns the settings envconfig reads from the environment, by
// variable name, for those that are set.
func (c *Config) asEnv() map[string]string {
	env := map[string]string{"TEMPORAL_ADDRESS": c.Address, "TEMPORAL_NAMESPACE": c.Namespace}
	set := func(k, v string) {
		if v != "" {
			env[k] = v
		}
	}
	set("TEMPORAL_TLS", c.TLS)
	if c.TLS == "" && c.tlsAsked() {
		env["TEMPORAL_TLS"] = "true"
	}
	set("TEMPORAL_TLS_SERVER_CA_CERT_PATH", c.ServerCAFile)
	set("TEMPORAL_TLS_SERVER_NAME", c.ServerName)
	if c.DisableHostVerification {
		env["TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"] = "true"
	}
	set("TEMPORAL_TLS_CLIENT_CERT_PATH", c.ClientCertFile)
	set("TEMPORAL_TLS_CLIENT_KEY_PATH", c.ClientKeyFile)
	set("TEMPORAL_API_KEY", c.APIKey)
	return env
}

// settingsLookup is an envconfig.EnvLookup over healthd's settings.
type settingsLookup map[string]string

func (l settingsLookup) LookupEnv(key string) (string, bool) { v, ok := l[key]; return v, ok }
func (l settingsLookup) Environ() []string                   { return nil }

// ClientOptions returns the SDK client options of c: the frontend, the
// namespace, and TLS, the client certificate, the API key and gRPC metadata
// from the profile file and the TEMPORAL_TLS_* and TEMPORAL_API_KEY settings.
// The caller adds its logger and metrics handler.
func (c *Config) ClientOptions() (client.Options, error) {
	prof, err := c.profile()
	if err != nil {
		return client.Options{}, fmt.Errorf("TEMPORAL_CONFIG_FILE: %w", err)
	}
	opts, err := prof.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, fmt.Errorf("Temporal TLS settings: %w", err)
	}
	if tc := opts.ConnectionOptions.TLS; tc != nil && tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	if c.CodecKeysFile != "" {
		cd, err := codec.Load(c.CodecKeysFile)
		if err != nil {
			return client.Options{}, fmt.Errorf("TEMPORAL_CODEC_KEYS_FILE: %w", err)
		}
		opts.DataConverter = cd.DataConverter()
	}
	return opts, nil
}

// Security describes, without secrets, how the connection is secured: for
// the start-up log and error messages.
func (c *Config) Security() string {
	opts, err := c.ClientOptions()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	tc := opts.ConnectionOptions.TLS
	if tc == nil || opts.ConnectionOptions.TLSDisabled {
		if opts.Credentials != nil {
			return "plaintext, API key"
		}
		return "plaintext"
	}
	parts := []string{"TLS"}
	if tc.RootCAs != nil {
		parts = append(parts, "CA file")
	} else {
		parts = append(parts, "system roots")
	}
	if tc.ServerName != "" {
		parts = append(parts, "server name "+tc.ServerName)
	}
	if tc.InsecureSkipVerify {
		parts = append(parts, "host NOT verified")
	}
	if len(tc.Certificates) > 0 {
		parts = append(parts, "client certificate")
	}
	if opts.Credentials != nil {
		parts = append(parts, "API key")
	}
	return strings.Join(parts, ", ")
}

// Hint says which setting to look at for a failed connection to Temporal,
// from the error's text (gRPC flattens the TLS errors into its status
// message); "" when it knows nothing better than the error.
func (c *Config) Hint(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	has := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(msg, x) {
				return true
			}
		}
		return false
	}
	switch {
	case has("certificate signed by unknown authority") && c.ServerCAFile != "":
		return "Temporal's certificate is not signed by a CA of TEMPORAL_TLS_SERVER_CA_CERT_PATH"
	case has("certificate signed by unknown authority"):
		return "Temporal's certificate is not signed by one of the system's roots: set TEMPORAL_TLS_SERVER_CA_CERT_PATH to its CA"
	case has("certificate is valid for", "certificate is not valid for"):
		return "Temporal's certificate is not for the host of TEMPORAL_ADDRESS: set TEMPORAL_TLS_SERVER_NAME to a name it is for"
	case has("first record does not look like a TLS handshake"):
		return "Temporal does not speak TLS there: unset the TEMPORAL_TLS_ settings, or set TEMPORAL_TLS=false"
	case has("certificate required", "bad certificate", "unknown certificate authority") && c.ClientCertFile == "":
		return "Temporal asks for a client certificate: set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH"
	case has("certificate required", "bad certificate", "unknown certificate authority"):
		return "Temporal refused the client certificate of TEMPORAL_TLS_CLIENT_CERT_PATH"
	// Over TLS 1.3 the server checks the client certificate after the
	// client's handshake is done: a refusal may show as a closed connection.
	case has("broken pipe", "connection reset by peer") && c.ClientCertFile == "" && c.tlsOn():
		return "Temporal closed the connection: if it requires client certificates (mTLS), set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH"
	case has("broken pipe", "connection reset by peer") && c.ClientCertFile != "":
		return "Temporal closed the connection: it may have refused the client certificate of TEMPORAL_TLS_CLIENT_CERT_PATH (is it signed by a CA the server trusts?)"
	case has("server preface", "EOF") && c.TLS != "true" && !c.tlsAsked() && c.APIKey == "":
		return "if Temporal there requires TLS, set TEMPORAL_TLS=true (and TEMPORAL_TLS_SERVER_CA_CERT_PATH for a private CA)"
	case has("Request unauthorized", "PermissionDenied", "Unauthenticated", "unauthorized") && c.APIKey == "":
		return "Temporal refused the call: set TEMPORAL_API_KEY"
	case has("Request unauthorized", "PermissionDenied", "Unauthenticated", "unauthorized"):
		return "Temporal refused the API key of TEMPORAL_API_KEY, or it does not allow this namespace"
	}
	return ""
}
