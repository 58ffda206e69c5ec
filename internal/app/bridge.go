package app

import (
	"context"
	"fmt"

	"github.com/clusterhealth/healthd/internal/bridge"
)

// bridgeConfig maps the process settings onto the bridge's own.
func (m *Main) bridgeConfig() bridge.Config {
	c := m.Config
	return bridge.Config{
		URL:                 c.AMQPURL,
		NovaExchange:        c.NovaControlExchange,
		HeatExchange:        c.HeatControlExchange,
		NovaQueue:           c.BridgeNovaQueue,
		HeatQueue:           c.BridgeHeatQueue,
		DeadLetterExchange:  c.BridgeDeadLetterExchange,
		DeadLetterQueue:     c.BridgeDeadLetterQueue,
		Prefetch:            c.BridgePrefetch,
		Concurrency:         c.BridgeConcurrency,
		SignalTimeout:       c.BridgeSignalTimeout,
		RetryBackoffMax:     c.BridgeRetryBackoffMax,
		ReconnectBackoffMax: c.BridgeReconnectBackoffMax,
		ExchangeDurable:     c.AMQPDurableExchanges,
	}.WithDefaults()
}

func (m *Main) startBridge(_ context.Context, goRun func(string, func(context.Context) error)) error {
	cfg := m.bridgeConfig()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	b := bridge.New(cfg, bridge.TemporalSignaller{Client: m.Client}, m.Logger.Named("bridge"), m.Metrics.BridgeMessages)
	// b.Ready reads the state its consumers keep: it does no I/O to bound.
	m.setReady("rabbitmq", func(context.Context) error { return b.Ready() })
	goRun("bridge", b.Run)
	return nil
}
