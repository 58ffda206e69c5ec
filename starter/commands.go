package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/openstack"
	"github.com/clusterhealth/healthd/internal/policyfile"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/workflows"
)

// loadRegistration reads, parses and validates a policy file against the
// configured interval limits and makes it the registration of clusterID.
// "-" reads standard input.
func (a *app) loadRegistration(cmd *cobra.Command, clusterID, file string) (health.Registration, error) {
	if err := a.checkConfig(&a.cfg.Limits); err != nil {
		return health.Registration{}, err
	}
	lim := health.Limits{IntervalMin: a.cfg.Limits.IntervalMin, IntervalMax: a.cfg.Limits.IntervalMax}
	return policyfile.Load(cmd.InOrStdin(), file, clusterID, lim)
}

// clusterFlag adds the --cluster flag, required.
func clusterFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "cluster", "", "ID of the cluster (the engine's cluster ID)")
	_ = cmd.MarkFlagRequired("cluster")
}

// policyFlag adds the --policy flag, required.
func policyFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "policy", "", `Senlin health policy spec, YAML or JSON ("-" reads standard input)`)
	_ = cmd.MarkFlagRequired("policy")
}

// checkCluster rejects a --cluster value that is empty or breaks
// health.ClusterIDRule, before any server is contacted.
func checkCluster(id string) error {
	if strings.TrimSpace(id) == "" {
		return errors.New("--cluster must not be empty")
	}
	if err := health.CheckClusterID(id); err != nil {
		return fmt.Errorf("--cluster: %w", err)
	}
	return nil
}

func (a *app) validateCmd() *cobra.Command {
	var file, cluster string
	cmd := &cobra.Command{
		Use:   "validate --policy FILE",
		Short: "Check a health policy spec and print the registration it makes",
		Long: `validate reads a Senlin health policy spec (type senlin.policy.health,
versions 1.0 to 1.2, YAML or JSON), checks it, and prints the normalised
registration as JSON: every default filled in, as the ClusterHealth workflow
would receive it. It needs no server.

When the spec is not valid it lists every problem, one per line, each with the
path of the item at fault (for example properties.detection.interval), and
exits 1. The interval bounds come from HEALTH_CHECK_INTERVAL_MIN and
CHECK_INTERVAL_MAX (or their flags).`,
		Example: `  starter validate --policy health.yaml
  starter validate --policy health.json --cluster c1
  cat health.yaml | starter validate --policy -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("cluster") {
				if err := checkCluster(cluster); err != nil {
					return err
				}
			}
			reg, err := a.loadRegistration(cmd, cluster, file)
			if err != nil {
				return err
			}
			return writeJSON(a.out, reg)
		},
	}
	policyFlag(cmd, &file)
	cmd.Flags().StringVar(&cluster, "cluster", "", "cluster ID to put in the registration (optional)")
	return cmd
}

func (a *app) registerCmd(database *pflag.FlagSet) *cobra.Command {
	var file, cluster, novaProject, members string
	var disabled bool
	cmd := &cobra.Command{
		Use:   "register --cluster ID --policy FILE",
		Short: "Start watching a cluster's health",
		Long: `register validates the policy as validate does (nothing is registered when it
is not valid), then starts the cluster's ClusterHealth workflow. The first
round of checks runs at once.

Registering a cluster that is already registered does not start a second
workflow: the running one receives the policy, as with update. A cluster
unregistered earlier gets a new workflow run.

With --nova-project, the cluster is one of Nova servers kept by the engine's
openstack driver (ENGINE_DRIVER=openstack): register first writes the
cluster's row into the engine contract's database (DATABASE_URL), and the
driver makes a node of each server of that project whose metadata says
cluster_id=<the cluster's ID> (as Senlin tags its servers). With --members,
the servers of that project that a Nova server group or a Heat stack holds
instead: server-group:<ID> or heat-stack:<name>/<ID>.`,
		Example: `  starter register --cluster c1 --policy health.yaml
  starter register --cluster c1 --policy health.yaml --disabled   # enable later
  starter register --cluster web --policy health.yaml --nova-project 4f3c...   # servers with metadata cluster_id=web
  starter register --cluster db --policy health.yaml --nova-project 4f3c... --members server-group:9a1e...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkCluster(cluster); err != nil {
				return err
			}
			reg, err := a.loadRegistration(cmd, cluster, file)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("members") && !cmd.Flags().Changed("nova-project") {
				return errors.New("--members: needs --nova-project (the project whose servers may be members)")
			}
			if cmd.Flags().Changed("nova-project") {
				if err := health.CheckID("--nova-project", novaProject, true); err != nil {
					return err
				}
				m, err := openstack.ParseMembers("--members", members)
				if err != nil {
					return err
				}
				err = a.withStore(cmd.Context(), func(ctx context.Context, st *store.Store) error {
					return st.UpsertCluster(ctx, health.Cluster{ID: cluster, Name: cluster, Project: novaProject,
						ProfileType: health.NovaServerProfile, Members: m.String()})
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "cluster %s: %s, of project %s\n", cluster, m.Describe(cluster), novaProject)
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, hc *healthclient.Client) error {
				runID, err := hc.Register(ctx, reg, healthclient.RegisterOptions{Disabled: disabled, TaskQueue: a.cfg.Temporal.TaskQueue})
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "registered cluster %s: %s\n", cluster, reg.Summary())
				fmt.Fprintf(a.out, "workflow id: %s\nrun id:      %s\n", workflows.WorkflowID(cluster), runID)
				if disabled {
					fmt.Fprintf(a.out, "checks are off until `starter enable --cluster %s`\n", shellQuote(cluster))
				}
				return nil
			})
		},
	}
	clusterFlag(cmd, &cluster)
	policyFlag(cmd, &file)
	cmd.Flags().BoolVar(&disabled, "disabled", false, "register with checks off (only when this starts the workflow)")
	cmd.Flags().StringVar(&novaProject, "nova-project", "", "the cluster is the Nova servers of this project (ID) whose metadata says cluster_id=<cluster>, kept by ENGINE_DRIVER=openstack; writes its row into DATABASE_URL")
	cmd.Flags().StringVar(&members, "members", "", "with --nova-project: which servers of the project form the cluster: server-group:<ID> or heat-stack:<name>/<ID> (default: those with metadata cluster_id=<cluster>)")
	cmd.Flags().AddFlagSet(database)
	return cmd
}

