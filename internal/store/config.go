package store

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/clusterhealth/healthd/internal/config"
)

// Config is the database section of the settings of the processes that read
// or write the engine contract.
type Config struct {
	// URL is the Postgres connection string, a postgres:// URL or a key=value
	// string (DATABASE_URL). It may hold a password: never log it, log
	// RedactedURL instead.
	URL string
	// SkipMigrations: the process does not change the schema; it checks at
	// start that the schema is at the version it needs (SKIP_MIGRATIONS), so
	// that it can run as a role without DDL rights while `worker migrate`
	// runs as one with them.
	SkipMigrations bool
	// Retention is how long health_events and finished actions are kept
	// (RETENTION); 0 keeps them forever. The health worker prunes them.
	Retention time.Duration
}

// DefaultConfig returns the database settings used when nothing is set: the
// local Postgres.
func DefaultConfig() Config {
	return Config{URL: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", Retention: DefaultRetention}
}

// Settings binds DATABASE_URL, RETENTION and SKIP_MIGRATIONS to c.
func (c *Config) Settings() []config.Setting {
	return []config.Setting{
		config.SecretURL("DATABASE_URL", "Postgres connection URL of the engine contract", &c.URL, postgresURL, redactPostgres),
		config.DurationOrOff("RETENTION", "how long health_events and finished recover actions are kept; the health worker deletes older ones every hour, in small batches (0: forever)", &c.Retention),
		config.Bool("SKIP_MIGRATIONS", "do not migrate the schema at start, only check that it is at the version this build needs (run `worker migrate` as a role with DDL rights)", &c.SkipMigrations),
	}
}

// RedactedURL returns URL with its password replaced, safe to log and to show
// in errors.
func (c Config) RedactedURL() string { return redactPostgres(c.URL) }

// String returns the redacted settings, so that printing a Config by mistake
// leaks no password.
func (c Config) String() string { return fmt.Sprint(config.Redacted(&c)) }

// GoString returns the redacted settings for %#v, for the same reason as String.
func (c Config) GoString() string { return "store.Config" + c.String() }

// postgresURL accepts what pgx accepts: a postgres:// or postgresql:// URL, or
// a key=value connection string. Parse errors are not shown: they quote the
// whole URL, password included.
func postgresURL(s string) string {
	const msg = "must be a postgres:// or postgresql:// URL or a key=value connection string"
	if strings.TrimSpace(s) == "" {
		return msg
	}
	if !strings.Contains(s, "://") {
		if !strings.Contains(s, "=") {
			return msg
		}
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return msg
	}
	return ""
}

// kvPassword matches password (or sslpassword) in a key=value connection
// string, quoted or not.
var kvPassword = regexp.MustCompile(`(?i)(\b\w*password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)

// redactPostgres redacts a postgres URL or key=value connection string.
func redactPostgres(s string) string {
	if strings.Contains(s, "://") {
		return config.RedactURL(s)
	}
	return kvPassword.ReplaceAllString(s, "${1}"+config.RedactedPassword)
}
