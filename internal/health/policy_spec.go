package health

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// specOptionKeys are the keys of a detection mode's options, in Senlin's order.
var specOptionKeys = []string{
	"poll_url", "poll_url_ssl_verify", "poll_url_conn_error_as_unhealthy",
	"poll_url_healthy_response", "poll_url_retry_limit", "poll_url_retry_interval",
}

// specBudget bounds the nodes a parse visits, so that YAML aliases and merge
// keys cannot make a small document expand exponentially.
const specBudget = 100_000

// decodeSpec reads one YAML or JSON document. Valid JSON goes through
// encoding/json, because YAML does not accept every JSON string escape ("\/").
func decodeSpec(data []byte) (root *yaml.Node, err error) {
	if json.Valid(data) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		return jsonToNode(dec)
	}
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("the policy is not valid YAML or JSON: %s", specShow(fmt.Sprint(r)))
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the policy document is empty")
		}
		return nil, fmt.Errorf("the policy is not valid YAML or JSON: %s", syntaxDetail(err))
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, errors.New("the policy must be a single YAML document")
	case !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("the policy is not valid YAML or JSON: %s", syntaxDetail(err))
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("the policy document is empty")
	}
	return doc.Content[0], nil
}

// syntaxDetail is a parser error on one line, without the "yaml: " prefix.
func syntaxDetail(err error) string {
	return strings.Join(strings.Fields(strings.TrimPrefix(err.Error(), "yaml: ")), " ")
}

// jsonToNode turns the next JSON value of dec (which must use json.Number)
// into the node tree a YAML parser would have built, keeping key order and
// duplicate keys so that both inputs are checked alike.
func jsonToNode(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	scalar := func(tag, v string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v}
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if t == '{' {
			n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		for dec.More() {
			if t == '{' {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := k.(string)
				n.Content = append(n.Content, scalar("!!str", key))
			}
			v, err := jsonToNode(dec)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, v)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return n, nil
	case string:
		return scalar("!!str", t), nil
	case json.Number:
		if strings.ContainsAny(string(t), ".eE") {
			return scalar("!!float", string(t)), nil
		}
		return scalar("!!int", string(t)), nil
	case bool:
		return scalar("!!bool", strconv.FormatBool(t)), nil
	}
	return scalar("!!null", "null"), nil
}

// specParser walks a spec's node tree, applying Senlin's schema: required
// items, defaults, coercions, allowed values and unknown keys. It records
// every problem and carries on with the defaults.
type specParser struct {
	errs      []FieldError
	failed    map[string]bool
	budget    int
	exhausted bool
}

// specEntry is one key and value of a YAML mapping.
type specEntry struct {
	key string
	val *yaml.Node
}

func newSpecParser() *specParser {
	return &specParser{failed: map[string]bool{}, budget: specBudget}
}

func (p *specParser) fail(path, format string, args ...any) {
	p.errs = append(p.errs, FieldError{Path: path, Rule: fmt.Sprintf(format, args...)})
	p.failed[path] = true
}

// bad reports whether path or one of its ancestors could not be parsed.
func (p *specParser) bad(path string) bool {
	if p.failed[""] || p.failed[path] {
		return true
	}
	for i := 0; i < len(path); i++ {
		if (path[i] == '.' || path[i] == '[') && p.failed[path[:i]] {
			return true
		}
	}
	return false
}

// spend takes one node from the budget; false once it is exhausted.
func (p *specParser) spend() bool {
	if p.budget > 0 {
		p.budget--
		return true
	}
	if !p.exhausted {
		p.exhausted = true
		p.fail("", "the policy is too complex: too many nodes, aliases or merge keys")
	}
	return false
}

func (p *specParser) policy(root *yaml.Node) Policy {
	pol := Policy{
		Interval:            defaultInterval,
		NodeUpdateTimeout:   defaultNodeUpdateTimeout,
		RecoveryConditional: AnyFailed,
		NodeDeleteTimeout:   defaultNodeDeleteTimeout,
	}
	if n := specResolve(root); n.Kind != yaml.MappingNode {
		p.fail("", "the policy must be a map with type, version and properties, got %s", specDescribe(n))
		return pol
	}
	top, _ := p.fields(root, "", "type", "version", "description", "properties")
	if n := p.required(top, "", "type"); n != nil {
		p.enum(n, "type", []string{policyTypeName})
	}
	if n := p.required(top, "", "version"); n != nil {
		pol.Version = p.version(n, pathVersion)
	}
	if n := top["description"]; n != nil {
		p.str(n, "description")
	}
	n := p.required(top, "", "properties")
	if n == nil {
		return pol
	}
	props, ok := p.fields(n, "properties", "detection", "recovery", "healthd")
	if !ok {
		return pol
	}
	if n := props["healthd"]; n != nil {
		p.extension(n, &pol)
	}
	if n := p.required(props, "properties", "detection"); n != nil {
		p.detection(n, &pol)
	}
	if n := p.required(props, "properties", "recovery"); n != nil {
		p.recovery(n, &pol)
	}
	return pol
}

