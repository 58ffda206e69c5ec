package metrics

import (
	"net"
	"net/netip"

	"github.com/clusterhealth/healthd/internal/config"
)

// Config is the metrics section of every process's settings.
type Config struct {
	// Addr is the host:port serving /metrics, /healthz and /readyz; empty
	// disables the listener (METRICS_ADDR, where "off" disables).
	Addr string
	// PprofAddr is the host:port serving Go's /debug/pprof profiles; empty
	// (the default) serves none (PPROF_ADDR). Profiles show the process's
	// memory, secrets included: only a loopback address is accepted, unless
	// PprofAnyAddr says otherwise.
	PprofAddr string
	// PprofAnyAddr lets PprofAddr be other than loopback (PPROF_ANY_ADDR).
	PprofAnyAddr bool
}

// DefaultConfig returns the metrics settings used when nothing is set: the
// listener on loopback.
func DefaultConfig() Config { return Config{Addr: "127.0.0.1:9464"} }

// Settings binds METRICS_ADDR, PPROF_ADDR and PPROF_ANY_ADDR to c.
func (c *Config) Settings() []config.Setting {
	return []config.Setting{
		config.ListenAddr("METRICS_ADDR", `host:port serving /metrics, /healthz and /readyz ("`+config.Off+`" or "" disables)`, &c.Addr),
		config.ListenAddr("PPROF_ADDR", `loopback host:port serving Go's /debug/pprof profiles, for diagnosis (default "`+config.Off+`")`, &c.PprofAddr),
		config.Bool("PPROF_ANY_ADDR", "let PPROF_ADDR be other than a loopback address (profiles show the process's memory, secrets included)", &c.PprofAnyAddr),
	}
}

// Check refuses a profile listener beyond loopback unless forced.
func (c *Config) Check() []*config.FieldError {
	if c.PprofAddr == "" || c.PprofAnyAddr {
		return nil
	}
	host, _, err := net.SplitHostPort(c.PprofAddr)
	if err != nil {
		return nil // the setting's own rule reports it
	}
	if host == "localhost" {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
		return nil
	}
	return []*config.FieldError{{Var: "PPROF_ADDR", Rule: "must be a loopback address (127.0.0.1:6060, [::1]:6060, localhost:6060) unless PPROF_ANY_ADDR=true: profiles show the process's memory, got \"" + c.PprofAddr + "\""}}
}
