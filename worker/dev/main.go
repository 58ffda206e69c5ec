// Command dev runs the whole health manager on one machine for trying it out:
// a Temporal dev server with its Web UI on loopback (persisting to a local
// file, so a restart keeps the workflows), the health worker, the reference
// engine and the signal bridge, and with --demo a demo cluster to break.
package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/internal/demo"
	"github.com/clusterhealth/healthd/internal/devserver"
	"github.com/clusterhealth/healthd/internal/logging"
	"github.com/clusterhealth/healthd/internal/netguard"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/workflows"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

// devIntervalMin is HEALTH_CHECK_INTERVAL_MIN in dev mode unless it is set:
// short enough for the demo's 10 s rounds.
const devIntervalMin = 5

// devAllow is PROBE_ALLOW_CIDRS in dev mode unless it is set.
const devAllow = "127.0.0.0/8,::1"

func newRootCmd() *cobra.Command {
	cfg := app.Defaults()
	sections := cfg.AllSections()
	loadErr := config.Load(os.Getenv, sections...)
	var withDemo, withBridge bool
	var demoAddr string
	var demoNodes int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole health manager on this machine, with a Temporal dev server",
		Long: `dev starts a Temporal dev server (Web UI on 127.0.0.1:DEV_UI_PORT, data in
DEV_DATA_DIR/temporal.db), then the health worker, the reference engine and the signal
bridge in this process. With --demo it also creates a demo cluster of local HTTP nodes
and registers it, so you can break a node and watch it be detected and recovered.

Postgres and RabbitMQ must be running (scripts/dev.sh starts them).`,
		Example:       "  go run ./worker/dev --demo",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if loadErr != nil {
				return loadErr
			}
			if err := config.Validate(sections...); err != nil {
				return err
			}
			if !cmd.Flags().Changed("log-format") && os.Getenv("LOG_FORMAT") == "" {
				cfg.Log.Format = logging.FormatConsole
			}
			// The demo checks every 10 s; a production worker enforces Senlin's
			// minimum of 60 s unless told otherwise.
			if !cmd.Flags().Changed("health-check-interval-min") && os.Getenv("HEALTH_CHECK_INTERVAL_MIN") == "" {
				cfg.Health.IntervalMin = devIntervalMin
			}
			// Everything runs on this machine: the demo's nodes and its
			// webhook are on loopback, which a production worker refuses.
			if !cmd.Flags().Changed(config.FlagName(netguard.AllowSetting)) && os.Getenv(netguard.AllowSetting) == "" {
				cfg.Network.Allow = devAllow
			}
			logger, err := logging.New(cfg.Log.Format, cfg.Log.Level)
			if err != nil {
				return err
			}
			defer func() { _ = logger.Sync() }()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return run(ctx, cfg, logger, withDemo, withBridge, demoAddr, demoNodes)
		},
	}
	config.RegisterFlags(cmd.Flags(), sections...)
	cmd.Flags().BoolVar(&withDemo, "demo", false, "create and register a demo cluster of local HTTP nodes")
	cmd.Flags().BoolVar(&withBridge, "bridge", true, "run the RabbitMQ signal bridge too")
	cmd.Flags().StringVar(&demoAddr, "demo-addr", "127.0.0.1:8090", "listen address of the demo nodes and their recovery webhook")
	cmd.Flags().IntVar(&demoNodes, "demo-nodes", 3, "number of demo nodes")
	return cmd
}

func run(ctx context.Context, cfg app.Config, logger *zap.Logger, withDemo, withBridge bool, demoAddr string, demoNodes int) error {
	uiURL := ""
	if serving(cfg.Temporal.Address) {
		logger.Info("a Temporal server already answers; using it", zap.String("address", cfg.Temporal.Address))
	} else {
		if err := os.MkdirAll(cfg.Dev.DataDir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", cfg.Dev.DataDir, err)
		}
		t0 := time.Now()
		srv, err := devserver.Start(ctx, devserver.Options{
			Address: cfg.Temporal.Address, UIPort: cfg.Dev.UIPort, Namespace: cfg.Temporal.Namespace,
			DBFile: filepath.Join(cfg.Dev.DataDir, "temporal.db"),
		})
		if err != nil {
			return err
		}
		defer func() {
			if err := srv.Stop(); err != nil {
				logger.Warn("stop Temporal dev server", zap.Error(err))
			}
		}()
		uiURL = srv.UIURL
		logger.Info("Temporal dev server is up", zap.String("address", srv.Address), zap.String("ui", srv.UIURL), zap.Duration("took", time.Since(t0)))
	}

	roles := []string{app.RoleHealth, app.RoleEngine}
	if withBridge {
		roles = append(roles, app.RoleBridge)
	}
	m := app.New(cfg, logger)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, roles...) }()

	if withDemo {
		if err := startDemo(ctx, cfg, logger, demoAddr, demoNodes, uiURL); err != nil {
			cancel()
			<-done
			return err
		}
	}
	return <-done
}

func startDemo(ctx context.Context, cfg app.Config, logger *zap.Logger, addr string, nodes int, uiURL string) error {
	st, err := store.Open(ctx, cfg.Database.URL)
	if err != nil {
		return err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return err
	}
	d, err := demo.Start(ctx, addr, nodes, cfg.Engine.WebhookSecret, st, logger.Named("demo"))
	st.Close()
	if err != nil {
		return err
	}
	opts, err := cfg.Temporal.ClientOptions()
	if err != nil {
		return err
	}
	opts.Logger = logging.Temporal(logger.Named("temporal"))
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", cfg.Temporal.Address, err)
	}
	defer c.Close()
	reg := d.Registration()
	if _, err := healthclient.New(c).Register(ctx, reg, healthclient.RegisterOptions{TaskQueue: cfg.Temporal.TaskQueue}); err != nil {
		return fmt.Errorf("register demo cluster: %w", err)
	}
	if uiURL == "" {
		uiURL = "http://127.0.0.1:" + strconv.Itoa(cfg.Dev.UIPort)
	}
	fmt.Fprintf(os.Stderr, `
  Demo cluster %q registered: %d nodes served at %s
  Temporal UI:   %s/namespaces/%s/workflows/%s
  Break a node:  curl -X POST %s/nodes/web-2/break
  Watch it:      go run ./starter status --cluster %s
  Node states:   curl %s/

`, reg.ClusterID, nodes, d.URL, uiURL, cfg.Temporal.Namespace, url.PathEscape(workflows.WorkflowID(reg.ClusterID)), d.URL, reg.ClusterID, d.URL)
	return nil
}

func serving(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}
