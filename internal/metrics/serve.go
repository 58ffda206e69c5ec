package metrics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"sync"
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
// means always ready. ready runs per request with the request's context, which
// ends when the client goes away; build it with [CheckAll] so that each check
// is bounded by [ReadyTimeout].
func Serve(ctx context.Context, addr string, reg *prometheus.Registry, ready func(context.Context) error, logger *zap.Logger) error {
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
func ServeListener(ctx context.Context, ln net.Listener, reg *prometheus.Registry, ready func(context.Context) error, logger *zap.Logger) error {
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
// /readyz calls ready with the request's context.
func Handler(reg *prometheus.Registry, ready func(context.Context) error, logger *zap.Logger) http.Handler {
	if logger == nil {
		logger = zap.NewNop()
	}
	mux := http.NewServeMux()
	ready = orReady(ready)
	readyGauge := readiness(reg)
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: zap.NewStdLog(logger.With(zap.String("component", "metrics_handler"))),
	})
	// Each scrape runs the readiness checks (each bounded by ReadyTimeout),
	// so that an alert sees what /readyz would say.
	mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ready(r.Context()) == nil {
			readyGauge.Set(1)
		} else {
			readyGauge.Set(0)
		}
		metricsHandler.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r.Context()); err != nil {
			writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
		writeText(w, http.StatusOK, "ok")
	})
	return mux
}

// orReady is ready, or a check that always passes when there is none.
func orReady(ready func(context.Context) error) func(context.Context) error {
	if ready == nil {
		return func(context.Context) error { return nil }
	}
	return ready
}

// readiness is the healthd_ready gauge of reg (registered once per
// registry: a second Handler on it shares the first one's).
func readiness(reg *prometheus.Registry) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "ready",
		Help:      "1 when the process's readiness checks (those of /readyz) passed at this scrape, else 0; /readyz says which failed.",
	})
	if err := reg.Register(g); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if errors.As(err, &dup) {
			if existing, ok := dup.ExistingCollector.(prometheus.Gauge); ok {
				return existing
			}
		}
		panic(err)
	}
	return g
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, body)
}

// ReadyTimeout bounds each readiness check: a dependency that does not answer
// within it is reported as not ready rather than holding /readyz open. Give
// the probe calling /readyz a longer timeout (Kubernetes: timeoutSeconds 3 or
// more), so that it reads the answer naming the dependency.
const ReadyTimeout = 2 * time.Second

// errNoAnswer is the cause of a check's context when ReadyTimeout ran out.
var errNoAnswer = fmt.Errorf("no answer within %s", ReadyTimeout)

// CheckAll runs the named readiness checks at the same time, each with ctx
// bounded by ReadyTimeout, and returns nil when all pass, else one
// "<name>: <error>" per failed check, ordered by name. A check still running
// at its deadline is reported as "<name>: no answer within 2s" without waiting
// for it to return, so a check that ignores its context cannot hang the
// caller; it finishes in the background.
func CheckAll(ctx context.Context, checks map[string]func(context.Context) error) error {
	names := slices.Sorted(maps.Keys(checks))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { errs[i] = runCheck(ctx, name, checks[name]) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// runCheck runs one check under ReadyTimeout and names it in its error.
func runCheck(ctx context.Context, name string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeoutCause(ctx, ReadyTimeout, errNoAnswer)
	defer cancel()
	done := make(chan error, 1) // buffered: a late check does not block forever
	go func() { done <- check(ctx) }()
	select {
	case err := <-done:
		if err == nil || ctx.Err() == nil {
			return wrapCheck(name, err)
		}
		// The check gave up because its context ended: report why, the same
		// whether it returned just before or just after the deadline.
	case <-ctx.Done():
	}
	return fmt.Errorf("%s: %w", name, context.Cause(ctx))
}

// wrapCheck names the check in its error; nil stays nil.
func wrapCheck(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
}

// ServePprof serves Go's /debug/pprof handlers on addr until ctx ends; an
// empty addr serves nothing. A CPU profile streams for as long as it asks
// (/debug/pprof/profile?seconds=30), so the server has no write timeout.
func ServePprof(ctx context.Context, addr string) error {
	if addr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	// No /debug/pprof/cmdline: a command line may hold a secret.
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("pprof: serve on %s: %w", addr, err)
	}
	return nil
}