func (a *app) updateCmd() *cobra.Command {
	var file, cluster string
	cmd := &cobra.Command{
		Use:   "update --cluster ID --policy FILE",
		Short: "Replace a registered cluster's health policy",
		Long: `update validates the policy as validate does, then hands it to the cluster's
running workflow. The workflow keeps its state: enabled or not, node verdicts,
recoveries in flight. The next round follows the new interval, counted from
the last round.`,
		Example: `  starter update --cluster c1 --policy health-v2.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkCluster(cluster); err != nil {
				return err
			}
			reg, err := a.loadRegistration(cmd, cluster, file)
			if err != nil {
				return err
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, hc *healthclient.Client) error {
				if err := hc.Update(ctx, reg); err != nil {
					return notRegistered(cluster, err)
				}
				fmt.Fprintf(a.out, "updated the policy of cluster %s: %s\n", cluster, reg.Summary())
				return nil
			})
		},
	}
	clusterFlag(cmd, &cluster)
	policyFlag(cmd, &file)
	return cmd
}

func (a *app) unregisterCmd() *cobra.Command {
	var cluster, reason string
	cmd := &cobra.Command{
		Use:   "unregister --cluster ID",
		Short: "Stop watching a cluster's health",
		Long: `unregister ends the cluster's workflow cleanly: no more rounds, no more
recoveries. Recoveries already requested are left to the engine. Register the
cluster again to resume.`,
		Example: `  starter unregister --cluster c1 --reason "cluster deleted"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkCluster(cluster); err != nil {
				return err
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, hc *healthclient.Client) error {
				err := hc.Unregister(ctx, cluster, workflows.UnregisterSignal{Requester: a.requester, Reason: reason})
				if errors.Is(err, healthclient.ErrNotRegistered) {
					return fmt.Errorf("cluster %s is not registered: nothing to unregister", cluster)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "unregistered cluster %s: its workflow ends\n", cluster)
				return nil
			})
		},
	}
	clusterFlag(cmd, &cluster)
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the workflow's history and logs")
	return cmd
}

