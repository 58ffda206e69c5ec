package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
	"github.com/clusterhealth/healthd/workflows"
)

// timeLayout is how the CLI shows times: UTC, to the second.
const timeLayout = "2006-01-02 15:04:05 UTC"

// formatTime shows t in UTC, or "-" when it is zero.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}

// formatWhen shows t with how long ago (or in how long) it is from now.
func formatWhen(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now).Round(time.Second)
	switch {
	case d > 0:
		return fmt.Sprintf("%s (in %s)", formatTime(t), d)
	case d < 0:
		return fmt.Sprintf("%s (%s ago)", formatTime(t), -d)
	}
	return formatTime(t) + " (now)"
}

// oneLine keeps a free-text field on one table line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	return s
}

// writeStatus prints a cluster's status as a few readable tables.
func writeStatus(w io.Writer, st workflows.Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cols ...string) { fmt.Fprintln(tw, strings.Join(cols, "\t")) }

	row("Cluster:", st.ClusterID)
	row("Workflow:", fmt.Sprintf("%s (continued as new %d times)", workflows.WorkflowID(st.ClusterID), max(st.Runs-1, 0)))
	row("State:", st.State)
	checks := "disabled"
	if st.Enabled {
		checks = "enabled"
	}
	if st.EnabledNote != "" {
		checks += " (" + oneLine(st.EnabledNote) + ")"
	}
	row("Checks:", checks)
	if !st.DisabledUntil.IsZero() {
		row("Disabled until:", formatWhen(st.DisabledUntil, now))
	}
	row("Policy:", st.Registration.Summary())
	if st.Hold != nil {
		row("Recoveries:", "HELD since "+formatWhen(st.Hold.At, now)+": "+oneLine(st.Hold.Detail))
	}
	if st.LimitsNote != "" {
		row("Interval limits:", oneLine(st.LimitsNote))
	}
	if st.Rules != "" && st.Rules != triage.Current.String() {
		row("Rules:", fmt.Sprintf("%s, older than the current %s: this run keeps them until it continues as new", st.Rules, triage.Current))
	}
	row("Last round:", formatWhen(st.LastRound, now))
	if st.LastRoundError != "" {
		row("Last round failed:", oneLine(st.LastRoundError))
	}
	switch {
	case st.RoundRunning:
		row("Next round:", "a round is running now")
	case st.NextRound.IsZero():
		row("Next round:", "none scheduled")
	default:
		row("Next round:", formatWhen(st.NextRound, now))
	}
	c := st.Counters
	row("Rounds:", fmt.Sprintf("%d (missed %d, failed %d)", c.Rounds, c.MissedRounds, c.RoundErrors))
	row("Verdicts:", fmt.Sprintf("healthy %d, unhealthy %d, unknown %d, skipped %d", c.Healthy, c.Unhealthy, c.Unknown, c.Skipped))
	row("Recoveries:", fmt.Sprintf("requested %d, succeeded %d, failed %d, overdue %d, skipped %d",
		c.RecoveriesRequested, c.RecoveriesSucceeded, c.RecoveriesFailed, c.RecoveriesTimedOut, c.RecoveriesSkipped))
	requests := fmt.Sprintf("%d received, %d ignored", c.RecoverSignals, c.SignalsIgnored)
	if len(c.SignalsIgnoredBy) > 0 {
		var by []string
		for _, reason := range slices.Sorted(maps.Keys(c.SignalsIgnoredBy)) {
			by = append(by, fmt.Sprintf("%s %d", reason, c.SignalsIgnoredBy[reason]))
		}
		requests += " (" + strings.Join(by, ", ") + ")"
	}
	if c.Bursts > 0 || c.NodeBackSignals > 0 {
		requests += fmt.Sprintf("; %d settle windows judged, %d node-back signals", c.Bursts, c.NodeBackSignals)
	}
	row("Recover requests:", requests)
	if b := st.Burst; b != nil {
		row("Settling:", fmt.Sprintf("%d signals since %s, judged together %s", len(b.Events), formatWhen(b.Since, now), formatWhen(b.Until, now)))
	}
	if li := st.LastIgnored; li != nil {
		row("Last ignored:", fmt.Sprintf("%s: %s request for node %s: %s", formatWhen(li.At, now), oneLine(li.Source), oneLine(li.NodeID), oneLine(li.Detail)))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print status: %w", err)
	}

	switch sw := st.LastSweep; {
	case sw != nil:
		// The workflow lists only the nodes that are not plainly healthy.
		fmt.Fprintf(w, "\nNodes: %d at the last sweep (%s): %d healthy, %d unhealthy, %d unknown, %d skipped\n",
			sw.Nodes, formatWhen(sw.At, now), sw.Healthy, sw.Unhealthy, sw.Unknown, sw.Skipped)
		fmt.Fprintf(w, "Nodes not plainly healthy (%d)\n", len(st.Nodes))
	default:
		fmt.Fprintf(w, "\nNodes (%d)\n", len(st.Nodes))
	}
	switch {
	case len(st.Nodes) == 0 && st.LastSweep != nil:
		fmt.Fprintf(w, "  none (every node: starter status --cluster %s --all-nodes)\n", shellQuote(st.ClusterID))
	case len(st.Nodes) == 0:
		fmt.Fprintln(w, "  none seen yet")
	default:
		row("  NAME", "ID", "STATUS", "VERDICT", "SINCE", "REASON")
		for _, n := range st.Nodes {
			verdict := string(n.Verdict)
			if n.Recovering {
				verdict += " (recovering)"
			}
			row("  "+oneLine(n.Name), n.ID, oneLine(n.Status), verdict, formatWhen(n.Since, now), oneLine(n.Reason))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("print status: %w", err)
		}
	}

	if len(st.Decisions) > 0 {
		names := map[string]string{}
		for _, n := range st.Nodes {
			names[n.ID] = n.Name
		}
		fmt.Fprintf(w, "\nDecisions (%d nodes not plainly healthy)\n", len(st.Decisions))
		row("  NODE", "DECISION", "REASON", "SINCE", "DETAIL")
		for _, d := range st.Decisions {
			label := d.NodeID
			if n := names[d.NodeID]; n != "" {
				label = n
			}
			action := string(d.Action)
			if d.Operation != "" {
				action += " " + string(d.Operation)
			}
			if d.DryRun {
				action += " (dry run)"
			}
			row("  "+oneLine(label), action, d.Reason, formatWhen(d.At, now), oneLine(d.Detail))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("print status: %w", err)
		}
	}

	fmt.Fprintf(w, "\nRecoveries in flight (%d)\n", len(st.InFlight))
	if len(st.InFlight) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		row("  NODE", "ACTION", "SOURCE", "REQUESTED", "DEADLINE", "REASON")
		for _, r := range st.InFlight {
			deadline := formatWhen(r.Deadline, now)
			if r.Overdue {
				deadline = "OVERDUE since " + deadline + ", still watched"
			}
			row("  "+nodeLabel(r), oneLine(r.ActionID), oneLine(r.Source), formatWhen(r.Requested, now), deadline, oneLine(r.Reason))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("print status: %w", err)
		}
	}

	fmt.Fprintf(w, "\nRecent recoveries (%d)\n", len(st.Recent))
	if len(st.Recent) == 0 {
		fmt.Fprintln(w, "  none")
		return nil
	}
	row("  NODE", "ACTION", "SOURCE", "OUTCOME", "FINISHED", "DETAIL")
	for i := len(st.Recent) - 1; i >= 0; i-- { // newest first
		r := st.Recent[i]
		detail := r.Detail
		if detail == "" {
			detail = r.Reason
		}
		outcome := string(r.Outcome)
		if r.Overdue {
			outcome += " (overdue)"
		}
		row("  "+nodeLabel(r), oneLine(r.ActionID), oneLine(r.Source), oneLine(outcome), formatWhen(r.Finished, now), oneLine(detail))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print status: %w", err)
	}
	return nil
}

