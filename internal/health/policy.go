package health

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits are the configured bounds a health policy is validated against, in
// seconds (Senlin's health_check_interval_min and check_interval_max).
type Limits struct {
	// IntervalMin is the smallest accepted detection.interval; equality passes.
	IntervalMin int
	// IntervalMax caps the interval of polling rounds; it is copied into each
	// Registration and never rejects a policy. 0 means no cap.
	IntervalMax int
}

// DefaultLimits are Senlin's defaults: health_check_interval_min 60 and
// check_interval_max 3600.
var DefaultLimits = Limits{IntervalMin: 60, IntervalMax: 3600}

// Spec identity and defaults (Senlin's health policy schema).
const (
	policyTypeName = "senlin.policy.health"

	defaultInterval          = 60
	defaultNodeUpdateTimeout = 300
	defaultNodeDeleteTimeout = 20
	defaultRetryLimit        = 3
	defaultRetryInterval     = 3

	// maxSeconds bounds every duration and count of a policy so that the
	// time.Duration values derived from them cannot overflow.
	maxSeconds = math.MaxInt32

	fencingCompute = "COMPUTE"
)

// Bounds of what a policy's author writes: it is copied into the
// workflow's input, every round's activity input and the status.
const (
	// MaxPollURLBytes bounds poll_url.
	MaxPollURLBytes = 2048
	// MaxPatternBytes bounds poll_url_healthy_response.
	MaxPatternBytes = 1024
	// MaxParamsBytes bounds the recovery action's params, as JSON.
	MaxParamsBytes = 4096
)

var (
	policyVersions    = []string{"1.0", "1.1", "1.2"}
	policyConditional = []string{string(AllFailed), string(AnyFailed)}
	policyDetection   = []string{
		string(LifecycleEvents), string(NodeStatusPolling),
		string(NodeStatusPollURL), string(HypervisorStatusPolling),
	}
	policyOperations = []string{string(OpReboot), string(OpRebuild), string(OpRecreate)}
	policyFencing    = []string{fencingCompute}
)

// Paths of the spec items checked both when parsing and when re-validating a
// Registration, so that both report the same paths.
const (
	pathVersion           = "version"
	pathDetection         = "properties.detection"
	pathInterval          = pathDetection + ".interval"
	pathNodeUpdateTimeout = pathDetection + ".node_update_timeout"
	pathConditional       = pathDetection + ".recovery_conditional"
	pathModes             = pathDetection + ".detection_modes"
	pathRecovery          = "properties.recovery"
	pathActions           = pathRecovery + ".actions"
	pathFencing           = pathRecovery + ".fencing"
	pathNodeDeleteTimeout = pathRecovery + ".node_delete_timeout"
	// pathExtension is healthd's own section beside Senlin's detection and
	// recovery; Senlin's policies have none and get its defaults.
	pathExtension    = "properties.healthd"
	pathWaitTimeout  = pathExtension + ".recovery_wait_timeout"
	pathMaxUnhealthy = pathExtension + ".max_unhealthy"
	pathBudget       = pathExtension + ".budget"
	pathEscalation   = pathExtension + ".escalation"
	pathFlap         = pathExtension + ".flap"
	pathApproval     = pathExtension + ".approval"
	pathClusterID    = "cluster_id"
	pathIntervalMax  = "check_interval_max"
)

// FieldError is one problem with one item of a health policy.
type FieldError struct {
	// Path locates the item, e.g.
	// properties.detection.detection_modes[1].options.poll_url_retry_limit.
	// It is empty for problems with the document as a whole.
	Path string
	// Rule says what is wrong and, where it helps, what is accepted.
	Rule string
}

// Error returns "<path>: <rule>", or the rule alone when there is no path.
func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Rule
	}
	return e.Path + ": " + e.Rule
}

// ValidationError reports every problem found in a health policy, in the
// order of the spec's schema (detection before recovery, list items by
// index). ParsePolicy and Registration.Validate return it as
// *ValidationError.
type ValidationError struct {
	Errors []FieldError
}