func (p *specParser) detection(n *yaml.Node, pol *Policy) {
	d, ok := p.fields(n, pathDetection, "interval", "node_update_timeout", "recovery_conditional", "detection_modes")
	if !ok {
		return
	}
	if v, ok := p.integer(d["interval"], pathInterval); ok {
		pol.Interval = v
	}
	if v, ok := p.integer(d["node_update_timeout"], pathNodeUpdateTimeout); ok {
		pol.NodeUpdateTimeout = v
	}
	if n := d["recovery_conditional"]; n != nil {
		if s, ok := p.enum(n, pathConditional, policyConditional); ok {
			pol.RecoveryConditional = Conditional(s)
		}
	}
	n = p.required(d, pathDetection, "detection_modes")
	if n == nil {
		return
	}
	items, ok := p.list(n, pathModes)
	if !ok {
		return
	}
	pol.DetectionModes = make([]DetectionMode, 0, len(items))
	for i, item := range items {
		pol.DetectionModes = append(pol.DetectionModes, p.mode(item, specIndex(pathModes, i)))
	}
}

func (p *specParser) mode(n *yaml.Node, path string) DetectionMode {
	m := DetectionMode{
		PollURLSSLVerify:            true,
		PollURLConnErrorAsUnhealthy: true,
		PollURLRetryLimit:           defaultRetryLimit,
		PollURLRetryInterval:        defaultRetryInterval,
	}
	f, ok := p.fields(n, path, "type", "options")
	if !ok {
		return m
	}
	if t := p.required(f, path, "type"); t != nil {
		if s, ok := p.enum(t, path+".type", policyDetection); ok {
			m.Type = DetectionType(s)
		}
	}
	path += ".options"
	o := f["options"]
	if o == nil {
		if m.Type == NodeStatusPollURL {
			p.fail(path, "Required spec item 'options' not provided: NODE_STATUS_POLL_URL needs at least 'poll_url'")
		}
		return m
	}
	opts, ok := p.fields(o, path, specOptionKeys...)
	if !ok {
		return m
	}
	if n := opts["poll_url"]; n != nil {
		if s, ok := p.str(n, path+".poll_url"); ok {
			m.PollURL = s
		}
	}
	if v, ok := p.boolean(opts["poll_url_ssl_verify"], path+".poll_url_ssl_verify"); ok {
		m.PollURLSSLVerify = v
	}
	if v, ok := p.boolean(opts["poll_url_conn_error_as_unhealthy"], path+".poll_url_conn_error_as_unhealthy"); ok {
		m.PollURLConnErrorAsUnhealthy = v
	}
	if n := opts["poll_url_healthy_response"]; n != nil {
		if s, ok := p.str(n, path+".poll_url_healthy_response"); ok {
			m.PollURLHealthyResponse = s
		}
	}
	if v, ok := p.integer(opts["poll_url_retry_limit"], path+".poll_url_retry_limit"); ok {
		m.PollURLRetryLimit = v
	}
	if v, ok := p.integer(opts["poll_url_retry_interval"], path+".poll_url_retry_interval"); ok {
		m.PollURLRetryInterval = v
	}
	return m
}

func (p *specParser) recovery(n *yaml.Node, pol *Policy) {
	r, ok := p.fields(n, pathRecovery, "actions", "fencing", "node_delete_timeout", "node_force_recreate")
	if !ok {
		return
	}
	if n := p.required(r, pathRecovery, "actions"); n != nil {
		if items, ok := p.list(n, pathActions); ok {
			switch {
			case len(items) == 0:
				p.fail(pathActions, "At least one recovery action is required: use one of %s",
					strings.Join(policyOperations, ", "))
			case len(items) > 1:
				p.fail(pathActions, "Only one 'actions' is supported for now.")
			}
			for i, item := range items {
				if a := p.action(item, specIndex(pathActions, i)); i == 0 {
					pol.Recovery = a
				}
			}
		}
	}
	if n := r["fencing"]; n != nil {
		if items, ok := p.list(n, pathFencing); ok {
			for i, item := range items {
				if s, ok := p.enum(item, specIndex(pathFencing, i), policyFencing); ok {
					pol.Fencing = append(pol.Fencing, s)
				}
			}
		}
	}
	if v, ok := p.integer(r["node_delete_timeout"], pathNodeDeleteTimeout); ok {
		pol.NodeDeleteTimeout = v
	}
	if v, ok := p.boolean(r["node_force_recreate"], pathRecovery+".node_force_recreate"); ok {
		pol.NodeForceRecreate = v
	}
}

