package openstacktest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The calls Nova 26 was seen making to Neutron for servers with no network.
func TestNeutronStandIn(t *testing.T) {
	srv := httptest.NewServer(Neutron())
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/v2.0/ports?device_id=X", 200, `{"ports":[]}`},
		{"GET", "/v2.0/ports?device_id=X&fields=binding:host_id&fields=binding:vif_type", 200, `{"ports":[]}`},
		{"GET", "/v2.0/networks?tenant_id=p&shared=False", 200, `{"networks":[]}`},
		{"GET", "/v2.0/security-groups", 200, `{"security_groups":[]}`},
		{"GET", "/v2.0/ports/abc", 404, "NotFound"},
		{"DELETE", "/v2.0/ports/abc", 204, ""},
		{"POST", "/v2.0/ports", 404, "NotFound"},
		{"GET", "/", 200, `"v2.0"`},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.body) {
			t.Errorf("%s %s: got %d %s, want %d with %s", tc.method, tc.path, resp.StatusCode, b, tc.code, tc.body)
		}
	}
}