// Error lists the problems, one per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the individual problems to errors.Is and errors.As.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, fe := range e.Errors {
		errs[i] = fe
	}
	return errs
}

// Policy is a parsed and validated Senlin health policy spec
// (type senlin.policy.health) with every default filled in.
type Policy struct {
	// Version is the spec version: "1.0", "1.1" or "1.2" (same schema).
	Version string
	// Interval is detection.interval in seconds.
	Interval int
	// NodeUpdateTimeout is detection.node_update_timeout in seconds.
	NodeUpdateTimeout int
	// RecoveryConditional is detection.recovery_conditional.
	RecoveryConditional Conditional
	// DetectionModes are the normalised detection modes, in spec order.
	DetectionModes []DetectionMode
	// Recovery is the one recovery action; its Params are JSON-compatible
	// (string keys, float64 numbers) and nil when empty.
	Recovery RecoveryAction
	// Fencing is recovery.fencing, nil when empty. Senlin never uses it.
	Fencing []string
	// NodeDeleteTimeout is recovery.node_delete_timeout in seconds.
	NodeDeleteTimeout int
	// NodeForceRecreate is recovery.node_force_recreate.
	NodeForceRecreate bool
	// Safety is the rest of healthd's section: thresholds, max-unhealthy,
	// caps, budget, escalation, flap quarantine, dry-run, approval, pauses.
	Safety Safety
	// RecoveryWaitTimeout is healthd.recovery_wait_timeout in seconds: how
	// long a recovery may run before it is reported overdue; 0 means
	// node_update_timeout, Senlin's one timeout for both (F-20).
	RecoveryWaitTimeout int
	// Limits are the limits the policy was validated against.
	Limits Limits
}

// Registration turns the policy into the registration of one cluster, with
// IntervalMax taken from the limits the policy was validated against. The
// registration shares no memory with the policy.
func (p Policy) Registration(clusterID string) Registration {
	return Registration{
		ClusterID:           clusterID,
		PolicyVersion:       p.Version,
		Interval:            p.Interval,
		IntervalMax:         p.Limits.IntervalMax,
		NodeUpdateTimeout:   p.NodeUpdateTimeout,
		RecoveryConditional: p.RecoveryConditional,
		DetectionModes:      slices.Clone(p.DetectionModes),
		Recovery: RecoveryAction{
			Name:   p.Recovery.Name,
			Params: cloneParams(p.Recovery.Params),
		},
		Fencing:           slices.Clone(p.Fencing),
		NodeDeleteTimeout: p.NodeDeleteTimeout,
		NodeForceRecreate: p.NodeForceRecreate,
		WaitTimeout:       p.RecoveryWaitTimeout,
		Safety:            p.Safety.clone(),
	}
}

// ParsePolicy parses a Senlin health policy spec, YAML or JSON, validates it
// against lim and fills in Senlin's defaults. The document must hold type
// (senlin.policy.health), version (1.0, 1.1 or 1.2, all the same schema) and
// properties; an optional description is ignored; any other key is rejected,
// at every level. It reports every problem of the spec at once in a
// *ValidationError.
//
// On top of Senlin's own rules it rejects what Senlin accepts but cannot
// monitor: empty or missing detection_modes or recovery actions, two modes of
// one type, a NODE_STATUS_POLL_URL mode without a usable http(s) poll_url, a
// healthy-response pattern that is not a valid Go (RE2) regular expression,
// negative durations and counts, and an interval of 0.
func ParsePolicy(data []byte, lim Limits) (Policy, error) {
	root, err := decodeSpec(data)
	if err != nil {
		return Policy{}, &ValidationError{Errors: []FieldError{{Rule: err.Error()}}}
	}
	sp := newSpecParser()
	pol := sp.policy(root)
	pol.Limits = lim
	errs := append(sp.errs, checkRegistration(pol.Registration(""), lim, sp.bad)...)
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b FieldError) int { return comparePaths(a.Path, b.Path) })
		return Policy{}, &ValidationError{Errors: errs}
	}
	return pol, nil
}