// extension reads healthd's own section of the properties: settings Senlin's
// schema has no place for. Every key is optional.
func (p *specParser) extension(n *yaml.Node, pol *Policy) {
	e, ok := p.fields(n, pathExtension, "recovery_wait_timeout", "failure_threshold", "success_threshold",
		"max_unhealthy", "max_in_flight", "budget", "escalation", "max_failed_recoveries", "flap", "dry_run",
		"approval", "pause_max", "event_settle", "confirm_timeout")
	if !ok {
		return
	}
	s := &pol.Safety
	if v, ok := p.integer(e["recovery_wait_timeout"], pathWaitTimeout); ok {
		pol.RecoveryWaitTimeout = v
	}
	ints := map[string]*int{"failure_threshold": &s.FailureThreshold, "success_threshold": &s.SuccessThreshold,
		"max_in_flight": &s.MaxInFlight, "max_failed_recoveries": &s.MaxFailedRecoveries, "pause_max": &s.PauseMax,
		"confirm_timeout": &s.ConfirmTimeout}
	for key, dst := range ints {
		if v, ok := p.integer(e[key], pathExtension+"."+key); ok {
			*dst = v
		}
	}
	if v, ok := p.integer(e["event_settle"], pathExtension+".event_settle"); ok {
		s.EventSettle = &v
	}
	if n := e["max_unhealthy"]; n != nil {
		if v, ok := p.str(n, pathMaxUnhealthy); ok {
			s.MaxUnhealthy = strings.TrimSpace(v)
		}
	}
	if v, ok := p.boolean(e["dry_run"], pathExtension+".dry_run"); ok {
		s.DryRun = v
	}
	if n := e["budget"]; n != nil {
		if b, ok := p.fields(n, pathBudget, "recoveries", "window"); ok {
			if v, ok := p.integer(b["recoveries"], pathBudget+".recoveries"); ok {
				s.Budget.Recoveries = v
			}
			if v, ok := p.integer(b["window"], pathBudget+".window"); ok {
				s.Budget.Window = v
			}
		}
	}
	if n := e["flap"]; n != nil {
		if f, ok := p.fields(n, pathFlap, "changes", "window", "stable"); ok {
			for key, dst := range map[string]*int{"changes": &s.Flap.Changes, "window": &s.Flap.Window, "stable": &s.Flap.Stable} {
				if v, ok := p.integer(f[key], pathFlap+"."+key); ok {
					*dst = v
				}
			}
		}
	}
	if n := e["escalation"]; n != nil {
		if items, ok := p.list(n, pathEscalation); ok {
			for i, item := range items {
				path := specIndex(pathEscalation, i)
				var step EscalationStep
				if f, ok := p.fields(item, path, "operation", "probation"); ok {
					if n := p.required(f, path, "operation"); n != nil {
						if op, ok := p.enum(n, path+".operation", policyOperations); ok {
							step.Operation = Operation(op)
						}
					}
					if v, ok := p.integer(f["probation"], path+".probation"); ok {
						step.Probation = v
					}
				}
				s.Escalation = append(s.Escalation, step)
			}
		}
	}
	if n := e["approval"]; n != nil {
		if a, ok := p.fields(n, pathApproval, "operations", "timeout", "default"); ok {
			if n := a["operations"]; n != nil {
				if items, ok := p.list(n, pathApproval+".operations"); ok {
					for i, item := range items {
						if op, ok := p.enum(item, specIndex(pathApproval+".operations", i), policyOperations); ok {
							s.Approval.Operations = append(s.Approval.Operations, Operation(op))
						}
					}
				}
			}
			if v, ok := p.integer(a["timeout"], pathApproval+".timeout"); ok {
				s.Approval.Timeout = v
			}
			if n := a["default"]; n != nil {
				if v, ok := p.enum(n, pathApproval+".default", []string{Approve, Deny}); ok {
					s.Approval.Default = v
				}
			}
		}
	}
}

