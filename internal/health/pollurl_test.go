package health_test

import (
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/clusterhealth/healthd/internal/health"
)

// Poll URL templates with {nodename} in each part a node name can sit in.
const (
	tmplPath  = "http://mon.example:8080/nodes/{nodename}/health"
	tmplHost  = "http://{nodename}:8080/health"
	tmplSub   = "https://{nodename}.nodes.example/health"
	tmplQuery = "http://mon.example/health?node={nodename}"
	tmplNone  = "http://mon.example/health"
)

func TestURLFor(t *testing.T) {
	tests := []struct {
		template, name string
		want           string // the URL, when accepted
		wantErr        string // a substring of the error, when refused
	}{
		// In the path: every byte outside the unreserved set is encoded, and a
		// name that would climb out of the literal prefix is refused.
		{tmplPath, "web-1", "http://mon.example:8080/nodes/web-1/health", ""},
		{tmplPath, "web_1.a~b", "http://mon.example:8080/nodes/web_1.a~b/health", ""},
		{tmplPath, "../admin", "", `node name "../admin" would change the poll URL's path`},
		{tmplPath, "../../etc/passwd", "", "would change the poll URL's path"},
		{tmplPath, `..\admin`, "", "would change the poll URL's path"},
		{tmplPath, "..;/admin", "", "would change the poll URL's path"},
		{tmplPath, "web/../x", "http://mon.example:8080/nodes/web%2F..%2Fx/health", ""},
		{tmplPath, "a@evil.example", "http://mon.example:8080/nodes/a%40evil.example/health", ""},
		{tmplPath, "a:b", "http://mon.example:8080/nodes/a%3Ab/health", ""},
		{tmplPath, "#frag", "http://mon.example:8080/nodes/%23frag/health", ""},
		{tmplPath, "?admin=1", "http://mon.example:8080/nodes/%3Fadmin%3D1/health", ""},
		{tmplPath, "%2F", "http://mon.example:8080/nodes/%252F/health", ""},
		{tmplPath, "%2e%2e", "http://mon.example:8080/nodes/%252e%252e/health", ""},
		{tmplPath, "%00", "http://mon.example:8080/nodes/%2500/health", ""},
		{tmplPath, "a\x00b", "http://mon.example:8080/nodes/a%00b/health", ""},
		{tmplPath, "a\r\nHost: evil", "http://mon.example:8080/nodes/a%0D%0AHost%3A%20evil/health", ""},
		{tmplPath, "web 1", "http://mon.example:8080/nodes/web%201/health", ""},
		{tmplPath, "wéb-ü", "http://mon.example:8080/nodes/w%C3%A9b-%C3%BC/health", ""},
		{tmplPath, ".", "http://mon.example:8080/nodes/%2E/health", ""},
		{tmplPath, "..", "", `node name ".." would change the poll URL's path`},
		{tmplPath, "...", "http://mon.example:8080/nodes/.../health", ""},
		{tmplPath, "", "", "the node has no name"},
		{tmplPath, "a\xffb", "", "not valid UTF-8"},
		{"http://mon.example/nodes/n-{nodename}/health", "/../../x", "", "would change the poll URL's path"},
		{"http://mon.example/nodes/.{nodename}/health", ".", "", "would change the poll URL's path"},
		{"http://mon.example/{nodename}", "../x", "http://mon.example/..%2Fx", ""},

		// In the host: the name may not bring a user, a port, a path, a query
		// or a fragment, or anything that needs percent-encoding.
		{tmplHost, "web-1", "http://web-1:8080/health", ""},
		{tmplHost, "web-1.cluster.local", "http://web-1.cluster.local:8080/health", ""},
		{tmplHost, "a@evil.example", "", `node name "a@evil.example" would change the poll URL's host`},
		{tmplHost, "evil.example:80", "", "would change the poll URL's host"},
		{tmplHost, "web/../x", "", `node name "web/../x" would change the poll URL's host`},
		{tmplHost, "evil.example#", "", "would change the poll URL's host"},
		{tmplHost, "evil.example?", "", "would change the poll URL's host"},
		{tmplHost, "%2F", "", "would change the poll URL's host"},
		{tmplHost, "%00", "", "would change the poll URL's host"},
		{tmplHost, "a\nb", "", "would change the poll URL's host"},
		{tmplHost, "a b", "", "would change the poll URL's host"},
		{tmplHost, "[::1]", "", "would change the poll URL's host"},
		{tmplHost, ".", "", "would change the poll URL's host"},
		{tmplHost, "..", "", "would change the poll URL's host"},
		{tmplHost, "", "", "the node has no name"},
		{tmplHost, "wéb", "http://w%C3%A9b:8080/health", ""},
		{tmplSub, "web-1", "https://web-1.nodes.example/health", ""},
		{tmplSub, "evil.example/", "", "would change the poll URL's host"},
		{tmplSub, "evil.example\\", "", "would change the poll URL's host"},

		// In the query: the name stays one value.
		{tmplQuery, "web-1", "http://mon.example/health?node=web-1", ""},
		{tmplQuery, "a&admin=1", "http://mon.example/health?node=a%26admin%3D1", ""},
		{tmplQuery, "#x", "http://mon.example/health?node=%23x", ""},

		// Without a placeholder nothing changes, whatever the name.
		{tmplNone, "../x", tmplNone, ""},
		{tmplNone, "", tmplNone, ""},

		// Every placeholder takes the same name.
		{"http://{nodename}.example/{nodename}/x", "web-1", "http://web-1.example/web-1/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.template+" "+tt.name, func(t *testing.T) {
			got, err := health.DetectionMode{PollURL: tt.template}.URLFor(tt.name)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "poll_url: ") {
					t.Fatalf("URLFor(%q): got %q, %v; want an error starting poll_url: and containing %q", tt.name, got, err, tt.wantErr)
				}
				if got != "" {
					t.Errorf("URLFor(%q): got URL %q with the error, want none", tt.name, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("URLFor(%q): got %q, %v; want %q", tt.name, got, err, tt.want)
			}
		})
	}
}