func (a *app) enableCmd() *cobra.Command {
	var cluster, reason string
	var all bool
	cmd := &cobra.Command{
		Use:   "enable --cluster ID",
		Short: "Turn a cluster's health checks on",
		Long: `enable lifts your own pause of the cluster (the one your "starter disable"
made; you are the OS user). Checks resume when no pause is left: a round runs
at once, then rounds follow the policy's interval. Another requester's pause
(the engine's during a scale-in, a colleague's) stays until it is lifted or
expires; --all lifts every pause. Enabling a cluster whose checks are on
changes nothing.`,
		Example: `  starter enable --cluster c1 --reason "maintenance over"
  starter enable --cluster c1 --all --reason "the engine's pause outlived its operation"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkCluster(cluster); err != nil {
				return err
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, hc *healthclient.Client) error {
				if err := hc.Enable(ctx, cluster, workflows.EnableSignal{Requester: a.requester, Reason: reason, All: all}); err != nil {
					return notRegistered(cluster, err)
				}
				fmt.Fprintf(a.out, "lifted the pause of %s on cluster %s; checks resume when no pause is left (see `starter status --cluster %s`)\n",
					map[bool]string{true: "every requester", false: a.requester}[all], cluster, shellQuote(cluster))
				return nil
			})
		},
	}
	clusterFlag(cmd, &cluster)
	cmd.Flags().StringVar(&reason, "reason", "", "why, shown in status")
	cmd.Flags().BoolVar(&all, "all", false, "lift every requester's pause, not only yours")
	return cmd
}

func (a *app) disableCmd() *cobra.Command {
	var cluster, reason string
	var forDur time.Duration
	var indefinite bool
	cmd := &cobra.Command{
		Use:   "disable --cluster ID",
		Short: "Turn a cluster's health checks off",
		Long: `disable pauses the cluster's checks in your name: no rounds, and recover
requests are ignored, until you enable again (or --all). Every pause expires,
so a forgotten maintenance window does not leave a cluster unwatched: after
--for, or after the policy's pause_max (a day by default) unless --indefinite.`,
		Example: `  starter disable --cluster c1 --reason "rolling upgrade" --for 30m
  starter disable --cluster c1 --reason "decommissioning"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkCluster(cluster); err != nil {
				return err
			}
			s := workflows.DisableSignal{Requester: a.requester, Reason: reason, Indefinite: indefinite}
			if cmd.Flags().Changed("for") {
				secs, err := forSeconds(forDur)
				if err != nil {
					return err
				}
				s.ForSeconds = secs
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, hc *healthclient.Client) error {
				if err := hc.Disable(ctx, cluster, s); err != nil {
					return notRegistered(cluster, err)
				}
				if s.ForSeconds > 0 {
					until := a.now().Add(time.Duration(s.ForSeconds) * time.Second)
					fmt.Fprintf(a.out, "disabled health checks of cluster %s for %s: they resume by themselves at about %s\n",
						cluster, forDur, formatTime(until))
				} else if indefinite {
					fmt.Fprintf(a.out, "disabled health checks of cluster %s until `starter enable --cluster %s`\n", cluster, shellQuote(cluster))
				} else {
					fmt.Fprintf(a.out, "disabled health checks of cluster %s until `starter enable --cluster %s`, or the policy's pause_max (a day by default)\n",
						cluster, shellQuote(cluster))
				}
				return nil
			})
		},
	}
	clusterFlag(cmd, &cluster)
	cmd.Flags().StringVar(&reason, "reason", "", "why, shown in status")
	cmd.Flags().DurationVar(&forDur, "for", 0, "turn checks back on after this long (a Go duration such as 30m or 2h)")
	cmd.Flags().BoolVar(&indefinite, "indefinite", false, "keep the pause until enable, however long (not bounded by pause_max)")
	cmd.MarkFlagsMutuallyExclusive("for", "indefinite")
	return cmd
}

func (a *app) recoverCmd() *cobra.Command {
	var cluster, node, reason string
	cmd := &cobra.Command{
		Use:   "recover --cluster ID --node NODE",
		Short: "Ask for the recovery of one node",
		Long: `recover asks the cluster's workflow to recover one node now, with the policy's
recovery action, as a lifecycle notification would. The workflow ignores the
request while checks are disabled and when the node is already recovering;
"starter status" shows what happened (the recoveries in flight and recent
ones).`,
		Example: `  starter recover --cluster c1 --node 6f1c2f0e-node-id --reason "kernel panic on console"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkCluster(cluster); err != nil {
				return err
			}
			if strings.TrimSpace(node) == "" {
				return errors.New("--node must not be empty")
			}
			s := health.RecoverSignal{
				NodeID:    node,
				Event:     reason,
				Publisher: a.requester,
				Timestamp: a.now().UTC().Format(time.RFC3339),
				Source:    "operator",
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, hc *healthclient.Client) error {
				if err := hc.Recover(ctx, cluster, s); err != nil {
					return notRegistered(cluster, err)
				}
				fmt.Fprintf(a.out, "asked cluster %s to recover node %s; see `starter status --cluster %s`\n",
					cluster, node, shellQuote(cluster))
				return nil
			})
		},
	}
	clusterFlag(cmd, &cluster)
	cmd.Flags().StringVar(&node, "node", "", "ID of the node to recover")
	_ = cmd.MarkFlagRequired("node")
	cmd.Flags().StringVar(&reason, "reason", "", "why, shown in the recovery's reason")
	return cmd
}