// Validate re-validates a normalised registration (for example one received in
// an update) with the rules ParsePolicy applies, reporting problems with the
// same spec paths in a *ValidationError. It also requires a cluster ID that
// passes CheckClusterID.
func (r Registration) Validate(lim Limits) error {
	var errs []FieldError
	switch {
	case r.ClusterID == "":
		errs = append(errs, FieldError{pathClusterID, "Required spec item 'cluster_id' not provided"})
	default:
		var fe FieldError
		if errors.As(CheckClusterID(r.ClusterID), &fe) {
			errs = append(errs, fe)
		}
	}
	errs = append(errs, checkRegistration(r, lim, nil)...)
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b FieldError) int { return comparePaths(a.Path, b.Path) })
		return &ValidationError{Errors: errs}
	}
	return nil
}

// Summary describes the registration in one line for logs and the Temporal
// UI, e.g. "NODE_STATUS_POLL_URL every 60s, grace 300s, RECREATE".
func (r Registration) Summary() string {
	var b strings.Builder
	if len(r.DetectionModes) == 0 {
		b.WriteString("no detection modes")
	}
	for i, m := range r.DetectionModes {
		if i > 0 {
			b.WriteString("+")
		}
		b.WriteString(string(m.Type))
	}
	if len(r.DetectionModes) > 1 {
		fmt.Fprintf(&b, " (%s)", r.RecoveryConditional)
	}
	if r.Polling() {
		fmt.Fprintf(&b, " every %ds", int(r.RoundInterval().Seconds()))
		if r.IntervalMax > 0 && r.Interval > r.IntervalMax {
			fmt.Fprintf(&b, " (capped from %ds)", r.Interval)
		}
	}
	fmt.Fprintf(&b, ", grace %ds, ", r.NodeUpdateTimeout)
	if r.Recovery.Name == "" {
		b.WriteString("no recovery action")
	} else {
		b.WriteString(string(r.Recovery.Name))
	}
	if r.Recovery.Name == OpRecreate && r.NodeForceRecreate {
		b.WriteString(" (force)")
	}
	return b.String()
}

