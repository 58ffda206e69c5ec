// Package policyfile reads a Senlin health policy spec from a file or
// standard input, bounded, and turns it into a cluster's registration, with
// every problem of the file named by its field: the one way the command-line
// tools read a policy.
package policyfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/clusterhealth/healthd/internal/health"
)

// MaxSize bounds a policy (or scenario) file: real specs are a few hundred
// bytes.
const MaxSize = 1 << 20

// Error lists every problem of a policy file, one per line with its field
// path.
type Error struct {
	File   string
	Errors []health.FieldError
}

func (e *Error) Error() string {
	var b strings.Builder
	problems := "problems"
	if len(e.Errors) == 1 {
		problems = "problem"
	}
	fmt.Fprintf(&b, "policy %s is not valid (%d %s):", e.File, len(e.Errors), problems)
	for _, fe := range e.Errors {
		b.WriteString("\n  " + fe.Error())
	}
	return b.String()
}

// Read reads the file, or stdin when file is "-", refusing one larger than
// MaxSize.
func Read(stdin io.Reader, file string) ([]byte, error) {
	r := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read policy: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read policy %s: %w", file, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("read policy %s: larger than %d bytes; is it the right file?", file, MaxSize)
	}
	return data, nil
}

// Load reads, parses and validates the policy file against the interval
// limits and makes it the registration of clusterID. A policy that breaks
// rules is an *Error naming each.
func Load(stdin io.Reader, file, clusterID string, lim health.Limits) (health.Registration, error) {
	data, err := Read(stdin, file)
	if err != nil {
		return health.Registration{}, err
	}
	pol, err := health.ParsePolicy(data, lim)
	var ve *health.ValidationError
	switch {
	case errors.As(err, &ve):
		return health.Registration{}, &Error{File: file, Errors: ve.Errors}
	case err != nil:
		return health.Registration{}, fmt.Errorf("policy %s: %w", file, err)
	}
	return pol.Registration(clusterID), nil
}
