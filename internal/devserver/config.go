package devserver

import "github.com/clusterhealth/healthd/internal/config"

// Config is the section of dev mode's settings that concern its dev server.
type Config struct {
	// DataDir is where dev mode keeps the dev server's database
	// (DEV_DATA_DIR).
	DataDir string
	// UIPort is the port of the dev server's Temporal Web UI (DEV_UI_PORT).
	UIPort int
}

// DefaultConfig returns the dev server settings used when nothing is set.
func DefaultConfig() Config { return Config{DataDir: ".data", UIPort: 8233} }

// Settings binds DEV_DATA_DIR and DEV_UI_PORT to c.
func (c *Config) Settings() []config.Setting {
	return []config.Setting{
		config.String("DEV_DATA_DIR", "directory of the dev server's data", &c.DataDir, config.NonEmpty),
		config.Int("DEV_UI_PORT", "port of the dev server's Temporal Web UI", &c.UIPort, 1, 65535),
	}
}