// checkRegistration applies the rules that hold for a normalised registration,
// whether it was just parsed or arrived later. bad reports paths whose value
// could not be parsed: their rules are skipped so that one mistake is reported
// once. A nil bad skips nothing.
func checkRegistration(r Registration, lim Limits, bad func(string) bool) []FieldError {
	if bad == nil {
		bad = func(string) bool { return false }
	}
	var errs []FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Rule: fmt.Sprintf(format, args...)})
	}
	seconds := func(path string, v int) {
		if bad(path) {
			return
		}
		switch {
		case v < 0:
			add(path, "The value '%d' must not be negative", v)
		case v > maxSeconds:
			add(path, "The value '%d' is out of range (0 to %d)", v, maxSeconds)
		}
	}

	if r.PolicyVersion != "" && !bad(pathVersion) && !slices.Contains(policyVersions, r.PolicyVersion) {
		add(pathVersion, "%s", allowedRule(r.PolicyVersion, policyVersions))
	}
	if r.IntervalMax < 0 {
		add(pathIntervalMax, "The value '%d' must not be negative (0 means no cap)", r.IntervalMax)
	}

	// Detection.
	if !bad(pathInterval) {
		switch {
		case r.Interval < lim.IntervalMin && lim.IntervalMin > 0:
			add(pathInterval, "Specified interval of %d seconds has to be larger than "+
				"health_check_interval_min of %d seconds set in configuration.", r.Interval, lim.IntervalMin)
		case r.Interval <= 0:
			add(pathInterval, "Specified interval of %d seconds has to be larger than 0.", r.Interval)
		case r.Interval > maxSeconds:
			add(pathInterval, "The value '%d' is out of range (1 to %d)", r.Interval, maxSeconds)
		}
	}
	seconds(pathNodeUpdateTimeout, r.NodeUpdateTimeout)
	if !bad(pathConditional) && !slices.Contains(policyConditional, string(r.RecoveryConditional)) {
		add(pathConditional, "%s", allowedRule(string(r.RecoveryConditional), policyConditional))
	}
	errs = append(errs, checkModes(r.DetectionModes, bad)...)
	if !bad(pathInterval) && r.Interval > 0 {
		for i, m := range r.DetectionModes {
			opts := specIndex(pathModes, i) + ".options"
			if m.Type != NodeStatusPollURL || bad(opts+".poll_url_retry_interval") || bad(opts+".poll_url_retry_limit") {
				continue
			}
			// A retry schedule longer than the interval stalls rounds:
			// each round waits for the last one's retries.
			if span := m.RetrySpan(); span >= r.RoundInterval() {
				add(opts+".poll_url_retry_interval", "The retries (%d more attempts %ds apart) and one request's timeout (%s) take %s, "+
					"which must be less than the interval of %ds: lower poll_url_retry_interval or poll_url_retry_limit, or raise the interval",
					m.Attempts()-1, m.PollURLRetryInterval, m.RequestTimeout(), span, int(r.RoundInterval()/time.Second))
			}
		}
	}

	// Recovery.
	namePath := specIndex(pathActions, 0) + ".name"
	switch {
	case bad(namePath):
	case r.Recovery.Name == "":
		add(namePath, "Required spec item 'name' not provided: use one of %s", strings.Join(policyOperations, ", "))
	case !slices.Contains(policyOperations, string(r.Recovery.Name)):
		add(namePath, "%s", allowedRule(string(r.Recovery.Name), policyOperations))
	}
	if paramsPath := specIndex(pathActions, 0) + ".params"; !bad(paramsPath) {
		valid := true
		for k, v := range r.Recovery.Params {
			if err := checkJSONValue(v); err != nil || !utf8.ValidString(k) {
				add(paramsPath, "must hold only JSON values (strings, numbers, booleans, null, lists, maps)")
				valid = false
				break
			}
		}
		if b, err := json.Marshal(r.Recovery.Params); valid && err == nil && len(b) > MaxParamsBytes {
			add(paramsPath, "must be at most %d bytes as JSON, got %d", MaxParamsBytes, len(b))
		}
	}
	for i, f := range r.Fencing {
		if p := specIndex(pathFencing, i); !bad(p) && !slices.Contains(policyFencing, f) {
			add(p, "%s", allowedRule(f, policyFencing))
		}
	}
	seconds(pathNodeDeleteTimeout, r.NodeDeleteTimeout)
	seconds(pathWaitTimeout, r.WaitTimeout)
	errs = append(errs, checkSafety(r.Safety, bad)...)
	return errs
}

// checkModes applies the per-mode rules and Senlin's rules on the list.
func checkModes(modes []DetectionMode, bad func(string) bool) []FieldError {
	var errs []FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Rule: fmt.Sprintf(format, args...)})
	}
	if bad(pathModes) {
		return nil
	}
	if len(modes) == 0 {
		add(pathModes, "At least one detection mode is required: use %s", strings.Join(policyDetection, ", "))
		return errs
	}

	typesKnown := true
	for i, m := range modes {
		path := specIndex(pathModes, i)
		if bad(path + ".type") {
			typesKnown = false
		} else if !slices.Contains(policyDetection, string(m.Type)) {
			typesKnown = false
			add(path+".type", "%s", allowedRule(string(m.Type), policyDetection))
		}
		opts := path + ".options"
		for _, c := range []struct {
			key string
			v   int
		}{
			{"poll_url_retry_limit", m.PollURLRetryLimit},
			{"poll_url_retry_interval", m.PollURLRetryInterval},
		} {
			if p := opts + "." + c.key; !bad(p) {
				switch {
				case c.v < 0:
					add(p, "The value '%d' must not be negative", c.v)
				case c.v > maxSeconds:
					add(p, "The value '%d' is out of range (0 to %d)", c.v, maxSeconds)
				}
			}
		}
		if m.Type == NodeStatusPollURL {
			if p := opts + ".poll_url"; !bad(p) {
				if rule := pollURLRule(m); rule != "" {
					add(p, "%s", rule)
				}
			}
			if p := opts + ".poll_url_healthy_response"; !bad(p) {
				if rule := patternRule(m.PollURLHealthyResponse); rule != "" {
					add(p, "%s", rule)
				}
			}
		}
	}
	if !typesKnown {
		return errs
	}

	types := make([]string, len(modes))
	polling := true
	for i, m := range modes {
		types[i] = string(m.Type)
		polling = polling && m.Type.IsPolling()
	}
	if !polling && (len(modes) != 1 || modes[0].Type != LifecycleEvents) {
		add(pathModes, "Invalid detection modes in health policy: %s "+
			"(LIFECYCLE_EVENTS must be the only mode; polling modes can be combined)", strings.Join(types, ", "))
	}

	// Senlin rejects identical modes only; a second mode of a type with other
	// options passes its validation and then breaks registration, so it is
	// rejected here too. Modes whose options did not parse cannot be compared.
	canCompare := !badUnder(bad, pathModes, len(modes))
	identical := false
	for i := range modes {
		for j := range i {
			if modes[j].Type != modes[i].Type {
				continue
			}
			if canCompare && modes[j] == modes[i] {
				identical = true
			} else {
				add(specIndex(pathModes, i)+".type", "Detection type %s is already used by detection_modes[%d]; "+
					"each type may appear only once, so merge their options into one mode", modes[i].Type, j)
			}
			break
		}
	}
	if identical {
		add(pathModes, "Duplicate detection modes are not allowed in health policy: %s", strings.Join(types, ", "))
	}
	return errs
}

