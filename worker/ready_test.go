package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// worker ready answers as the process's /readyz does: 0 on 200, an error
// with the answer otherwise, and an unspecified listen address is asked
// on loopback.
func TestReady(t *testing.T) {
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if down.Load() {
			http.Error(w, "postgres: not answering", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	for _, addr := range []string{srv.Listener.Addr().String(), "0.0.0.0:" + port, ":" + port} {
		var out bytes.Buffer
		if err := checkReady(context.Background(), addr, &out); err != nil || !strings.Contains(out.String(), "ready: ok") {
			t.Errorf("ready %s: got %q, %v; want ready", addr, out.String(), err)
		}
	}
	down.Store(true)
	err := checkReady(context.Background(), srv.Listener.Addr().String(), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "postgres: not answering") {
		t.Errorf("not ready: got %v, want the 503 and its reason", err)
	}
	if err := checkReady(context.Background(), "", &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "METRICS_ADDR is off") {
		t.Errorf("no listener: got %v", err)
	}
	srv.Close()
	if err := checkReady(context.Background(), srv.Listener.Addr().String(), &bytes.Buffer{}); err == nil {
		t.Error("nothing listening: got ready")
	}
}