func (p *specParser) action(n *yaml.Node, path string) RecoveryAction {
	var a RecoveryAction
	f, ok := p.fields(n, path, "name", "params")
	if !ok {
		return a
	}
	if n := p.required(f, path, "name"); n != nil {
		if s, ok := p.enum(n, path+".name", policyOperations); ok {
			a.Name = Operation(s)
		}
	}
	if n := f["params"]; n != nil {
		path += ".params"
		if n = specResolve(n); n.Kind != yaml.MappingNode {
			p.fail(path, "must be a map, got %s", specDescribe(n))
		} else if v, ok := p.value(n, path); ok {
			if m := v.(map[string]any); len(m) > 0 {
				a.Params = m
			}
		}
	}
	return a
}

// fields returns the items of a map by key, rejecting unknown keys. Null
// values count as absent. ok is false when n is not a map.
func (p *specParser) fields(n *yaml.Node, path string, known ...string) (map[string]*yaml.Node, bool) {
	n = specResolve(n)
	if n.Kind != yaml.MappingNode {
		p.fail(path, "must be a map, got %s", specDescribe(n))
		return nil, false
	}
	out := make(map[string]*yaml.Node, len(known))
	for _, e := range p.entries(n, path) {
		switch {
		case !slices.Contains(known, e.key):
			p.fail(specField(path, e.key), "Unrecognizable spec item '%s'", specShow(e.key))
		case !specIsNull(e.val):
			out[e.key] = e.val
		}
	}
	return out, true
}

// entries lists the keys and values of a mapping node, expanding YAML merge
// keys ("<<") and rejecting duplicate and non-string keys.
func (p *specParser) entries(n *yaml.Node, path string) []specEntry {
	var out []specEntry
	var merges []*yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !p.spend() {
			return out
		}
		k, v := specResolve(n.Content[i]), n.Content[i+1]
		switch {
		case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
			merges = append(merges, v)
		case k.Kind != yaml.ScalarNode:
			p.fail(path, "keys must be strings, got %s", specDescribe(k))
		case !utf8.ValidString(k.Value):
			p.fail(path, "keys must be valid UTF-8 text")
		case seen[k.Value]:
			p.fail(specField(path, k.Value), "Duplicate spec item '%s'", specShow(k.Value))
		default:
			seen[k.Value] = true
			out = append(out, specEntry{k.Value, v})
		}
	}
	// Keys of the map itself win over merged ones, earlier merged maps over
	// later ones.
	for _, m := range merges {
		m = specResolve(m)
		srcs := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			srcs = m.Content
		}
		for _, src := range srcs {
			if !p.spend() {
				return out
			}
			if src = specResolve(src); src.Kind != yaml.MappingNode {
				p.fail(path, "a '<<' merge key needs a map or a list of maps, got %s", specDescribe(src))
				continue
			}
			for _, e := range p.entries(src, path) {
				if !seen[e.key] {
					seen[e.key] = true
					out = append(out, e)
				}
			}
		}
	}
	return out
}

// required returns m[key], or records that the item is missing.
func (p *specParser) required(m map[string]*yaml.Node, path, key string) *yaml.Node {
	if n := m[key]; n != nil {
		return n
	}
	p.fail(specField(path, key), "Required spec item '%s' not provided", key)
	return nil
}

// list returns the items of a sequence node.
func (p *specParser) list(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	n = specResolve(n)
	if n.Kind != yaml.SequenceNode {
		p.fail(path, "must be a list, got %s", specDescribe(n))
		return nil, false
	}
	for range n.Content {
		if !p.spend() {
			return nil, false
		}
	}
	return n.Content, true
}

// str reads a string item; like Senlin, any scalar is taken as written.
func (p *specParser) str(n *yaml.Node, path string) (string, bool) {
	n = specResolve(n)
	switch {
	case n.Kind != yaml.ScalarNode || specIsNull(n):
		p.fail(path, "must be a string, got %s", specDescribe(n))
		return "", false
	case !utf8.ValidString(n.Value):
		p.fail(path, "must be valid UTF-8 text")
		return "", false
	}
	return n.Value, true
}

// enum reads a string item that must be one of allowed (case-sensitive).
func (p *specParser) enum(n *yaml.Node, path string, allowed []string) (string, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if !slices.Contains(allowed, s) {
		p.fail(path, "%s", allowedRule(s, allowed))
		return "", false
	}
	return s, true
}

