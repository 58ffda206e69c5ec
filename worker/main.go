// Command worker runs the health manager's processes: the Temporal health
// worker, the reference engine executor, the RabbitMQ signal bridge, and the
// database migrations. Dev mode (all of them plus a Temporal dev server) is
// the separate command ./worker/dev, so this binary never links the server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/codec"
	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/internal/engine"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/logging"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "worker",
		Short: "Run the cluster health manager's processes",
		Long: `worker runs the processes of the durable cluster health manager.

Settings come from environment variables (TEMPORAL_ADDRESS, DATABASE_URL,
AMQP_URL, ...); every flag overrides its variable. Each process reads only the
settings of what it runs, listed in its --help. Each process serves /metrics,
/healthz and /readyz on METRICS_ADDR.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	all := app.Defaults()
	root.SetHelpTemplate(helpTemplate(root, all.Sections(app.RoleHealth, app.RoleEngine, app.RoleBridge)))

	// process runs roles with the settings they read, and no other.
	process := func(cmd *cobra.Command, roles ...string) *cobra.Command {
		cfg := app.Defaults()
		sections := cfg.Sections(roles...)
		settings(cmd, sections)
		cmd.Args = cobra.NoArgs
		cmd.RunE = func(cmd *cobra.Command, _ []string) error {
			logger, err := logging.New(cfg.Log.Format, cfg.Log.Level)
			if err != nil {
				return err
			}
			defer func() { _ = logger.Sync() }()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			logger.Info("starting", zap.Strings("roles", roles), zap.Any("config", config.Redacted(sections...)))
			return app.New(cfg, logger).Run(ctx, roles...)
		}
		return cmd
	}
	migrate := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations and exit",
		Args:  cobra.NoArgs,
	}
	migrateCfg := app.Defaults()
	settings(migrate, []config.Section{&migrateCfg.Database, &migrateCfg.Log})
	migrate.RunE = func(cmd *cobra.Command, _ []string) error {
		logger, err := logging.New(migrateCfg.Log.Format, migrateCfg.Log.Level)
		if err != nil {
			return err
		}
		return app.New(migrateCfg, logger).Migrate(cmd.Context())
	}
	var keyCluster string
	webhookKey := &cobra.Command{
		Use:   "webhook-key --cluster ID",
		Short: "Print the key that signs a cluster's recover webhook calls",
		Long: `webhook-key prints the key that signs the recover webhook calls of one
cluster, derived from ENGINE_WEBHOOK_SECRET (or ENGINE_WEBHOOK_SECRET_FILE):
give it to that cluster's receiver, which verifies X-Healthd-Signature with it.
Each cluster has its own key, so that the receiver of one cluster cannot sign
calls that another cluster's receiver accepts; never give a receiver the
secret itself.`,
		Example: `  ENGINE_WEBHOOK_SECRET_FILE=/run/secrets/whsec worker webhook-key --cluster web > web.key`,
		Args:    cobra.NoArgs,
	}
	keyCfg := app.Defaults()
	settings(webhookKey, []config.Section{&keyCfg.Engine})
	webhookKey.Flags().StringVar(&keyCluster, "cluster", "", "the cluster's ID")
	webhookKey.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := health.CheckClusterID(keyCluster); err != nil {
			return fmt.Errorf("--cluster: %w", err)
		}
		if keyCfg.Engine.WebhookSecret == "" {
			return errors.New("ENGINE_WEBHOOK_SECRET (or ENGINE_WEBHOOK_SECRET_FILE) is not set: the calls are not signed")
		}
		fmt.Fprintln(cmd.OutOrStdout(), engine.ClusterWebhookKey(keyCfg.Engine.WebhookSecret, keyCluster))
		return nil
	}
	var codecAddr, codecOrigin string
	codecServer := &cobra.Command{
		Use:   "codec-server",
		Short: "Serve the payload codec, so that Temporal's UI and CLI show encrypted payloads in clear",
		Long: `codec-server decrypts (and encrypts) payloads for Temporal's UI (its codec
