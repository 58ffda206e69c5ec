package codec

import (
	"net/http"

	"go.temporal.io/sdk/converter"
)

// Handler is a codec server: POST /encode and /decode, as Temporal's UI
// (its codec endpoint setting) and CLI (--codec-endpoint) call them, so
// that those who can reach it read the payloads in clear. uiOrigin is the
// UI's origin (http://127.0.0.1:8233) allowed to call it from a browser;
// empty allows none. Put it where only those allowed to read the payloads
// can reach it: it decrypts whatever it is sent.
func Handler(c *Codec, uiOrigin string) http.Handler {
	h := converter.NewPayloadCodecHTTPHandler(c)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if uiOrigin != "" && r.Header.Get("Origin") == uiOrigin {
			w.Header().Set("Access-Control-Allow-Origin", uiOrigin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type,X-Namespace,Authorization")
			w.Header().Set("Access-Control-Allow-Methods", "POST,OPTIONS")
			w.Header().Set("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
		h.ServeHTTP(w, r)
	})
}
