package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Setting ties one field of a section to its environment variable, its flag
// and the rule its value must follow. Build one with [String], [Int],
// [Duration], [Bool], [SecretURL], [Secret] or [ListenAddr].
type Setting struct {
	env   string
	usage string
	value value
}

// Env returns the setting's environment variable, for example TEMPORAL_ADDRESS.
func (s Setting) Env() string { return s.env }

// value is a pflag.Value that also checks a value set directly in the struct.
// Set rejects what it cannot parse and never echoes a secret; String never
// returns one.
type value interface {
	pflag.Value
	check() error
}

// Rule returns what a value must be ("must not be empty"), or "" when the
// value is valid. The message never quotes the value: the setting adds it,
// unless it may hold a secret.
type Rule func(string) string

// String is a string setting that must follow rule; a nil rule takes any
// value.
func String(env, usage string, p *string, rule Rule) Setting {
	return Setting{env, usage, &stringValue{p: p, rule: rule}}
}

// Int is an integer setting from min to max; max 0 means no upper bound.
func Int(env, usage string, p *int, min, max int) Setting {
	return Setting{env, usage, &intValue{p: p, min: min, max: max}}
}

// Duration is a positive Go duration such as 30s or 1m30s.
func Duration(env, usage string, p *time.Duration) Setting {
	return Setting{env, usage, &durationValue{p: p}}
}

// DurationOrOff is a duration setting where 0 turns the setting off.
func DurationOrOff(env, usage string, p *time.Duration) Setting {
	return Setting{env, usage, &durationValue{p: p, zeroOff: true}}
}

// Bool is true or false (also 1/0, t/f, as strconv.ParseBool reads them); its
// flag alone means true.
func Bool(env, usage string, p *bool) Setting {
	return Setting{env, usage, &boolValue{p: p}}
}

// SecretURL is a URL or connection string that may hold a password. Errors
// state rule without the value, and flag help, [Redacted] and printing show
// the value through redact (such as [RedactURL]), which must hide the
// password.
func SecretURL(env, usage string, p *string, rule Rule, redact func(string) string) Setting {
	return Setting{env, usage, &secretValue{p: p, rule: rule, redact: redact}}
}

// Secret is a string that is a secret as a whole, such as a signing key;
// empty means unset. Any value is accepted, and errors, flag help, [Redacted]
// and printing show [RedactedPassword] in place of a value that is set, and
// "" for an unset one.
func Secret(env, usage string, p *string) Setting {
	return Setting{env, usage, &secretString{p: p}}
}

// ListenAddr is a host:port to listen on, or empty for no listener; [Off]
// also means none, so that the environment can turn a listener off.
func ListenAddr(env, usage string, p *string) Setting {
	return Setting{env, usage, &listenValue{p: p}}
}

// stringValue is a plain setting.
type stringValue struct {
	p    *string
	rule Rule
}

func (v *stringValue) String() string { return *v.p }
func (v *stringValue) Type() string   { return "string" }

func (v *stringValue) Set(s string) error {
	if err := v.checkValue(s); err != nil {
		return err
	}
	*v.p = s
	return nil
}

func (v *stringValue) check() error { return v.checkValue(*v.p) }

func (v *stringValue) checkValue(s string) error {
	if v.rule == nil {
		return nil
	}
	if msg := v.rule(s); msg != "" {
		return fmt.Errorf("%s, got %q", msg, s)
	}
	return nil
}

// secretValue is a URL that may hold a password. Set accepts anything, because
// pflag prints the value of a rejected flag; check reports the rule without the
// value, and String shows the value with the password replaced.
type secretValue struct {
	p      *string
	rule   Rule
	redact func(string) string
}

func (v *secretValue) String() string     { return v.redact(*v.p) }
func (v *secretValue) Type() string       { return "url" }
func (v *secretValue) Set(s string) error { *v.p = s; return nil }

func (v *secretValue) check() error {
	if msg := v.rule(*v.p); msg != "" {
		return fmt.Errorf("%s (value not shown: it may hold a password)", msg)
	}
	return nil
}

// secretString is a secret as a whole: String shows only whether it is set.
type secretString struct{ p *string }

func (v *secretString) Type() string       { return "secret" }
func (v *secretString) Set(s string) error { *v.p = s; return nil }
func (v *secretString) check() error       { return nil }

func (v *secretString) String() string {
	if *v.p == "" {
		return ""
	}
	return RedactedPassword
}

