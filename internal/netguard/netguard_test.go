package netguard

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	custom := MustParse("127.0.0.1, 10.0.0.0/8", "10.9.0.0/16,192.0.2.7")
	for _, tc := range []struct {
		p      Policy
		addr   string
		refuse string // "" allowed, else a part of the reason
	}{
		{Policy{}, "192.0.2.10", ""},
		{Policy{}, "10.1.2.3", ""},
		{Policy{}, "127.0.0.1", "loopback"},
		{Policy{}, "127.8.9.10", "loopback"},
		{Policy{}, "::1", "loopback"},
		{Policy{}, "::ffff:127.0.0.1", "loopback"},
		{Policy{}, "169.254.169.254", "instance metadata lives"},
		{Policy{}, "fe80::1", "link-local"},
		{Policy{}, "0.0.0.0", "unspecified"},
		{Policy{}, "::", "unspecified"},
		{Policy{}, "239.1.1.1", "multicast"},
		{Policy{}, "fd00:ec2::254", "instance metadata"},
		{custom, "127.0.0.1", ""},
		{custom, "127.0.0.2", "loopback"},
		{custom, "10.9.1.1", "in PROBE_DENY_CIDRS 10.9.0.0/16"},
		{custom, "192.0.2.7", "in PROBE_DENY_CIDRS 192.0.2.7/32"},
		{custom, "::ffff:10.9.1.1", "in PROBE_DENY_CIDRS"},
		{Loopback, "::1", ""},
		{Loopback, "169.254.169.254", "link-local"},
	} {
		err := tc.p.Check(netip.MustParseAddr(tc.addr))
		switch {
		case tc.refuse == "" && err != nil:
			t.Errorf("%s: got %v, want it allowed", tc.addr, err)
		case tc.refuse != "" && (!IsRefused(err) || !strings.Contains(err.Error(), tc.refuse)):
			t.Errorf("%s: got %v, want it refused: %s", tc.addr, err, tc.refuse)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ allow, deny, want string }{
		{"10.0.0.0/33", "", "PROBE_ALLOW_CIDRS: \"10.0.0.0/33\""},
		{"", "example.com", "PROBE_DENY_CIDRS: \"example.com\""},
		{"10.0.0.0/8,,", " ", ""},
	} {
		_, err := Parse(tc.allow, tc.deny)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Parse(%q, %q): got %v, want %q", tc.allow, tc.deny, err, tc.want)
		}
	}
}

// The policy holds at dial time: a request to a loopback server is refused
// by default and allowed with Loopback.
func TestDialer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	get := func(p Policy) error {
		c := &http.Client{Transport: &http.Transport{DialContext: p.Dialer(net.Dialer{Timeout: time.Second}).DialContext}}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(Policy{}); !IsRefused(err) {
		t.Errorf("default policy: got %v, want the loopback server refused", err)
	}
	if err := get(Loopback); err != nil {
		t.Errorf("Loopback: got %v, want it reached", err)
	}
}

// Client, for status URLs and webhooks: the policy holds, and a redirect is
// the answer, never followed (a signed POST is not re-sent elsewhere).
func TestClient(t *testing.T) {
	hits := 0
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer target.Close()
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	post := func(c *http.Client) (*http.Response, error) {
		resp, err := c.Post(redirecting.URL, "application/json", strings.NewReader(`{}`))
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	if _, err := post(Policy{}.Client(time.Second)); !IsRefused(err) {
		t.Errorf("default policy: got %v, want loopback refused", err)
	}
	resp, err := post(Loopback.Client(time.Second))
	if err != nil || resp.StatusCode != http.StatusTemporaryRedirect || hits != 0 {
		t.Errorf("a redirect: got %v (%v) and %d requests at its target, want the 307 itself and none", resp, err, hits)
	}
}
