package openstacktest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// Neutron is a stand-in for the Neutron API, enough for Nova to run servers
// booted with no network on the fake driver: Nova asks Neutron about ports,
// networks and security groups even then (list, show, delete, rebuild,
// evacuate, a periodic cache task), and fails when there is no network
// endpoint. Every collection GET answers an empty list, DELETE 204, anything
// else 404. It checks no token: it serves loopback only, and holds nothing.
func Neutron() http.Handler {
	notFound := map[string]any{"NeutronError": map[string]string{"type": "NotFound", "message": "not found (stand-in)", "detail": ""}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		path := strings.TrimSuffix(strings.TrimSuffix(r.URL.Path, "/"), ".json")
		parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
		reply := func(code int, body any) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(body)
		}
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.Method != http.MethodGet:
			reply(http.StatusNotFound, notFound)
		case path == "":
			reply(http.StatusOK, map[string]any{"versions": []map[string]any{{"id": "v2.0", "status": "CURRENT",
				"links": []map[string]string{{"href": "http://" + r.Host + "/v2.0/", "rel": "self"}}}}})
		case path == "/v2.0":
			reply(http.StatusOK, map[string]any{"resources": []any{}})
		case len(parts) == 2 && parts[0] == "v2.0":
			reply(http.StatusOK, map[string]any{strings.ReplaceAll(parts[1], "-", "_"): []any{}})
		default:
			reply(http.StatusNotFound, notFound)
		}
	})
}
