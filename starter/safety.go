package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/simulate"
	"github.com/clusterhealth/healthd/workflows"
)

// nodeDecisionCmd builds approve, deny and clear: an update about one node
// that answers with the decision it led to.
func (a *app) nodeDecisionCmd(use, short, long, example string,
	call func(*healthclient.Client, context.Context, string, workflows.NodeRequest) (workflows.UpdateResult, error)) *cobra.Command {
	var cluster, node, reason string
	cmd := &cobra.Command{
		Use:     use + " --cluster ID --node NODE",
		Short:   short,
		Long:    long,
		Example: example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkCluster(cluster); err != nil {
				return err
			}
			if strings.TrimSpace(node) == "" {
				return errors.New("--node must not be empty")
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, hc *healthclient.Client) error {
				res, err := call(hc, ctx, cluster, workflows.NodeRequest{NodeID: node, Requester: a.requester, Reason: reason})
				if err != nil {
					return notRegistered(cluster, err)
				}
				fmt.Fprintf(a.out, "node %s of cluster %s: %s (%s)\n", node, cluster, oneLine(res.Decision.Detail), res.Decision.Action)
				return nil
			})
		},
	}
	clusterFlag(cmd, &cluster)
	cmd.Flags().StringVar(&node, "node", "", "ID of the node")
	_ = cmd.MarkFlagRequired("node")
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the node's decision and the timeline")
	return cmd
}

func (a *app) approveCmd() *cobra.Command {
	return a.nodeDecisionCmd("approve", "Let a recovery waiting for approval go ahead",
		`approve answers a recovery that waits for an operator (its operation is listed
under properties.healthd.approval.operations): it is asked of the engine now.
It is refused when no recovery of the node waits.`,
		`  starter approve --cluster c1 --node 6f1c2f0e-node-id --reason "host checked"`,
		(*healthclient.Client).Approve)
}

func (a *app) denyCmd() *cobra.Command {
	return a.nodeDecisionCmd("deny", "Refuse a recovery waiting for approval",
		`deny refuses a recovery that waits for an operator; the node then needs a human,
and gets no automatic recovery until "starter clear".`,
		`  starter deny --cluster c1 --node 6f1c2f0e-node-id --reason "investigating"`,
		(*healthclient.Client).Deny)
}

func (a *app) clearCmd() *cobra.Command {
	return a.nodeDecisionCmd("clear", "Let automatic recovery of a node resume",
		`clear is for a node that needs a human (its recoveries failed again and again,
it failed again after the last escalation step, or its recovery was denied)
or that is quarantined for flapping: its escalation starts over and automatic
recovery resumes. It is refused for a node that needs no clearing.`,
		`  starter clear --cluster c1 --node 6f1c2f0e-node-id --reason "disk replaced"`,
		(*healthclient.Client).Clear)
}

func (a *app) maintainCmd() *cobra.Command {
	var cluster, node, reason string
	var forDur time.Duration
	var indefinite, end bool
	cmd := &cobra.Command{
		Use:   "maintain --cluster ID --node NODE",
		Short: "Put one node in maintenance, or end it",
		Long: `maintain holds one node's recoveries back while it is worked on: its checks go
on and are shown, but its failures recover nothing. The maintenance ends after
--for, or after the policy's pause_max (a day by default) unless --indefinite,
or with --end.`,
		Example: `  starter maintain --cluster c1 --node 6f1c2f0e-node-id --for 2h --reason "kernel upgrade"
  starter maintain --cluster c1 --node 6f1c2f0e-node-id --end`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkCluster(cluster); err != nil {
				return err
			}
			if strings.TrimSpace(node) == "" {
				return errors.New("--node must not be empty")
			}
			r := workflows.MaintainRequest{NodeID: node, Requester: a.requester, Reason: reason, Indefinite: indefinite, End: end}
			if cmd.Flags().Changed("for") {
				secs, err := forSeconds(forDur)
				if err != nil {
					return err
				}
				r.ForSeconds = secs
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, hc *healthclient.Client) error {
				res, err := hc.Maintain(ctx, cluster, r)
				if err != nil {
					return notRegistered(cluster, err)
				}
				fmt.Fprintf(a.out, "node %s of cluster %s: %s\n", node, cluster, oneLine(res.Decision.Detail))
				return nil
			})
		},
	}
	clusterFlag(cmd, &cluster)
	cmd.Flags().StringVar(&node, "node", "", "ID of the node")
	_ = cmd.MarkFlagRequired("node")
	cmd.Flags().StringVar(&reason, "reason", "", "why, shown in status")
	cmd.Flags().DurationVar(&forDur, "for", 0, "end the maintenance after this long (a Go duration such as 30m or 2h)")
	cmd.Flags().BoolVar(&indefinite, "indefinite", false, "keep the maintenance until --end, however long")
	cmd.Flags().BoolVar(&end, "end", false, "end the node's maintenance")
	cmd.MarkFlagsMutuallyExclusive("for", "indefinite", "end")
	return cmd
}

