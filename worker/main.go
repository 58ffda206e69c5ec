// Command worker runs the health manager's processes: the Temporal health
// worker, the reference engine executor, the RabbitMQ signal bridge, and the
// database migrations. Dev mode (all of them plus a Temporal dev server) is
// the separate command ./worker/dev, so this binary never links the server.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/internal/logging"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	cfg, loadErr := config.Load(os.Getenv)
	root := &cobra.Command{
		Use:   "worker",
		Short: "Run the cluster health manager's processes",
		Long: `worker runs the processes of the durable cluster health manager.

Settings come from environment variables (TEMPORAL_ADDRESS, DATABASE_URL,
AMQP_URL, ...); every flag overrides its variable. Each process serves
/metrics, /healthz and /readyz on METRICS_ADDR.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if loadErr != nil {
				return loadErr
			}
			return cfg.Validate()
		},
	}
	cfg.RegisterFlags(root.PersistentFlags())

	run := func(roles ...string) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			logger, err := logging.New(cfg.LogFormat, cfg.LogLevel)
			if err != nil {
				return err
			}
			defer func() { _ = logger.Sync() }()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			logger.Info("starting", zap.Strings("roles", roles), zap.Any("config", cfg.Redacted()))
			return app.New(cfg, logger).Run(ctx, roles...)
		}
	}
	root.AddCommand(
		&cobra.Command{
			Use:   "health",
			Short: "Run the Temporal worker of the ClusterHealth workflow and its activities",
			Long: `health runs the ClusterHealth workflow and its activities on the task queue
TEMPORAL_TASK_QUEUE. Run as many replicas as you like: Temporal spreads the work.
It applies the database migrations at start.`,
			Args: cobra.NoArgs,
			RunE: run(app.RoleHealth),
		},
		&cobra.Command{
			Use:   "engine",
			Short: "Run the reference engine executor that carries out recover actions",
			Long: `engine claims READY recover actions from Postgres (FOR UPDATE SKIP LOCKED, so
replicas never run the same action), calls the cluster's recovery webhook, then marks
the node and finishes the action SUCCEEDED or FAILED.`,
			Args: cobra.NoArgs,
			RunE: run(app.RoleEngine),
		},
		&cobra.Command{
			Use:   "bridge",
			Short: "Turn Nova and Heat notifications from RabbitMQ into recover signals",
			Long: `bridge consumes OpenStack lifecycle notifications from its own durable queues
bound to the Nova and Heat control exchanges and signals the owning cluster's workflow.
A message is acknowledged only once Temporal has accepted the signal.`,
			Args: cobra.NoArgs,
			RunE: run(app.RoleBridge),
		},
		&cobra.Command{
			Use:   "all",
			Short: "Run health, engine and bridge in one process (without a Temporal server)",
			Args:  cobra.NoArgs,
			RunE:  run(app.RoleHealth, app.RoleEngine, app.RoleBridge),
		},
		&cobra.Command{
			Use:   "migrate",
			Short: "Apply the database migrations and exit",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				logger, err := logging.New(cfg.LogFormat, cfg.LogLevel)
				if err != nil {
					return err
				}
				return app.New(cfg, logger).Migrate(cmd.Context())
			},
		},
	)
	root.SetHelpTemplate(root.HelpTemplate() + "\nEnvironment: " + strings.Join(envNames(), ", ") + "\n")
	return root
}

func envNames() []string {
	var names []string
	for k := range config.Defaults().Redacted() {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
