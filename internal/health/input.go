package health

import (
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Bounds on what callers hand the workflow: identifiers, free text and
// pauses. They keep a workflow ID, a Postgres row, a log line and a Temporal
// payload of sane size whoever sent the value.
const (
	// MaxClusterIDLen is the longest cluster ID, in bytes (all ASCII).
	MaxClusterIDLen = 128
	// MaxIDBytes bounds a node ID and the other identifiers of a request
	// (physical_id, message_id, project, publisher, source, requester,
	// timestamp), in bytes.
	MaxIDBytes = 256
	// MaxTextBytes bounds free text (a recover signal's event and state, a
	// reason), in bytes.
	MaxTextBytes = 1024
	// MaxPauseSeconds bounds a requested pause or maintenance: 366 days.
	MaxPauseSeconds = 366 * 24 * 60 * 60
)

// ClusterIDRule says what a valid cluster ID is, for error messages and
// documentation.
const ClusterIDRule = "1 to 128 ASCII letters, digits, '-', '_', '.' or ':', starting with a letter or a digit"

// CheckClusterID checks a cluster ID against ClusterIDRule: the one rule for
// every way in (the starter's --cluster, healthclient, Registration.Validate,
// the signal bridge). Such an ID needs no escaping in a workflow ID, a
// search attribute, an SQL parameter, a metrics label or a log line. The
// error is a FieldError at path cluster_id.
func CheckClusterID(id string) error {
	rule := func(format string, args ...any) error {
		return FieldError{Path: pathClusterID, Rule: fmt.Sprintf(format, args...) + "; a cluster ID is " + ClusterIDRule}
	}
	switch {
	case id == "":
		return rule("required")
	case len(id) > MaxClusterIDLen:
		return rule("%s is %d bytes long", quoteCut(id, 32), len(id))
	case !utf8.ValidString(id):
		return rule("%s is not valid UTF-8", quoteCut(id, 32))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if asciiAlnum(c) || i > 0 && (c == '-' || c == '_' || c == '.' || c == ':') {
			continue
		}
		r, _ := utf8.DecodeRuneInString(id[i:])
		return rule("%s holds %s at byte %d", quoteCut(id, 32), strconv.QuoteRune(r), i)
	}
	return nil
}

func asciiAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// CheckID checks an identifier at path (node_id, physical_id, ...): at most
// MaxIDBytes of valid UTF-8 without control characters; required says
// whether it may be empty (a blank one never is acceptable then).
func CheckID(path, v string, required bool) error {
	if required && isBlank(v) {
		return FieldError{Path: path, Rule: "required"}
	}
	return checkString(path, v, MaxIDBytes, false)
}

// CheckText checks free text at path (a reason, an event): at most
// MaxTextBytes of valid UTF-8; line breaks and tabs are allowed, other
// control characters are not.
func CheckText(path, v string) error {
	return checkString(path, v, MaxTextBytes, true)
}

// CheckPauseSeconds checks the length of a requested pause at path: 0 (none
// given) to MaxPauseSeconds.
func CheckPauseSeconds(path string, v int) error {
	if v < 0 || v > MaxPauseSeconds {
		return FieldError{Path: path, Rule: fmt.Sprintf("must be from 0 to %d (366 days), got %d", MaxPauseSeconds, v)}
	}
	return nil
}

func checkString(path, v string, maxBytes int, text bool) error {
	switch {
	case len(v) > maxBytes:
		return FieldError{Path: path, Rule: fmt.Sprintf("is %d bytes long, more than the %d allowed", len(v), maxBytes)}
	case !utf8.ValidString(v):
		return FieldError{Path: path, Rule: "must be valid UTF-8 text"}
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(text && (r == '\n' || r == '\r' || r == '\t')) {
			return FieldError{Path: path, Rule: fmt.Sprintf("must not hold the control character %s", strconv.QuoteRune(r))}
		}
	}
	return nil
}

func isBlank(s string) bool {
	for _, r := range s {
		if !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// quoteCut quotes a value for an error message, cut to its first maxBytes
// bytes (and marked "...") when longer.
func quoteCut(v string, maxBytes int) string {
	if len(v) <= maxBytes {
		return strconv.Quote(v)
	}
	cut := maxBytes
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return strconv.Quote(v[:cut]) + "..."
}

// Validate checks a recover signal before it is sent: node_id is required,
// identifiers are at most MaxIDBytes and event and state at most
// MaxTextBytes, all valid UTF-8. Every problem is reported, each a
// FieldError named by the JSON field, joined with errors.Join.
func (s RecoverSignal) Validate() error {
	errs := []error{CheckID("node_id", s.NodeID, true)}
	for _, f := range []struct{ path, v string }{
		{"physical_id", s.PhysicalID}, {"publisher", s.Publisher}, {"timestamp", s.Timestamp},
		{"message_id", s.MessageID}, {"project", s.Project}, {"source", s.Source},
	} {
		errs = append(errs, CheckID(f.path, f.v, false))
	}
	errs = append(errs, CheckText("event", s.Event), CheckText("state", s.State))
	return errors.Join(errs...)
}