// forSeconds turns a --for duration into the whole seconds a signal or an
// update carries.
func forSeconds(d time.Duration) (int, error) {
	if d < time.Second {
		return 0, fmt.Errorf("--for must be a duration of at least 1s such as 30m or 2h, got %s", d)
	}
	if d > health.MaxPauseSeconds*time.Second {
		return 0, fmt.Errorf("--for must be at most %s (366 days), got %s", health.MaxPauseSeconds*time.Second, d)
	}
	return int(math.Ceil(d.Seconds())), nil
}

func (a *app) simulateCmd() *cobra.Command {
	var policyFile, scenario string
	var check bool
	cmd := &cobra.Command{
		Use:   "simulate --scenario NAME|FILE [--policy FILE]",
		Short: "Run a policy against a scenario in simulated time and print the decisions",
		Long: `simulate runs the real ClusterHealth workflow in the Temporal SDK's
time-skipping test environment, over simulated nodes that fail, mend and
recover as the scenario says, and prints the timeline of what healthd decides
and why. Hours of simulated time take a second or so; nothing is contacted.

A scenario is a YAML file (nodes, duration, and steps: at a time, fail or mend
nodes, notify that their servers stopped or are active again as Nova does,
make their recoveries fail, disable or enable, approve, deny, clear or
maintain) or the name of a shipped one: ` + strings.Join(simulate.Shipped(), ", ") + `.
A scenario may carry its own policy; --policy replaces it. --check fails when
the timeline differs from the scenario's expect section.`,
		Example: `  starter simulate --scenario zone-outage
  starter simulate --scenario my-outage.yaml --policy health.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, err := loadScenario(scenario)
			if err != nil {
				return err
			}
			reg, ok, err := sc.Registration()
			if err != nil {
				return err
			}
			if policyFile != "" {
				if reg, err = a.loadRegistration(cmd, simulate.ClusterID, policyFile); err != nil {
					return err
				}
			} else if !ok {
				return fmt.Errorf("scenario %s has no policy: give one with --policy FILE", sc.Name)
			}
			fmt.Fprintf(a.out, "scenario %s: %d nodes, %s; policy: %s\n", sc.Name, sc.Nodes, time.Duration(sc.Duration), reg.Summary())
			res, err := simulate.Run(reg, sc)
			if err != nil {
				return err
			}
			if err := res.Write(a.out); err != nil {
				return err
			}
			if check {
				return res.Check(sc)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&scenario, "scenario", "", "a shipped scenario's name, or a scenario file")
	_ = cmd.MarkFlagRequired("scenario")
	cmd.Flags().StringVar(&policyFile, "policy", "", "Senlin health policy spec, YAML or JSON, in place of the scenario's own")
	cmd.Flags().BoolVar(&check, "check", false, "fail when the timeline differs from the scenario's expect section")
	return cmd
}

func loadScenario(name string) (simulate.Scenario, error) {
	if !strings.ContainsAny(name, "/.") {
		return simulate.LoadShipped(name)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return simulate.Scenario{}, fmt.Errorf("--scenario: %w", err)
	}
	if len(data) > maxPolicySize {
		return simulate.Scenario{}, fmt.Errorf("--scenario: %s is larger than %d bytes", name, maxPolicySize)
	}
	return simulate.Parse(data)
}
