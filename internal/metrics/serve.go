package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	// shutdownTimeout bounds the wait for in-flight scrapes once ctx ends.
	shutdownTimeout = 5 * time.Second
)

// Serve listens on addr and serves /metrics (the registry), /healthz (always
// 200 while the process runs) and /readyz (200 when ready returns nil, else 503
// with the error) until ctx ends, then shuts down gracefully and returns nil.
// An empty addr disables the endpoints: Serve returns nil at once. A nil ready
// means always ready; ready should answer quickly (it runs per request).
func Serve(ctx context.Context, addr string, reg *prometheus.Registry, ready func() error, logger *zap.Logger) error {
	if addr == "" {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	return ServeListener(ctx, ln, reg, ready, logger)
}

// ServeListener is Serve on an existing listener, which it closes on return.
func ServeListener(ctx context.Context, ln net.Listener, reg *prometheus.Registry, ready func() error, logger *zap.Logger) error {
	if logger == nil {
		logger = zap.NewNop()
	}
	addr := ln.Addr().String()
	srv := &http.Server{
		Handler:           Handler(reg, ready, logger),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          zap.NewStdLog(logger.With(zap.String("component", "metrics_server"))),
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("serving metrics and health endpoints", zap.String("addr", addr))

	select {
	case err := <-errc:
		return fmt.Errorf("metrics: serve on %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		<-errc
		return fmt.Errorf("metrics: shut down server on %s: %w", addr, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve on %s: %w", addr, err)
	}
	return nil
}

// Handler returns the mux behind Serve: /metrics, /healthz and /readyz.
func Handler(reg *prometheus.Registry, ready func() error, logger *zap.Logger) http.Handler {
	if logger == nil {
		logger = zap.NewNop()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: zap.NewStdLog(logger.With(zap.String("component", "metrics_handler"))),
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
				return
			}
		}
		writeText(w, http.StatusOK, "ok")
	})
	return mux
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, body)
}
