package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
)

// maxEventLimit bounds --limit: a timeline longer than this is better read
// with --since or SQL.
const maxEventLimit = 100_000

// undefinedTable is Postgres's SQLSTATE for a missing table.
const undefinedTable = "42P01"

func (a *app) eventsCmd(database *pflag.FlagSet) *cobra.Command {
	var cluster, node, since string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "events --cluster ID",
		Short: "Show a cluster's health event timeline",
		Long: `events prints the incident timeline of a cluster from the health_events table:
each change of a node's verdict and each recovery the workflow asked for, one
line each with its time, node, verdict change, recovery action ID and reason.
The newest event comes last. --json prints the same events as a JSON array.

It reads Postgres, not Temporal: it needs DATABASE_URL (or --database-url),
the database the health worker writes to, and works while the workflow is not
running. Only the newest --limit events are shown.`,
		Example: `  starter events --cluster c1
  starter events --cluster c1 --node 6f1c2f0e-node-id --since 24h
  starter events --cluster c1 --since 90m --json | jq -r '.[].reason'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkCluster(cluster); err != nil {
				return err
			}
			if cmd.Flags().Changed("node") && strings.TrimSpace(node) == "" {
				return errors.New("--node must not be empty")
			}
			f := store.HealthEventFilter{ClusterID: cluster, NodeID: node, Limit: limit}
			if cmd.Flags().Changed("since") {
				d, err := parseSince(since)
				if err != nil {
					return err
				}
				f.Since = a.now().Add(-d)
			}
			if limit < 1 || limit > maxEventLimit {
				return fmt.Errorf("--limit must be between 1 and %d, got %d", maxEventLimit, limit)
			}
			events, err := a.healthEvents(cmd.Context(), f)
			if err != nil {
				return err
			}
			if asJSON {
				if events == nil {
					events = []health.HealthEvent{}
				}
				return writeJSON(a.out, events)
			}
			if err := writeEvents(a.out, events); err != nil {
				return err
			}
			if len(events) == limit {
				fmt.Fprintf(a.errOut, "showing the newest %d events: older ones may exist (raise --limit or narrow --since)\n", limit)
			}
			return nil
		},
	}
	clusterFlag(cmd, &cluster)
	cmd.Flags().StringVar(&node, "node", "", "only the events of this node ID")
	cmd.Flags().StringVar(&since, "since", "", "only the events of this last while, a Go duration such as 90m or 24h")
	cmd.Flags().IntVar(&limit, "limit", store.DefaultHealthEventLimit, fmt.Sprintf("show at most this many events, the newest (1 to %d)", maxEventLimit))
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the events as a JSON array")
	cmd.Flags().AddFlagSet(database)
	return cmd
}

// parseSince reads --since: a positive Go duration.
func parseSince(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--since must be a positive Go duration such as 90m or 24h, got %q", s)
	}
	return d, nil
}

// healthEvents reads the events of the timeline that match f.
func (a *app) healthEvents(ctx context.Context, f store.HealthEventFilter) ([]health.HealthEvent, error) {
	var events []health.HealthEvent
	err := a.withStore(ctx, func(ctx context.Context, st *store.Store) (err error) {
		events, err = st.HealthTimeline(ctx, f)
		return err
	})
	return events, err
}

// withStore checks the database setting, connects and runs fn within
// --timeout. Errors name the database by its redacted URL only.
func (a *app) withStore(ctx context.Context, fn func(context.Context, *store.Store) error) error {
	if err := a.checkConfig(&a.cfg.Database); err != nil {
		return err
	}
	if a.timeout <= 0 {
		return fmt.Errorf("--timeout must be a positive duration such as 30s, got %s", a.timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	where := a.cfg.Database.RedactedURL()
	st, err := store.Open(ctx, a.cfg.Database.URL)
	if err != nil {
		return fmt.Errorf("cannot connect to the database at %s: %w\n"+
			"point --database-url (DATABASE_URL) at the database the health worker uses", where, err)
	}
	defer st.Close()
	err = fn(ctx, st)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == undefinedTable {
		return fmt.Errorf("%w\nthe database at %s has no healthd tables: is it the health worker's? "+
			"`worker migrate` creates them", err, where)
	}
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%w\nno answer from the database at %s within %s (--timeout)", err, where, a.timeout)
	}
	return err
}

// writeEvents prints a timeline as a table, one event a line, oldest first.
func writeEvents(w io.Writer, events []health.HealthEvent) error {
	if len(events) == 0 {
		_, err := fmt.Fprintln(w, "no health events match")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tNODE\tCHANGE\tACTION\tREASON")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", formatTime(e.At), oneLine(e.NodeID),
			oneLine(string(e.From))+" → "+oneLine(string(e.To)), oneLine(e.ActionID), oneLine(e.Reason))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print events: %w", err)
	}
	return nil
}
