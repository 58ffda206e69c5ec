// Package config reads the settings of the healthd processes from the
// environment and the command line. It holds the machinery only: each package
// that needs settings owns a section, a struct with its defaults that lists
// its settings bound to its fields ([Section]) and the rules that relate them
// ([Checker]). A process loads the sections of what it runs:
//
//	cfg := bridge.DefaultConfig()            // defaults, in the section's package
//	err := config.Load(os.Getenv, &cfg)      // then the environment
//	config.RegisterFlags(fs, &cfg)           // flag defaults are the loaded values
//	fs.Parse(os.Args[1:])
//	err = config.Validate(&cfg)              // every problem at once
//
// Secrets (the passwords in DATABASE_URL and AMQP_URL, the webhook signing
// key ENGINE_WEBHOOK_SECRET) never appear in errors, in flag help or in
// [Redacted]; log the result of Redacted, never the fields.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// Off is the value of a [ListenAddr] setting (METRICS_ADDR) that disables the
// listener; an empty flag value does the same. An empty environment variable
// cannot, because it reads the same as an unset one.
const Off = "off"

// Section is the configuration of one package: a struct whose Settings bind
// each setting to one of its fields. Pass a pointer, so that loading and flags
// write to the struct.
type Section interface {
	// Settings lists the section's settings, bound to its fields.
	Settings() []Setting
}

// Checker is a Section with rules that relate two or more of its settings.
type Checker interface {
	Section
	// Check reports each broken rule as a FieldError; the rule of each single
	// setting is checked by Validate before.
	Check() []*FieldError
}

// Load overrides the sections' values (their defaults) with the environment
// read through getenv (os.Getenv in a main, a map lookup in tests); an empty
// variable counts as unset. The error joins one [*FieldError] per problem, all
// of them at once. A value that could not be parsed keeps its default.
func Load(getenv func(string) string, sections ...Section) error {
	var errs []error
	failed := make(map[string]bool)
	for _, s := range settings(sections) {
		raw := getenv(s.env)
		if file := getenv(s.env + FileSuffix); file != "" && isSecret(s.value) {
			v, err := readSecretFile(s.env, raw, file)
			if err != nil {
				errs = append(errs, &FieldError{Var: s.env + FileSuffix, Rule: err.Error()})
				failed[s.env] = true
				continue
			}
			raw = v
		}
		if raw == "" {
			continue
		}
		if err := s.value.Set(raw); err != nil {
			errs = append(errs, &FieldError{Var: s.env, Rule: err.Error()})
			failed[s.env] = true
		}
	}
	for _, err := range problems(sections) {
		if !failed[err.Var] {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Validate reports every invalid setting of the sections at once, joined, one
// [*FieldError] each. Call it again after parsing flags registered by
// [RegisterFlags].
func Validate(sections ...Section) error {
	var errs []error
	for _, err := range problems(sections) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// FileSuffix names the variable that gives a secret setting in a file:
// DATABASE_URL_FILE holds DATABASE_URL, so that the secret is neither in
// the environment of the process nor on its command line.
const FileSuffix = "_FILE"

func isSecret(v value) bool {
	switch v.(type) {
	case *secretValue, *secretString:
		return true
	}
	return false
}

// readSecretFile reads a secret setting's file (one trailing line break
// dropped); its errors never quote the file's content.
func readSecretFile(env, direct, file string) (string, error) {
	if direct != "" {
		return "", fmt.Errorf("is set with %s: set one of them", env)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("cannot read %s: %v", file, err)
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if strings.TrimSpace(v) == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return v, nil
}

// settings lists the settings of every section, in order.
func settings(sections []Section) []Setting {
	var all []Setting
	for _, s := range sections {
		all = append(all, s.Settings()...)
	}
	return all
}

// problems checks every setting, then each section's rules that relate two
// settings.
func problems(sections []Section) []*FieldError {
	var errs []*FieldError
	for _, s := range settings(sections) {
		if err := s.value.check(); err != nil {
			errs = append(errs, &FieldError{Var: s.env, Rule: err.Error()})
		}
	}
	for _, s := range sections {
		if c, ok := s.(Checker); ok {
			errs = append(errs, c.Check()...)
		}
	}
	return errs
}

// RegisterFlags adds one flag per setting of the sections to fs, named after
// the environment variable in kebab case (TEMPORAL_ADDRESS is
// --temporal-address). Each flag writes to its section and defaults to the
// current value, so call it after [Load]: flags then override the
// environment. Call [Validate] after parsing.
func RegisterFlags(fs *pflag.FlagSet, sections ...Section) {
	for _, s := range settings(sections) {
		usage := s.usage + " (env " + s.env + ")"
		if isSecret(s.value) {
			usage = s.usage + " (env " + s.env + ", or " + s.env + FileSuffix + ": a file holding it; a flag shows it in the process list)"
		}
		f := fs.VarPF(s.value, FlagName(s.env), "", usage)
		if _, ok := s.value.(*boolValue); ok {
			f.NoOptDefVal = "true"
		}
	}
}

// FlagName returns the flag name of an environment variable:
// HEALTH_CHECK_INTERVAL_MIN is health-check-interval-min.
func FlagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(env), "_", "-")
}

// Redacted returns every setting of the sections by environment variable
// name, safe to log: passwords and [Secret] values are replaced by
// [RedactedPassword], and a URL that cannot be parsed is not shown at all.
func Redacted(sections ...Section) map[string]string {
	m := make(map[string]string)
	for _, s := range settings(sections) {
		m[s.env] = s.value.String()
	}
	return m
}

// FieldError is one invalid setting: the environment variable and the rule it
// breaks (with the offending value, unless the value may hold a secret).
type FieldError struct {
	// Var is the environment variable, for example HEALTH_CHECK_INTERVAL_MIN;
	// for a field that no variable sets (a library caller's), the field name.
	Var string
	// Rule says what the value must be and, for non-secret settings, what it was.
	Rule string
}

// Error returns "VAR: rule".
func (e *FieldError) Error() string { return e.Var + ": " + e.Rule }

// FieldErrors returns the FieldErrors joined in err (by [Load] or
// [Validate]), in order; nil for a nil err.
func FieldErrors(err error) []*FieldError {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []*FieldError
	for _, e := range errs {
		var fe *FieldError
		if errors.As(e, &fe) {
			out = append(out, fe)
		}
	}
	return out
}
