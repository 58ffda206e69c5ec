package app

import (
	"reflect"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/bridge"
	"github.com/clusterhealth/healthd/internal/config"
)

// TestBridgeConfigDefaultsAgree checks that the process defaults give the
// bridge exactly its own defaults, so that neither side drifts.
func TestBridgeConfigDefaultsAgree(t *testing.T) {
	m := &Main{Config: config.Defaults()}
	got := m.bridgeConfig()
	want := bridge.Config{URL: config.Defaults().AMQPURL}.WithDefaults()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bridge config from the process defaults:\ngot  %+v\nwant %+v", got, want)
	}
}

// TestBridgeConfigMapsEverySetting changes every bridge setting and checks
// that each one reaches the bridge.
func TestBridgeConfigMapsEverySetting(t *testing.T) {
	c := config.Defaults()
	c.AMQPURL = "amqp://u:p@mq:5673/v"
	c.NovaControlExchange, c.HeatControlExchange = "n", "h"
	c.BridgeNovaQueue, c.BridgeHeatQueue = "qn", "qh"
	c.BridgeDeadLetterExchange, c.BridgeDeadLetterQueue = "dlx", "dead"
	c.BridgePrefetch, c.BridgeConcurrency = 9, 3
	c.BridgeSignalTimeout = 3 * time.Second
	c.BridgeRetryBackoffMax = 7 * time.Second
	c.BridgeReconnectBackoffMax = 11 * time.Second
	c.AMQPDurableExchanges = true
	got := (&Main{Config: c}).bridgeConfig()
	want := bridge.Config{
		URL: c.AMQPURL, NovaExchange: "n", HeatExchange: "h", NovaQueue: "qn", HeatQueue: "qh",
		DeadLetterExchange: "dlx", DeadLetterQueue: "dead", Prefetch: 9, Concurrency: 3,
		SignalTimeout: 3 * time.Second, RetryBackoffMax: 7 * time.Second, ReconnectBackoffMax: 11 * time.Second,
		ExchangeDurable: true,
	}.WithDefaults()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bridge config:\ngot  %+v\nwant %+v", got, want)
	}
}