// integer reads an optional integer item (nil n: absent, ok false). Like
// Senlin it accepts numeric strings; unlike Senlin it does not truncate
// fractions.
func (p *specParser) integer(n *yaml.Node, path string) (int, bool) {
	if n == nil {
		return 0, false
	}
	n = specResolve(n)
	if n.Kind != yaml.ScalarNode {
		p.fail(path, "must be an integer, got %s", specDescribe(n))
		return 0, false
	}
	var (
		v   int64
		err error
	)
	switch n.ShortTag() {
	case "!!int":
		v, err = strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	case "!!float":
		var f float64
		f, err = strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		switch {
		case err != nil || f != math.Trunc(f):
			err = strconv.ErrSyntax
		case math.Abs(f) > maxSeconds:
			err = strconv.ErrRange
		default:
			v = int64(f)
		}
	case "!!str":
		v, err = strconv.ParseInt(strings.TrimSpace(n.Value), 10, 64)
	default:
		err = strconv.ErrSyntax
	}
	switch {
	case errors.Is(err, strconv.ErrRange) || err == nil && (v < -maxSeconds || v > maxSeconds):
		p.fail(path, "The value '%s' is out of range (0 to %d)", specShow(n.Value), maxSeconds)
		return 0, false
	case err != nil:
		p.fail(path, "The value '%s' is not a valid Integer", specShow(n.Value))
		return 0, false
	}
	return int(v), true
}

// boolean reads an optional boolean item (nil n: absent, ok false) the way
// Senlin does: a boolean or one of 1/t/true/on/y/yes, 0/f/false/off/n/no in
// any case.
func (p *specParser) boolean(n *yaml.Node, path string) (bool, bool) {
	if n == nil {
		return false, false
	}
	n = specResolve(n)
	if n.Kind != yaml.ScalarNode {
		p.fail(path, "must be a boolean, got %s", specDescribe(n))
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(n.Value)) {
	case "1", "t", "true", "on", "y", "yes":
		return true, true
	case "0", "f", "false", "off", "n", "no":
		return false, true
	}
	p.fail(path, "The value '%s' is not a valid Boolean", specShow(n.Value))
	return false, false
}

// version reads the spec version: one of the strings, or a number equal to
// one of them. Senlin would reject the number 1, but JSON encoders commonly
// write 1.0 that way.
func (p *specParser) version(n *yaml.Node, path string) string {
	n = specResolve(n)
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str":
			if slices.Contains(policyVersions, n.Value) {
				return n.Value
			}
		case "!!float", "!!int":
			if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
				for _, v := range policyVersions {
					if vf, _ := strconv.ParseFloat(v, 64); vf == f {
						return v
					}
				}
			}
		}
		p.fail(path, "%s", allowedRule(n.Value, policyVersions))
		return ""
	}
	p.fail(path, "must be one of %s, got %s", strings.Join(policyVersions, ", "), specDescribe(n))
	return ""
}

// value converts free-form YAML to what encoding/json would decode from the
// same data (map[string]any, []any, float64, string, bool, nil), so that it
// survives a JSON round trip unchanged.
func (p *specParser) value(n *yaml.Node, path string) (any, bool) {
	n = specResolve(n)
	if !p.spend() {
		return nil, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		out := map[string]any{}
		for _, e := range p.entries(n, path) {
			v, ok := p.value(e.val, specField(path, e.key))
			if !ok {
				return nil, false
			}
			out[e.key] = v
		}
		return out, true
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			v, ok := p.value(c, specIndex(path, i))
			if !ok {
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	}
	switch n.ShortTag() {
	case "!!null":
		return nil, true
	case "!!bool":
		return strings.EqualFold(n.Value, "true"), true
	case "!!int", "!!float":
		plain := strings.ReplaceAll(n.Value, "_", "")
		if n.ShortTag() == "!!int" {
			if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
				return float64(i), true
			}
		}
		f, err := strconv.ParseFloat(plain, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			p.fail(path, "The value '%s' is not a number JSON can represent", specShow(n.Value))
			return nil, false
		}
		return f, true
	}
	if !utf8.ValidString(n.Value) {
		p.fail(path, "must be valid UTF-8 text")
		return nil, false
	}
	return n.Value, true
}

// specResolve follows aliases; a broken alias reads as null.
func specResolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 64; i++ {
		n = n.Alias
	}
	if n == nil || n.Kind == yaml.AliasNode {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	return n
}

func specIsNull(n *yaml.Node) bool {
	n = specResolve(n)
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// specDescribe names what a node is, for "got ..." messages.
func specDescribe(n *yaml.Node) string {
	n = specResolve(n)
	switch {
	case n.Kind == yaml.MappingNode:
		return "a map"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.DocumentNode:
		return "a document"
	case specIsNull(n):
		return "null"
	}
	return "'" + specShow(n.Value) + "'"
}
