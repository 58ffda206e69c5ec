// Command starter registers clusters with the cluster health manager and
// operates on their ClusterHealth workflows: register, update, unregister,
// enable, disable, recover, status and list. It validates Senlin health policy
// specs offline with validate, and prints a cluster's health event timeline
// from Postgres with events.
//
//	starter validate --policy health.yaml
//	starter register --cluster c1 --policy health.yaml
//	starter status --cluster c1
//
// Settings come from the environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
// ...) and the matching flags override them. It exits 1 on any error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/internal/healthworker"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/temporalclient"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit status: 0, or 1
// after printing the error to errOut.
func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	root := newRootCmd(out, errOut)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(errOut, "error:", err)
		return 1
	}
	return 0
}

// newRootCmd builds the starter command tree, reading settings from the
// process environment.
func newRootCmd(out, errOut io.Writer) *cobra.Command {
	return newApp(out, errOut, os.Getenv).rootCmd()
}

// settings are the sections of the healthd settings the starter uses: where
// Temporal is, the interval limits policies are validated against, and the
// database "starter events" reads. The other sections have no flag here and
// their problems are not reported.
type settings struct {
	Temporal temporalclient.Config
	Limits   healthworker.Limits
	Database store.Config
}

// defaultTimeout bounds each command's calls to Temporal.
const defaultTimeout = 30 * time.Second

// app holds what the commands share: settings, output and how to reach
// Temporal.
type app struct {
	out, errOut io.Writer
	cfg         settings
	// loadErrs holds the problems of the environment by section, reported by
	// the commands that use the section unless a flag replaced the value.
	loadErrs map[config.Section]error
	// flags holds the flags every command has; settings holds one flag per
	// setting, those no command has included, so that checkConfig can tell
	// which ones the command line set.
	flags    *pflag.FlagSet
	settings *pflag.FlagSet
	timeout  time.Duration
	// requester names the operator in signals: the OS user name.
	requester string
	now       func() time.Time
	// dial connects to Temporal; tests replace it.
	dial func(ctx context.Context, cfg temporalclient.Config) (*healthclient.Client, func(), error)
}

func newApp(out, errOut io.Writer, getenv func(string) string) *app {
	a := &app{
		out:    out,
		errOut: errOut,
		cfg: settings{
			Temporal: temporalclient.DefaultConfig(),
			Limits:   healthworker.DefaultLimits(),
			Database: store.DefaultConfig(),
		},
		loadErrs:  make(map[config.Section]error),
		timeout:   defaultTimeout,
		requester: requester(),
		now:       time.Now,
		dial:      dialTemporal,
	}
	for _, s := range []config.Section{&a.cfg.Temporal, &a.cfg.Limits, &a.cfg.Database} {
		a.loadErrs[s] = config.Load(getenv, s)
	}
	return a
}

// requester is the OS user name, or "starter" when it cannot be found.
func requester() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "starter"
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "starter",
		Short: "Register clusters with the cluster health manager and operate on them",
		Long: `starter registers clusters with the cluster health manager and operates on
their health checks. Each registered cluster has one ClusterHealth workflow
(ID cluster-health/<cluster id>) on Temporal that polls its nodes, recovers
unhealthy ones through the engine, and answers status queries.

A cluster's health policy is a Senlin health policy spec (type
senlin.policy.health, versions 1.0 to 1.2) in YAML or JSON. Check one offline
with "starter validate --policy FILE".

Settings come from the environment and the flags below override them:
TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, and the interval
bounds policies are validated against, HEALTH_CHECK_INTERVAL_MIN and
CHECK_INTERVAL_MAX. Only "starter events" reads Postgres, at DATABASE_URL
(or its --database-url flag).`,
		Example: `  starter validate --policy health.yaml
  starter register --cluster c1 --policy health.yaml
  starter status --cluster c1
  starter --temporal-address temporal.example.com:7233 list --state degraded`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w\nrun %q for usage", err, c.CommandPath()+" --help")
	})

	// Only the starter's settings become flags, so that its help lists no
	// RabbitMQ options, and the database only under the command that reads it.
	shared := pflag.NewFlagSet("settings", pflag.ContinueOnError)
	config.RegisterFlags(shared, &a.cfg.Temporal, &a.cfg.Limits)
	database := pflag.NewFlagSet("database", pflag.ContinueOnError)
	config.RegisterFlags(database, &a.cfg.Database)
	a.settings = pflag.NewFlagSet("config", pflag.ContinueOnError)
	a.settings.AddFlagSet(shared)
	a.settings.AddFlagSet(database)
	a.flags = root.PersistentFlags()
	a.flags.AddFlagSet(shared)
	a.flags.DurationVar(&a.timeout, "timeout", defaultTimeout, "how long to wait for Temporal (or the database, for events), per command")

	root.AddCommand(
		a.validateCmd(),
		a.registerCmd(database),
		a.updateCmd(),
		a.unregisterCmd(),
		a.enableCmd(),
		a.disableCmd(),
		a.recoverCmd(),
		a.statusCmd(database),
		a.listCmd(),
		a.eventsCmd(database),
		a.approveCmd(),
		a.denyCmd(),
		a.clearCmd(),
		a.maintainCmd(),
		a.simulateCmd(),
	)
	return root
}