func (a *app) statusCmd(database *pflag.FlagSet) *cobra.Command {
	var cluster string
	var asJSON, allNodes bool
	cmd := &cobra.Command{
		Use:   "status --cluster ID",
		Short: "Show a cluster's health",
		Long: `status asks the cluster's workflow for its state: the health state, whether
checks are on and why, the next round, counters since registration, each
node's verdict with its reason and since when, and the recoveries in flight
and recent ones. --json prints the whole answer as JSON.

The workflow lists only the nodes that are not plainly healthy (a healthy
round costs the same whatever the cluster's size); --all-nodes reads every
node and its last check from Postgres instead (DATABASE_URL, or
--database-url).`,
		Example: `  starter status --cluster c1
  starter status --cluster c1 --json | jq '.nodes[] | select(.verdict != "healthy")'
  starter status --cluster c1 --all-nodes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkCluster(cluster); err != nil {
				return err
			}
			if allNodes {
				return a.withStore(cmd.Context(), func(ctx context.Context, st *store.Store) error {
					views, sum, err := st.NodeViews(ctx, cluster)
					if err != nil {
						return err
					}
					if asJSON {
						return writeJSON(a.out, map[string]any{"cluster_id": cluster, "last_sweep": sum, "nodes": views})
					}
					return writeNodeViews(a.out, views, sum, a.now())
				})
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, hc *healthclient.Client) error {
				st, err := hc.Status(ctx, cluster)
				if err != nil {
					return notRegistered(cluster, err)
				}
				if asJSON {
					return writeJSON(a.out, st)
				}
				return writeStatus(a.out, st, a.now())
			})
		},
	}
	clusterFlag(cmd, &cluster)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	cmd.Flags().BoolVar(&allNodes, "all-nodes", false, "list every node with its last check, from Postgres")
	cmd.Flags().AddFlagSet(database)
	return cmd
}

func (a *app) listCmd() *cobra.Command {
	var state string
	var enabled, disabled, asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the registered clusters",
		Long: `list shows every registered cluster with its health state, whether checks are
on, and its number of unhealthy nodes, from Temporal's visibility store (which
may lag a second or so behind). Filter by state with --state (` + strings.Join(workflows.HealthStates, ", ") + `)
and by --enabled or --disabled.`,
		Example: `  starter list
  starter list --state degraded
  starter list --disabled --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var f healthclient.ListFilter
			if state != "" {
				if !slices.Contains(workflows.HealthStates, state) {
					return fmt.Errorf("--state %q is not a health state: use one of %s", state, strings.Join(workflows.HealthStates, ", "))
				}
				f.State = state
			}
			switch {
			case enabled:
				f.Enabled = &enabled
			case disabled:
				no := false
				f.Enabled = &no
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, hc *healthclient.Client) error {
				entries, err := hc.List(ctx, f)
				if err != nil {
					return err
				}
				if asJSON {
					if entries == nil {
						entries = []healthclient.ListEntry{}
					}
					return writeJSON(a.out, entries)
				}
				return writeList(a.out, entries, a.now())
			})
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only clusters in this health state")
	cmd.Flags().BoolVar(&enabled, "enabled", false, "only clusters whose checks are on")
	cmd.Flags().BoolVar(&disabled, "disabled", false, "only clusters whose checks are off")
	cmd.MarkFlagsMutuallyExclusive("enabled", "disabled")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	return cmd
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("print json: %w", err)
	}
	return nil
}