// badUnder reports whether any option of the n modes failed to parse.
func badUnder(bad func(string) bool, modesPath string, n int) bool {
	for i := range n {
		opts := specIndex(modesPath, i) + ".options"
		for _, k := range specOptionKeys {
			if bad(opts + "." + k) {
				return true
			}
		}
	}
	return false
}

// pollURLRule checks the poll URL of a NODE_STATUS_POLL_URL mode. Senlin turns
// every problem caught here into a connection error at check time, which by
// default makes every ACTIVE node look unhealthy.
func pollURLRule(m DetectionMode) string {
	if m.PollURL == "" {
		return "Required spec item 'poll_url' not provided: NODE_STATUS_POLL_URL needs an http or https URL " +
			"(with an optional {nodename} placeholder)"
	}
	if len(m.PollURL) > MaxPollURLBytes {
		return fmt.Sprintf("must be at most %d bytes, got %d", MaxPollURLBytes, len(m.PollURL))
	}
	if !utf8.ValidString(m.PollURL) {
		return "must be valid UTF-8 text"
	}
	u, err := url.Parse(strings.ReplaceAll(m.PollURL, NodeNamePlaceholder, "node-1"))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Sprintf("The value '%s' is not a valid URL once {nodename} is expanded: %v", specShow(m.PollURL), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("The value '%s' must be an http or https URL", specShow(m.PollURL))
	}
	if u.Host == "" {
		return fmt.Sprintf("The value '%s' has no host", specShow(m.PollURL))
	}
	if _, err := m.URLFor("node-1"); err != nil {
		return fmt.Sprintf("The value '%s' cannot take a node name: %v", specShow(m.PollURL), err)
	}
	return ""
}

// patternRule checks a healthy-response pattern: Senlin searches bodies with
// Python's re, here it is Go's RE2 syntax.
func patternRule(pattern string) string {
	if !utf8.ValidString(pattern) {
		return "must be valid UTF-8 text"
	}
	if len(pattern) > MaxPatternBytes {
		return fmt.Sprintf("must be at most %d bytes, got %d", MaxPatternBytes, len(pattern))
	}
	if _, err := regexp.Compile(pattern); err != nil {
		var se *syntax.Error
		detail := err.Error()
		if errors.As(err, &se) {
			detail = string(se.Code)
			if se.Expr != "" && se.Expr != pattern {
				detail += " in '" + specShow(se.Expr) + "'"
			}
		}
		return fmt.Sprintf("The value '%s' is not a valid regular expression (Go RE2 syntax): %s", specShow(pattern), detail)
	}
	return ""
}