// checkConfig reports the problems of the given sections of a.cfg, all at
// once: values from the environment that could not be parsed (unless a flag
// replaced them) and values that break a rule.
func (a *app) checkConfig(sections ...config.Section) error {
	var errs []error
	seen := map[string]bool{}
	add := func(fe *config.FieldError) {
		if seen[fe.Error()] {
			return
		}
		seen[fe.Error()] = true
		errs = append(errs, fmt.Errorf("  %w (or flag --%s)", fe, config.FlagName(fe.Var)))
	}
	for _, s := range sections {
		for _, fe := range config.FieldErrors(a.loadErrs[s]) {
			if f := a.settings.Lookup(config.FlagName(fe.Var)); f == nil || !f.Changed {
				add(fe) // unless the flag replaced the environment's value
			}
		}
		for _, fe := range config.FieldErrors(config.Validate(s)) {
			add(fe)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid settings:\n%w", errors.Join(errs...))
	}
	return nil
}

// withClient checks the Temporal settings, connects, and runs fn with a
// context bounded by --timeout.
func (a *app) withClient(ctx context.Context, fn func(ctx context.Context, hc *healthclient.Client) error) error {
	if err := a.checkConfig(&a.cfg.Temporal); err != nil {
		return err
	}
	if a.timeout <= 0 {
		return fmt.Errorf("--timeout must be a positive duration such as 30s, got %s", a.timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	hc, closeClient, err := a.dial(ctx, a.cfg.Temporal)
	if err != nil {
		return err
	}
	defer closeClient()
	err = fn(ctx, hc)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%w\nno answer within %s (--timeout): is a health worker (`worker health`) running "+
			"on task queue %s of namespace %s?", err, a.timeout, a.cfg.Temporal.TaskQueue, a.cfg.Temporal.Namespace)
	}
	return err
}

// dialTemporal connects to the configured Temporal frontend.
func dialTemporal(ctx context.Context, cfg temporalclient.Config) (*healthclient.Client, func(), error) {
	// The SDK logs retries and warnings; a CLI reports errors itself.
	quiet := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	opts, err := cfg.ClientOptions()
	if err != nil {
		return nil, nil, err
	}
	opts.Logger = quiet
	opts.Identity = starterIdentity()
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, nil, connectError(cfg, err)
	}
	return healthclient.New(c), c.Close, nil
}

// starterIdentity is the client identity Temporal records with each
// signal and update the starter sends (the history's identity field): the
// operating system's user and host, which, unlike --requester, the caller
// does not type. It is only as good as the machine it runs on: Temporal
// authorizes per namespace, not per user (see the README's "Who did it").
func starterIdentity() string {
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("healthd-starter %s@%s pid %d", who, host, os.Getpid())
}

// connectError explains a failed connection: where, and what to check.
func connectError(cfg temporalclient.Config, err error) error {
	if hint := cfg.Hint(err); hint != "" {
		return fmt.Errorf("cannot connect to Temporal at %s (namespace %s): %w\n%s", cfg.Address, cfg.Namespace, err, hint)
	}
	return fmt.Errorf("cannot connect to Temporal at %s (namespace %s): %w\n"+
		"is the Temporal server running there? start one locally with `temporal server start-dev`, "+
		"or point --temporal-address (TEMPORAL_ADDRESS) at yours", cfg.Address, cfg.Namespace, err)
}

// notRegistered explains ErrNotRegistered with the command that fixes it;
// other errors pass through.
func notRegistered(clusterID string, err error) error {
	if errors.Is(err, healthclient.ErrNotRegistered) {
		return fmt.Errorf("cluster %s is not registered: run `starter register --cluster %s --policy FILE` first",
			clusterID, shellQuote(clusterID))
	}
	return err
}

// shellQuote quotes s for a POSIX shell when it holds anything but plain
// characters, so that suggested commands can be pasted.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@=+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
