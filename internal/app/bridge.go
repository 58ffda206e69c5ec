package app

import (
	"context"
	"fmt"

	"github.com/clusterhealth/healthd/internal/bridge"
)

func (m *Main) startBridge(_ context.Context, goRun func(string, func(context.Context) error)) error {
	cfg := m.Config.Bridge.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	b := bridge.New(cfg, bridge.TemporalSignaller{Client: m.Client}, m.Logger.Named("bridge"), m.Metrics.BridgeMessages)
	// b.Ready reads the state its consumers keep: it does no I/O to bound.
	m.setReady("rabbitmq", func(context.Context) error { return b.Ready() })
	goRun("bridge", b.Run)
	return nil
}
