package health

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// NodeNamePlaceholder is what a poll URL template writes where the node's
// name goes, as in Senlin.
const NodeNamePlaceholder = "{nodename}"

// URLFor expands every literal {nodename} in the mode's poll URL with the
// node name and returns the URL to poll.
//
// The name is percent-encoded byte by byte outside RFC 3986's unreserved set
// (A-Z a-z 0-9 - . _ ~), and a name that is exactly "." or ".." has its dots
// encoded too, so that it is never a path segment of its own. A node name
// must not change where the request goes: URLFor polls nothing and returns an
// error naming the part when the expanded URL's scheme, user info, host,
// port, query or fragment differ from the template's with the name in place,
// or when its path, decoded and with its dot segments removed as a server may
// do, no longer starts with the template's literal path before the first
// {nodename}. A template without {nodename} is returned unchanged; with one,
// an empty name and a name that is not valid UTF-8 are refused.
func (m DetectionMode) URLFor(nodeName string) (string, error) {
	return m.Template().For(nodeName)
}

// PollTemplate is a mode's poll URL template read once, so that a sweep
// expands it for each of its nodes without parsing it again (URLFor).
type PollTemplate struct {
	raw string
	// mark stands for every placeholder in ref, the template parsed (nil
	// when the template has no placeholder); part names the part of the
	// URL the first placeholder sits in; err: the template is not a URL
	// once expanded.
	mark string
	ref  *url.URL
	part string
	err  error
	// inert: every placeholder sits in the path, the query or the
	// fragment, and the template with the mark in place passes every check.
	// A name of letters, digits, '-', '_' and '~' then plays exactly the
	// mark's part (no such character delimits, escapes or makes a dot
	// segment), so it passes too and is put in place as it is.
	inert bool
}

// Template reads the mode's poll URL template.
func (m DetectionMode) Template() PollTemplate {
	t := PollTemplate{raw: m.PollURL}
	if !strings.Contains(m.PollURL, NodeNamePlaceholder) {
		return t
	}
	// The template with a harmless name that is easy to find again says
	// which part each placeholder sits in.
	t.mark = placeholderMark(m.PollURL)
	ref, err := url.Parse(strings.ReplaceAll(m.PollURL, NodeNamePlaceholder, t.mark))
	if err != nil {
		t.err = fmt.Errorf("poll_url: not a valid URL once {nodename} is expanded: %v", urlErrorDetail(err))
		return t
	}
	t.ref, t.part = ref, markedPart(ref, t.mark)
	inPlace := strings.Count(ref.Path, t.mark) + strings.Count(ref.RawQuery, t.mark) + strings.Count(ref.Fragment, t.mark)
	t.inert = inPlace == strings.Count(m.PollURL, NodeNamePlaceholder) && changedPart(ref, ref, t.mark, t.mark) == ""
	return t
}

// inertName reports whether name is not empty and holds only letters,
// digits, '-', '_' and '~': RFC 3986's unreserved set without the dot.
func inertName(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == '.' || !unreserved(c) {
			return false
		}
	}
	return name != ""
}

// For is the URL to poll for the named node, as URLFor says.
func (t PollTemplate) For(nodeName string) (string, error) {
	if t.mark == "" {
		return t.raw, nil
	}
	if t.inert && inertName(nodeName) {
		return strings.ReplaceAll(t.raw, NodeNamePlaceholder, nodeName), nil
	}
	return t.checked(nodeName)
}

// checked is For with every check made.
func (t PollTemplate) checked(nodeName string) (string, error) {
	if nodeName == "" {
		return "", errors.New("poll_url: the node has no name to put in place of {nodename}")
	}
	if !utf8.ValidString(nodeName) {
		return "", fmt.Errorf("poll_url: node name %s is not valid UTF-8", quoteCut(nodeName, 64))
	}
	if t.err != nil {
		return "", t.err
	}
	if strings.Contains(t.ref.Hostname(), t.mark) && !hostName(nodeName) {
		return "", fmt.Errorf("poll_url: node name %s would change the poll URL's host "+
			"(a name in the host may hold only letters, digits, '-', '.', '_' and '~')", quoteCut(nodeName, 64))
	}
	raw := strings.ReplaceAll(t.raw, NodeNamePlaceholder, escapeNodeName(nodeName))
	got, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("poll_url: node name %s would change the poll URL's %s (%v)",
			quoteCut(nodeName, 64), t.part, urlErrorDetail(err))
	}
	if part := changedPart(t.ref, got, t.mark, nodeName); part != "" {
		return "", fmt.Errorf("poll_url: node name %s would change the poll URL's %s", quoteCut(nodeName, 64), part)
	}
	return raw, nil
}

