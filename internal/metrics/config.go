package metrics

import "github.com/clusterhealth/healthd/internal/config"

// Config is the metrics section of every process's settings.
type Config struct {
	// Addr is the host:port serving /metrics, /healthz and /readyz; empty
	// disables the listener (METRICS_ADDR, where "off" disables).
	Addr string
	// PprofAddr is the host:port serving Go's /debug/pprof profiles; empty
	// (the default) serves none (PPROF_ADDR). Keep it on loopback: profiles
	// show the process's memory.
	PprofAddr string
}

// DefaultConfig returns the metrics settings used when nothing is set: the
// listener on loopback.
func DefaultConfig() Config { return Config{Addr: "127.0.0.1:9464"} }

// Settings binds METRICS_ADDR to c.
func (c *Config) Settings() []config.Setting {
	return []config.Setting{
		config.ListenAddr("METRICS_ADDR", `host:port serving /metrics, /healthz and /readyz ("`+config.Off+`" or "" disables)`, &c.Addr),
		config.ListenAddr("PPROF_ADDR", `host:port serving Go's /debug/pprof profiles, for diagnosis (default "`+config.Off+`"; keep it on loopback)`, &c.PprofAddr),
	}
}
