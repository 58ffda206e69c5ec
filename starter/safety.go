package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/health"
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

// simulateCmd points at the simulate binary: simulation runs the workflow in
// the SDK's test environment, which the starter does not link.
func (a *app) simulateCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "simulate",
		Short:              "Moved: run go run ./simulate (or the simulate binary)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("simulate is a binary of its own: go run ./simulate --scenario NAME|FILE [--policy FILE] " +
				"(it runs the workflow in the Temporal SDK's test environment, which the starter does not link)")
		},
	}
}