endpoint setting) and CLI (--codec-endpoint) with the keys of
TEMPORAL_CODEC_KEYS_FILE, at POST /decode and /encode. It decrypts whatever it
is sent: serve it only where those allowed to read the payloads can reach it.`,
		Example: `  TEMPORAL_CODEC_KEYS_FILE=/run/secrets/codec-keys worker codec-server --addr 127.0.0.1:8081 --ui-origin http://127.0.0.1:8233
  temporal workflow show -w cluster-health-web --codec-endpoint http://127.0.0.1:8081`,
		Args: cobra.NoArgs,
	}
	codecCfg := app.Defaults()
	settings(codecServer, []config.Section{&codecCfg.Temporal, &codecCfg.Log})
	codecServer.Flags().StringVar(&codecAddr, "addr", "127.0.0.1:8081", "host:port to listen on")
	codecServer.Flags().StringVar(&codecOrigin, "ui-origin", "", "origin of the Temporal UI allowed to call it from a browser (http://127.0.0.1:8233)")
	codecServer.RunE = func(cmd *cobra.Command, _ []string) error {
		if codecCfg.Temporal.CodecKeysFile == "" {
			return errors.New("TEMPORAL_CODEC_KEYS_FILE is not set: there is nothing to decrypt")
		}
		cd, err := codec.Load(codecCfg.Temporal.CodecKeysFile)
		if err != nil {
			return fmt.Errorf("TEMPORAL_CODEC_KEYS_FILE: %w", err)
		}
		logger, err := logging.New(codecCfg.Log.Format, codecCfg.Log.Level)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", codecAddr)
		if err != nil {
			return fmt.Errorf("--addr: %w", err)
		}
		srv := &http.Server{Handler: codec.Handler(cd, codecOrigin), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			<-ctx.Done()
			_ = srv.Close()
		}()
		logger.Info("codec server listening", zap.String("addr", ln.Addr().String()), zap.String("key", cd.KeyID()),
			zap.String("ui_origin", codecOrigin))
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	readyCfg := app.Defaults()
	ready := &cobra.Command{
		Use:   "ready",
		Short: "Ask the process of METRICS_ADDR whether it is ready (a container's health check)",
		Long: `ready asks the process serving METRICS_ADDR for its /readyz and exits 0 when it
answers 200 (its dependencies reachable), 1 with its answer otherwise. It is the
image's HEALTHCHECK: the image has no shell and no curl. An unspecified listen
address (0.0.0.0:9464, :9464) is asked on loopback.`,
		Example: `  METRICS_ADDR=0.0.0.0:9464 worker ready`,
		Args:    cobra.NoArgs,
	}
	settings(ready, []config.Section{&readyCfg.Metrics})
	ready.RunE = func(cmd *cobra.Command, _ []string) error {
		return checkReady(cmd.Context(), readyCfg.Metrics.Addr, cmd.OutOrStdout())
	}
	root.AddCommand(
		process(&cobra.Command{
			Use:   "health",
			Short: "Run the Temporal worker of the ClusterHealth workflow and its activities",
			Long: `health runs the ClusterHealth workflow and its activities on the task queue
TEMPORAL_TASK_QUEUE. Run as many replicas as you like: Temporal spreads the work.
It applies the database migrations at start.`,
		}, app.RoleHealth),
		process(&cobra.Command{
			Use:   "engine",
			Short: "Run the reference engine executor that carries out recover actions",
			Long: `engine claims READY recover actions from Postgres (FOR UPDATE SKIP LOCKED, so
replicas never run the same action), calls the cluster's recovery webhook, then marks
the node and finishes the action SUCCEEDED or FAILED.`,
		}, app.RoleEngine),
		process(&cobra.Command{
			Use:   "bridge",
			Short: "Turn Nova and Heat notifications from RabbitMQ into recover signals",
			Long: `bridge consumes OpenStack lifecycle notifications from its own durable queues
bound to the Nova and Heat control exchanges and signals the owning cluster's workflow.
A message is acknowledged only once Temporal has accepted the signal.`,
		}, app.RoleBridge),
		process(&cobra.Command{
			Use:   "all",
			Short: "Run health, engine and bridge in one process (without a Temporal server)",
		}, app.RoleHealth, app.RoleEngine, app.RoleBridge),
		migrate,
		webhookKey,
		codecServer,
		ready,
	)
	return root
}

// settings loads the sections from the environment, gives cmd one flag per
// setting and checks them all before cmd runs. A variable that cannot be
// parsed fails the command even when its flag is given.
func settings(cmd *cobra.Command, sections []config.Section) {
	loadErr := config.Load(os.Getenv, sections...)
	config.RegisterFlags(cmd.Flags(), sections...)
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if loadErr != nil {
			return loadErr
		}
		return config.Validate(sections...)
	}
	cmd.SetHelpTemplate(helpTemplate(cmd, sections))
}

// helpTemplate is cmd's help followed by the environment variables of the
// sections.
func helpTemplate(cmd *cobra.Command, sections []config.Section) string {
	names := slices.Sorted(maps.Keys(config.Redacted(sections...)))
	return cmd.HelpTemplate() + "\nEnvironment: " + strings.Join(names, ", ") + "\n"
}

// checkReady GETs /readyz of the process listening on addr (an unspecified
// host is asked on loopback) and fails unless it answers 200.
func checkReady(ctx context.Context, addr string, out io.Writer) error {
	if addr == "" {
		return errors.New("METRICS_ADDR is off: the process serves no /readyz to ask")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR: %w", err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready (%s): %s", resp.Status, strings.TrimSpace(string(body)))
	}
	_, err = fmt.Fprintf(out, "ready: %s\n", strings.TrimSpace(string(body)))
	return err
}