// listenValue is a host:port, or empty to disable; "off" also disables.
type listenValue struct{ p *string }

func (v *listenValue) Type() string { return "string" }

func (v *listenValue) String() string {
	if *v.p == "" {
		return Off
	}
	return *v.p
}

func (v *listenValue) Set(s string) error {
	if s == Off {
		s = ""
	}
	if s != "" {
		if msg := HostPort(s); msg != "" {
			return fmt.Errorf("%s or %q, got %q", msg, Off, s)
		}
	}
	*v.p = s
	return nil
}

func (v *listenValue) check() error {
	if *v.p == "" {
		return nil
	}
	if msg := HostPort(*v.p); msg != "" {
		return fmt.Errorf("%s or empty, got %q", msg, *v.p)
	}
	return nil
}

// intValue is an integer within [min, max]; max 0 means no upper bound.
type intValue struct {
	p        *int
	min, max int
}

func (v *intValue) String() string { return strconv.Itoa(*v.p) }
func (v *intValue) Type() string   { return "int" }

func (v *intValue) rule() string {
	switch {
	case v.max > 0:
		return fmt.Sprintf("must be an integer from %d to %d", v.min, v.max)
	case v.min == 1:
		return "must be a positive integer"
	default:
		return fmt.Sprintf("must be an integer of at least %d", v.min)
	}
}

func (v *intValue) ok(n int) bool { return n >= v.min && (v.max == 0 || n <= v.max) }

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || !v.ok(n) {
		return fmt.Errorf("%s, got %q", v.rule(), s)
	}
	*v.p = n
	return nil
}

func (v *intValue) check() error {
	if !v.ok(*v.p) {
		return fmt.Errorf("%s, got %d", v.rule(), *v.p)
	}
	return nil
}

// durationValue is a positive Go duration such as 30s or 1m30s.
type durationValue struct {
	p *time.Duration
	// zeroOff: 0 is allowed, and turns the setting off.
	zeroOff bool
}

const (
	durationRule       = "must be a positive Go duration such as 30s or 1m30s"
	durationOrZeroRule = "must be a Go duration such as 30s or 1m30s, or 0 (off)"
)

func (v *durationValue) String() string { return v.p.String() }
func (v *durationValue) Type() string   { return "duration" }

func (v *durationValue) rule() string {
	if v.zeroOff {
		return durationOrZeroRule
	}
	return durationRule
}

func (v *durationValue) bad(d time.Duration) bool { return d < 0 || (d == 0 && !v.zeroOff) }

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || v.bad(d) {
		return fmt.Errorf("%s, got %q", v.rule(), s)
	}
	*v.p = d
	return nil
}

func (v *durationValue) check() error {
	if v.bad(*v.p) {
		return fmt.Errorf("%s, got %s", v.rule(), *v.p)
	}
	return nil
}

// boolValue is true or false.
type boolValue struct{ p *bool }

func (v *boolValue) String() string   { return strconv.FormatBool(*v.p) }
func (v *boolValue) Type() string     { return "bool" }
func (v *boolValue) IsBoolFlag() bool { return true }
func (v *boolValue) check() error     { return nil }

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("must be true or false, got %q", s)
	}
	*v.p = b
	return nil
}

// NonEmpty is the [Rule] of a value that must hold more than white space.
func NonEmpty(s string) string {
	if strings.TrimSpace(s) == "" {
		return "must not be empty"
	}
	return ""
}

// OneOf returns the [Rule] of a value that must be one of allowed.
func OneOf(allowed ...string) Rule {
	return func(s string) string {
		for _, a := range allowed {
			if s == a {
				return ""
			}
		}
		return "must be one of " + strings.Join(allowed, ", ")
	}
}

// HostPort is the [Rule] of a host:port with a port from 1 to 65535; the host
// may be empty (all interfaces).
func HostPort(s string) string {
	const msg = "must be host:port with a port from 1 to 65535"
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return msg
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return msg
	}
	return ""
}

// RedactedPassword replaces a password in redacted values.
const RedactedPassword = "xxxxx"

// unparsable stands for a URL that cannot be parsed, hence cannot be redacted.
const unparsable = "(unparsable, not shown)"

// RedactURL returns the URL with its password, and any query parameter whose
// name holds "password", replaced by [RedactedPassword]; a URL that cannot be
// parsed is not shown at all.
func RedactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return unparsable
	}
	q := u.Query()
	changed := false
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, RedactedPassword)
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