// nodeLabel names the node of a recovery: its name when known, else its ID.
func nodeLabel(r workflows.Recovery) string {
	if r.NodeName != "" {
		return oneLine(r.NodeName)
	}
	return oneLine(r.NodeID)
}

// writeList prints the registered clusters as a table.
func writeList(w io.Writer, entries []healthclient.ListEntry, now time.Time) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "no registered clusters match")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tSTATE\tCHECKS\tUNHEALTHY\tRUN STARTED\tRUN ID")
	for _, e := range entries {
		checks := "disabled"
		if e.Enabled {
			checks = "enabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", e.ClusterID, oneLine(e.State), checks, e.UnhealthyNodes, formatWhen(e.StartTime, now), e.RunID)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print list: %w", err)
	}
	return nil
}

// writeNodeViews prints every node of a cluster with its last check, as the
// store keeps them.
func writeNodeViews(w io.Writer, views []health.NodeView, sum health.SweepSummary, now time.Time) error {
	if sum.At.IsZero() {
		fmt.Fprintln(w, "Last sweep:  none recorded yet")
	} else {
		fmt.Fprintf(w, "Last sweep:  %s: %d nodes, %d healthy, %d unhealthy, %d unknown, %d skipped\n",
			formatWhen(sum.At, now), sum.Nodes, sum.Healthy, sum.Unhealthy, sum.Unknown, sum.Skipped)
	}
	fmt.Fprintf(w, "\nNodes (%d)\n", len(views))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tID\tSTATUS\tVERDICT\tSINCE\tLAST CHECK\tREASON")
	for _, v := range views {
		verdict := string(v.Verdict)
		if verdict == "" {
			verdict = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", oneLine(v.Name), oneLine(v.ID), oneLine(string(v.Status)), verdict,
			formatWhen(v.Since, now), formatWhen(v.CheckedAt, now), oneLine(v.Reason))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print nodes: %w", err)
	}
	return nil
}