// checkJSONValue reports a params value that encoding/json cannot represent
// faithfully.
func checkJSONValue(v any) error {
	switch v := v.(type) {
	case nil, bool,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return errors.New("not a finite number")
		}
		return nil
	case float32:
		return checkJSONValue(float64(v))
	case string:
		if !utf8.ValidString(v) {
			return errors.New("not UTF-8")
		}
		return nil
	case []any:
		for _, e := range v {
			if err := checkJSONValue(e); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		for k, e := range v {
			if !utf8.ValidString(k) {
				return errors.New("not UTF-8")
			}
			if err := checkJSONValue(e); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unsupported type %T", v)
}

// cloneParams deep-copies action params; nil and empty give nil.
func cloneParams(p map[string]any) map[string]any {
	if len(p) == 0 {
		return nil
	}
	return cloneJSONValue(p).(map[string]any)
}

func cloneJSONValue(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneJSONValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = cloneJSONValue(e)
		}
		return out
	}
	return v
}

// allowedRule is Senlin's allowed-values message.
func allowedRule(v string, allowed []string) string {
	return fmt.Sprintf("'%s' must be one of the allowed values: %s", specShow(v), strings.Join(allowed, ", "))
}

// specShow makes a user-supplied value safe to quote in a one-line message:
// control characters escaped, long values shortened.
func specShow(v string) string {
	const maxRunes = 64
	if utf8.RuneCountInString(v) > maxRunes {
		v = string([]rune(v)[:maxRunes]) + "..."
	}
	printable := true
	for _, r := range v {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			printable = false
			break
		}
	}
	if printable {
		return v
	}
	q := strconv.Quote(v)
	return strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`)
}

// specField appends a map key to a path; keys that are not plain words are
// quoted so that paths stay unambiguous.
func specField(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	if !plain {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// specIndex appends a list index to a path.
func specIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// specKeyRank orders the keys of a spec as Senlin's schema lists them.
var specKeyRank = func() map[string]int {
	keys := []string{
		"cluster_id", "type", "version", "description", "check_interval_max", "properties",
		"detection", "interval", "node_update_timeout", "recovery_conditional", "detection_modes",
		"options", "poll_url", "poll_url_ssl_verify", "poll_url_conn_error_as_unhealthy",
		"poll_url_healthy_response", "poll_url_retry_limit", "poll_url_retry_interval",
		"recovery", "actions", "name", "params", "fencing", "node_delete_timeout", "node_force_recreate",
	}
	rank := make(map[string]int, len(keys))
	for i, k := range keys {
		rank[k] = i
	}
	return rank
}()

// comparePaths orders paths by their place in a spec: known keys in schema
// order, then other keys by name; list items by index; parents first.
func comparePaths(a, b string) int {
	for {
		ta, ra := nextPathToken(a)
		tb, rb := nextPathToken(b)
		switch {
		case ta == "" && tb == "":
			return 0
		case ta == "":
			return -1
		case tb == "":
			return 1
		}
		if c := comparePathTokens(ta, tb); c != 0 {
			return c
		}
		a, b = ra, rb
	}
}

func comparePathTokens(a, b string) int {
	ia, errA := strconv.Atoi(a)
	ib, errB := strconv.Atoi(b)
	switch {
	case errA == nil && errB == nil:
		return ia - ib
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	ka, knownA := specKeyRank[a]
	kb, knownB := specKeyRank[b]
	switch {
	case knownA && knownB:
		return ka - kb
	case knownA:
		return -1
	case knownB:
		return 1
	}
	return strings.Compare(a, b)
}

// nextPathToken splits the first key or index off a path built by specField
// and specIndex. Indices come back as digits, quoted keys still quoted.
func nextPathToken(path string) (token, rest string) {
	path = strings.TrimPrefix(path, ".")
	if path == "" {
		return "", ""
	}
	if path[0] == '[' {
		if q, err := strconv.QuotedPrefix(path[1:]); err == nil {
			return q, strings.TrimPrefix(path[1+len(q):], "]")
		}
		if end := strings.IndexByte(path, ']'); end > 0 {
			return path[1:end], path[end+1:]
		}
		return path, ""
	}
	if end := strings.IndexAny(path, ".["); end > 0 {
		return path[:end], path[end:]
	}
	return path, ""
}