// escapeNodeName percent-encodes every byte of name outside RFC 3986's
// unreserved set, and the dots of "." and "..".
func escapeNodeName(name string) string {
	if name == "." || name == ".." {
		return strings.Repeat("%2E", len(name))
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0x0F])
	}
	return b.String()
}

// unreserved reports whether c is in RFC 3986's unreserved set.
func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// hostName reports whether name may stand in a host: its ASCII bytes are all
// unreserved and it is not "." or "..". Other ASCII bytes would have to be
// percent-encoded, which a host allows only for "%" itself (RFC 6874 zones).
func hostName(name string) bool {
	if name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < utf8.RuneSelf && !unreserved(c) {
			return false
		}
	}
	return true
}

// placeholderMark returns a name of lower-case letters that neither the
// template nor its decoded form contains, so that every occurrence of it in
// the parsed template is a placeholder. It has no border (no proper prefix
// that is also a suffix), so no occurrence straddles a placeholder and the
// text next to it.
func placeholderMark(template string) string {
	decoded, err := url.PathUnescape(template)
	if err != nil {
		decoded = template
	}
	lower, lowerDecoded := strings.ToLower(template), strings.ToLower(decoded)
	mark := "nodenamex"
	for strings.Contains(lower, mark) || strings.Contains(lowerDecoded, mark) {
		mark += "x"
	}
	return mark
}

// markedPart names the part of the parsed template that holds the first
// placeholder.
func markedPart(ref *url.URL, mark string) string {
	switch {
	case strings.Contains(ref.Scheme, mark):
		return "scheme"
	case ref.User != nil && strings.Contains(ref.User.String(), mark):
		return "user info"
	case strings.Contains(ref.Hostname(), mark):
		return "host"
	case strings.Contains(ref.Port(), mark):
		return "port"
	case strings.Contains(ref.Path, mark):
		return "path"
	case strings.Contains(ref.RawQuery, mark):
		return "query"
	}
	return "fragment"
}

// changedPart compares the expanded URL with the template (parsed with mark
// in place of each placeholder) and names the first part the node name
// changed beyond taking the placeholder's place; "" when none.
func changedPart(ref, got *url.URL, mark, name string) string {
	put := func(s string) string { return strings.ReplaceAll(s, mark, name) }
	switch {
	case got.Scheme != put(ref.Scheme) || got.Opaque != put(ref.Opaque):
		return "scheme"
	case (got.User == nil) != (ref.User == nil):
		return "user info"
	case got.User != nil && got.User.Username() != put(ref.User.Username()):
		return "user info"
	}
	if ref.User != nil {
		refPass, refSet := ref.User.Password()
		gotPass, gotSet := got.User.Password()
		if refSet != gotSet || gotPass != put(refPass) {
			return "user info"
		}
	}
	switch {
	case got.Hostname() != put(ref.Hostname()):
		return "host"
	case got.Port() != put(ref.Port()):
		return "port"
	case got.Path != put(ref.Path) || !keepsPathPrefix(ref.Path, got.Path, mark):
		return "path"
	case got.RawQuery != strings.ReplaceAll(ref.RawQuery, mark, escapeNodeName(name)):
		return "query"
	case got.Fragment != put(ref.Fragment):
		return "fragment"
	}
	return ""
}

// keepsPathPrefix reports whether got, resolved as a server that decodes
// percent-escapes (%2F and %5C included) and removes dot segments would
// resolve it, still starts with the literal path of the template before its
// first placeholder. A template path without placeholder is compared whole
// by the caller.
func keepsPathPrefix(refPath, got, mark string) bool {
	i := strings.Index(refPath, mark)
	if i < 0 {
		return true
	}
	prefix := refPath[:i]
	// Whole segments of the prefix are resolved; the partial one it ends
	// with, if any, stays as written.
	dir := prefix[:strings.LastIndexAny(prefix, `/\`)+1]
	want := resolvePath(dir) + prefix[len(dir):]
	return strings.HasPrefix(resolvePath(got), want)
}

// resolvePath removes the dot segments of a decoded path (RFC 3986, 5.2.4)
// the way the least careful server would: empty segments merge (as with
// nginx's merge_slashes, so "//.." climbs a real segment), a backslash counts
// as a slash, and "..;x" counts as "..".
func resolvePath(p string) string {
	if p == "" {
		return ""
	}
	segs := strings.Split(strings.ReplaceAll(p, `\`, "/"), "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		dot, _, _ := strings.Cut(s, ";")
		switch {
		case i == 0:
			out = append(out, s)
		case dot == "" || dot == ".":
			if last {
				out = append(out, "")
			}
		case dot == "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return strings.Join(out, "/")
}

// urlErrorDetail drops the `parse "...":` prefix of a *url.Error.
func urlErrorDetail(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