func TestURLForInvalidTemplate(t *testing.T) {
	_, err := health.DetectionMode{PollURL: "http://mon.example:{nodename}/"}.URLFor("web-1")
	if err == nil || !strings.Contains(err.Error(), "poll_url: not a valid URL") {
		t.Fatalf("got %v, want poll_url: not a valid URL", err)
	}
}

// fuzzTemplates are the templates FuzzURLFor checks each name against, with
// the invariant each must keep: check returns "" when the expanded URL goes
// where the template says, with the name unchanged in its place.
var fuzzTemplates = []struct {
	template string
	check    func(u *url.URL, name string) string
}{
	{tmplPath, func(u *url.URL, name string) string {
		switch {
		case u.Scheme != "http" || u.Host != "mon.example:8080" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
			return "scheme, host, port, user, query or fragment changed"
		case u.Path != "/nodes/"+name+"/health":
			return "the name is not the path segment"
		case !strings.HasPrefix(path.Clean(strings.ReplaceAll(u.Path, `\`, "/"))+"/", "/nodes/"):
			return "the resolved path left /nodes/"
		}
		return ""
	}},
	{tmplHost, func(u *url.URL, name string) string {
		switch {
		case u.Scheme != "http" || u.Port() != "8080" || u.User != nil || u.Path != "/health" || u.RawQuery != "" || u.Fragment != "":
			return "scheme, port, user, path, query or fragment changed"
		case u.Hostname() != name:
			return "the host is not the name"
		case strings.ContainsAny(u.Hostname(), "@:/\\?#[]% \x00\r\n"):
			return "the host holds a delimiter"
		}
		return ""
	}},
	{tmplSub, func(u *url.URL, name string) string {
		switch {
		case u.Scheme != "https" || u.Port() != "" || u.User != nil || u.Path != "/health" || u.RawQuery != "" || u.Fragment != "":
			return "scheme, port, user, path, query or fragment changed"
		case u.Hostname() != name+".nodes.example":
			return "the host is not the name under nodes.example"
		}
		return ""
	}},
	{tmplQuery, func(u *url.URL, name string) string {
		q, err := url.ParseQuery(u.RawQuery)
		switch {
		case u.Scheme != "http" || u.Host != "mon.example" || u.User != nil || u.Path != "/health" || u.Fragment != "":
			return "scheme, host, port, user, path or fragment changed"
		case err != nil || len(q) != 1 || len(q["node"]) != 1 || q.Get("node") != name:
			return "the query is not node=<name>"
		}
		return ""
	}},
	{"http://user@mon.example/a/{nodename}/b?x={nodename}#{nodename}", func(u *url.URL, name string) string {
		switch {
		case u.Scheme != "http" || u.Host != "mon.example" || u.User.String() != "user":
			return "scheme, host, port or user changed"
		case u.Path != "/a/"+name+"/b" || u.Query().Get("x") != name || u.Fragment != name:
			return "the name is not in place"
		}
		return ""
	}},
}

// FuzzURLFor checks that no node name changes the scheme, host, port or
// literal path prefix of a poll URL, wherever {nodename} sits: URLFor either
// refuses the name with a one-line poll_url error or returns a URL that
// parses to the template with the name, unchanged, in the placeholder's
// place. Any template, valid or not, must not make it panic.
func FuzzURLFor(f *testing.F) {
	for _, name := range []string{
		"web-1", "../admin", "web/../x", "a@evil.example", "evil.example:80", "#x", "?x=1", "%2F", "%00",
		"a\nb", "a b", "wéb", ".", "..", "", "a\xffb", `..\x`, "..;/x", "[::1]", "a%25b", "\u202e",
	} {
		f.Add(tmplPath, name)
	}
	f.Add("http://[::1]:80/{nodename}", "x")
	f.Add("{nodename}://x/", "http")
	f.Add("http://x/%2e{nodename}", ".")
	f.Fuzz(func(t *testing.T, template, name string) {
		for _, ft := range fuzzTemplates {
			raw, err := health.DetectionMode{PollURL: ft.template}.URLFor(name)
			if err != nil {
				if msg := err.Error(); !strings.HasPrefix(msg, "poll_url: ") || strings.ContainsAny(msg, "\r\n") {
					t.Fatalf("URLFor(%q) with %s: got error %q, want one line starting poll_url:", name, ft.template, msg)
				}
				continue
			}
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("URLFor(%q) with %s: got %q, which does not parse: %v", name, ft.template, raw, err)
			}
			if why := ft.check(u, name); why != "" {
				t.Fatalf("URLFor(%q) with %s: got %q: %s", name, ft.template, raw, why)
			}
		}
		// Any template: no panic, and an accepted expansion parses.
		if raw, err := (health.DetectionMode{PollURL: template}).URLFor(name); err == nil && strings.Contains(template, "{nodename}") {
			if _, err := url.Parse(raw); err != nil {
				t.Fatalf("URLFor(%q) with %q: got %q, which does not parse: %v", name, template, raw, err)
			}
		}
	})
}
