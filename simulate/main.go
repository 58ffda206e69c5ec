// Command simulate runs a health policy against a scenario in simulated time
// and prints what healthd decides, and why. It runs the real ClusterHealth
// workflow in the Temporal SDK's time-skipping test environment, which the
// production binaries (worker, starter) do not link: hence a binary of its
// own. Nothing is contacted.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/policyfile"
	"github.com/clusterhealth/healthd/internal/simulate"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command with args and returns the process exit code.
func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	root := rootCmd(out)
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(errOut, "error:", err)
		return 1
	}
	return 0
}

func rootCmd(out io.Writer) *cobra.Command {
	var policyFile, scenario string
	var check bool
	cmd := &cobra.Command{
		Use:   "simulate --scenario NAME|FILE [--policy FILE] [--check]",
		Short: "Run a policy against a scenario in simulated time and print the decisions",
		Long: `simulate runs the real ClusterHealth workflow in the Temporal SDK's
time-skipping test environment, over simulated nodes that fail, mend and
recover as the scenario says, and prints the timeline of what healthd decides
and why. Hours of simulated time take a second or so; nothing is contacted.

A scenario is a YAML file (nodes, duration, and steps: at a time, fail or mend
nodes, notify that their servers stopped or are active again as Nova does,
make their recoveries fail, disable or enable, approve, deny, clear or
maintain) or the name of a shipped one: ` + strings.Join(simulate.Shipped(), ", ") + `.
A scenario may carry its own policy; --policy replaces it ("-" reads standard
input). --check fails when the timeline differs from the scenario's expect
section.`,
		Example: `  go run ./simulate --scenario zone-outage
  go run ./simulate --scenario my-outage.yaml --policy health.yaml`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
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
				if reg, err = policyfile.Load(cmd.InOrStdin(), policyFile, simulate.ClusterID, health.Limits{}); err != nil {
					return err
				}
			} else if !ok {
				return fmt.Errorf("scenario %s has no policy: give one with --policy FILE", sc.Name)
			}
			fmt.Fprintf(out, "scenario %s: %d nodes, %s; policy: %s\n", sc.Name, sc.Nodes, time.Duration(sc.Duration), reg.Summary())
			res, err := simulate.Run(reg, sc)
			if err != nil {
				return err
			}
			if err := res.Write(out); err != nil {
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

// loadScenario reads a shipped scenario by name, or a scenario file (a name
// with a slash or a dot).
func loadScenario(name string) (simulate.Scenario, error) {
	if !strings.ContainsAny(name, "/.") {
		return simulate.LoadShipped(name)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return simulate.Scenario{}, fmt.Errorf("--scenario: %w", err)
	}
	if len(data) > policyfile.MaxSize {
		return simulate.Scenario{}, fmt.Errorf("--scenario: %s is larger than %d bytes", name, policyfile.MaxSize)
	}
	return simulate.Parse(data)
}
