package workflows

import (
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/triage"
)

func (w *clusterHealth) scheduleRound(ctx workflow.Context, d time.Duration) {
	w.cancelRoundTimer()
	w.st.NextRound = workflow.Now(ctx).Add(d)
	tctx, cancel := workflow.WithCancel(ctx)
	w.cancelTmr = cancel
	w.roundTimer = workflow.NewTimerWithOptions(tctx, d, workflow.TimerOptions{Summary: "next round"})
}

func (w *clusterHealth) cancelRoundTimer() {
	if w.cancelTmr != nil {
		w.cancelTmr()
	}
	w.cancelTmr, w.roundTimer = nil, nil
	w.st.NextRound = time.Time{}
}

func (w *clusterHealth) startRound(ctx workflow.Context) {
	due := w.st.NextRound
	w.cancelRoundTimer()
	if !w.reg.Polling() {
		return
	}
	start := workflow.Now(ctx)
	if due.IsZero() || due.After(start) {
		due = start
	}
	if w.st.GridOrigin.IsZero() {
		w.st.GridOrigin = start
		if w.does().RoundPhases {
			// The first round runs now, in the slot of the phase's grid
			// that it fills.
			due = w.phaseGrid(start)
		}
	}
	w.st.LastRound = start
	w.roundBusy = true
	reg := w.reg
	var watch []string
	if w.does().Watch {
		watch = w.watchList()
	}
	exceptions := w.does().Watch
	local := w.does().LocalSweeps && w.st.LastSweep != nil && w.st.LastSweepTook <= LocalSweepMax
	workflow.Go(ctx, func(gctx workflow.Context) {
		o := runRound(gctx, reg, exceptions, local, watch)
		o.start, o.due = start, due
		w.roundDone.Send(gctx, o)
	})
}

// runRound is one polling round: one sweep activity over every node, then one
// pause and per-node confirmations for nodes whose poll URL failed while more
// attempts are allowed, then the final verdicts with the grace period applied.
//
// With exceptions (runs with the decision core), the sweep returns only the
// nodes that are not plainly healthy, changed, or are watched, and a summary:
// a healthy round costs the same whatever the cluster's size. With local,
// the sweep runs as a local activity: in the workflow task the round's timer
// woke, recorded as one marker.
func runRound(ctx workflow.Context, reg health.Registration, exceptions, local bool, watch []string) roundOutcome {
	var res activities.CheckClusterResult
	in := activities.CheckClusterInput{ClusterID: reg.ClusterID, Modes: pollingModes(reg), Conditional: reg.RecoveryConditional,
		StatusMaxAge: reg.StatusMaxAge(), Exceptions: exceptions, Watch: watch}
	if exceptions {
		in.Grace = reg.Grace()
	}
	if local {
		if err := workflow.ExecuteLocalActivity(localSweepOptions(ctx, reg), a.CheckCluster, in).Get(ctx, &res); err != nil {
			// Given up within LocalSweepTimeout: sweep again as an
			// activity, which answers queries while it runs.
			workflow.GetLogger(ctx).Info("local sweep given up; sweeping as an activity", "cluster_id", reg.ClusterID, "error", err.Error())
			res, local = activities.CheckClusterResult{}, false
		}
	}
	if !local {
		if err := workflow.ExecuteActivity(sweepOptions(ctx, reg), a.CheckCluster, in).Get(ctx, &res); err != nil {
			return roundOutcome{err: err}
		}
	}
	if res.ClusterMissing {
		return roundOutcome{result: res}
	}
	// Confirm suspects: Senlin's remaining URL attempts, as one Temporal retry
	// policy per node so every attempt and the last failure show in the UI.
	type suspect struct {
		node, result int
		f            workflow.Future
	}
	var suspects []suspect
	if m, ok := reg.Mode(health.NodeStatusPollURL); ok {
		for i, n := range res.Nodes {
			for j, r := range n.Results {
				if r.Suspect {
					suspects = append(suspects, suspect{node: i, result: j})
				}
			}
		}
		if len(suspects) > 0 {
			_ = workflow.NewTimerWithOptions(ctx, m.RetryInterval(), workflow.TimerOptions{Summary: "poll URL retry interval"}).Get(ctx, nil)
			for k, s := range suspects {
				n := res.Nodes[s.node]
				in := activities.ConfirmNodeURLInput{ClusterID: reg.ClusterID, NodeID: n.ID, NodeName: n.Name, Mode: m}
				suspects[k].f = workflow.ExecuteActivity(confirmOptions(ctx, m, n.Name), a.ConfirmNodeURL, in)
			}
			for _, s := range suspects {
				r := &res.Nodes[s.node].Results[s.result]
				r.Suspect = false
				var c activities.ConfirmNodeURLResult
				err := s.f.Get(ctx, &c)
				var appErr *temporal.ApplicationError
				switch {
				case err == nil:
					r.Verdict, r.Detail = health.Healthy, c.Detail
				case errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeNodeURLUnhealthy:
					r.Verdict = health.Unhealthy
					r.Detail = fmt.Sprintf("%d attempts failed, last: %s", m.Attempts(), appErr.Message())
				default:
					r.Verdict, r.Detail = health.Unknown, "confirmation could not run: "+err.Error()
				}
			}
		}
	}
	now := workflow.Now(ctx)
	out := roundOutcome{result: res, verdicts: make([]verdict, len(res.Nodes))}
	for i, n := range res.Nodes {
		if n.Verdict != "" {
			out.verdicts[i] = verdict{v: n.Verdict, reason: n.Reason, inGrace: n.InGrace} // judged by the sweep
			continue
		}
		// Not judged yet: a node confirmed above, or a sweep of a run
		// without exceptions, or one recorded before sweeps judged.
		j := triage.JudgeNode(reg.RecoveryConditional, reg.Grace(), n.Status, n.Results, n.LastUpdate, now)
		out.verdicts[i] = verdict{v: j.Verdict, reason: j.Reason, inGrace: j.InGrace}
	}
	return out
}

func pollingModes(reg health.Registration) []health.DetectionMode {
	var ms []health.DetectionMode
	for _, m := range reg.DetectionModes {
		if m.Type.IsPolling() {
			ms = append(ms, m)
		}
	}
	return ms
}

func (w *clusterHealth) onRoundDone(ctx workflow.Context, o roundOutcome) {
	w.roundBusy = false
	w.roundsRun++
	w.st.Counters.Rounds++
	workflow.GetMetricsHandler(ctx).Counter(MetricRounds).Inc(1)
	now := workflow.Now(ctx)
	cid := w.reg.ClusterID
	switch {
	case o.err != nil:
		w.st.Counters.RoundErrors++
		w.st.LastRoundError = o.err.Error()
		w.logger.Warn("health check round failed", "cluster_id", cid, "error", o.err)
	case o.result.ClusterMissing:
		w.st.MissingRounds++
		w.logger.Warn("cluster is not found", "cluster_id", cid, "missing_rounds", w.st.MissingRounds)
		if w.st.MissingRounds >= missingClusterLimit {
			w.logger.Error("cluster has been missing for too many rounds, unregistering", "cluster_id", cid, "rounds", w.st.MissingRounds)
			w.done = true
			return
		}
	default:
		w.st.MissingRounds = 0
		w.st.LastRoundError = ""
		w.st.Cluster = o.result.Cluster
		w.applyVerdicts(ctx, o, now)
	}
	// Chase up: the next round starts at the next point of the grid; the
	// points the round overran, or passed before it could start, are skipped
	// and counted. Runs recorded before the grid kept its origin measured the
	// grid from each round's actual start, so that the rounds drifted by each
	// round's start latency and a late start was not counted as missed.
	interval := w.reg.RoundInterval()
	var missed int64
	var next time.Time
	if workflow.GetVersion(ctx, "round-grid-origin", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		if elapsed := now.Sub(o.start); elapsed > 0 {
			missed = int64((elapsed - time.Nanosecond) / interval)
		}
		next = o.start.Add(time.Duration(missed+1) * interval)
	} else {
		next, missed = nextGridPoint(w.st.GridOrigin, interval, o.due, now)
	}
	if missed > 0 {
		w.st.Counters.MissedRounds += missed
		w.logger.Warn(fmt.Sprintf("Poller missed %d intervals for checking", missed), "cluster_id", cid, "missed", missed)
	}
	if w.st.Enabled && !w.done {
		w.scheduleRound(ctx, max(next.Sub(now), 0))
	}
}

// phaseGrid lays the round grid on the cluster's phase from t: its origin
// is the phase's last point at or before t, which it returns, so that its
// next point is at most an interval after t.
func (w *clusterHealth) phaseGrid(t time.Time) time.Time {
	w.st.GridOrigin = PhaseOrigin(w.reg.ClusterID, w.reg.RoundInterval(), t)
	return w.st.GridOrigin
}

// onPhase moves a grid carried from a run of an older generation, which
// started when its cluster was registered, onto the cluster's phase: the
// next round at the phase's first point after the last round (at most an
// interval after it, as the old grid's was; at once if that is past). A
// fleet registered before phases thus spreads out as its runs continue as
// new.
func (w *clusterHealth) onPhase() {
	origin := w.st.GridOrigin
	if !w.does().RoundPhases || origin.IsZero() || w.st.LastRound.IsZero() || w.st.NextRound.IsZero() ||
		PhaseOrigin(w.reg.ClusterID, w.reg.RoundInterval(), origin).Equal(origin) {
		return
	}
	w.st.NextRound = w.phaseGrid(w.st.LastRound).Add(w.reg.RoundInterval())
}

// PhaseOrigin is the last point at or before t of the cluster's phase: the
// offset within the interval (from the Unix epoch) that a hash of its ID
// picks, as Prometheus offsets each target's scrapes by a hash of the target.
// A grid laid from it spreads the rounds of clusters registered together over
// the interval, instead of starting them all in the same second of it, which
// is a burst of work each interval for the worker, Temporal and the nodes,
// and late rounds and slow queries while it lasts. A cluster's rounds keep
// their second whenever its grid starts again, and the first point of the
// grid after t is never more than one interval away.
func PhaseOrigin(clusterID string, interval time.Duration, t time.Time) time.Time {
	if interval < time.Millisecond {
		return t
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(clusterID))
	phase := int64(h.Sum64()%uint64(interval/time.Millisecond)) * int64(time.Millisecond) // whole milliseconds
	since := (t.UnixNano() - phase) % int64(interval)
	if since < 0 {
		since += int64(interval)
	}
	return t.Add(-time.Duration(since))
}

// nextGridPoint returns the first point of the grid origin + k*interval at or
// after now and later than due, the point the finished round was scheduled
// for, and how many points lie strictly between the two: Senlin's missed
// intervals, here counted from a fixed origin, so that neither a long round
// nor a late start shifts the grid.
func nextGridPoint(origin time.Time, interval time.Duration, due, now time.Time) (time.Time, int64) {
	slot := func(t time.Time, roundUp bool) int64 {
		d := t.Sub(origin)
		if d <= 0 {
			return 0
		}
		if roundUp {
			return int64((d + interval - 1) / interval)
		}
		return int64((d + interval/2) / interval) // due is on the grid, give or take
	}
	sched := slot(due, false)
	k := max(slot(now, true), sched+1)
	return origin.Add(time.Duration(k) * interval), k - sched - 1
}

func (w *clusterHealth) applyVerdicts(ctx workflow.Context, o roundOutcome, now time.Time) {
	cid := w.reg.ClusterID
	// sparse: the round names only its exceptions, and a node the workflow
	// does not remember was healthy.
	sparse := o.result.Summary != nil
	seen := make(map[string]bool, len(o.result.Nodes))
	var events []health.HealthEvent
	var unhealthy []string
	tv := make([]triage.Verdict, 0, len(o.result.Nodes))
	verdicts := map[health.Verdict]int64{}
	for i, n := range o.result.Nodes {
		v := o.verdicts[i]
		seen[n.ID] = true
		verdicts[v.v]++
		ns, ok := w.st.Nodes[n.ID]
		if !ok {
			ns = &NodeState{Since: now}
			w.st.Nodes[n.ID] = ns
			if sparse {
				ns.Verdict, ok = health.Healthy, true
			}
		}
		if ok && ns.Verdict != v.v {
			events = append(events, health.HealthEvent{ClusterID: cid, NodeID: n.ID, At: now, From: ns.Verdict, To: v.v, Reason: v.reason})
			ns.Since = now
		} else if !ok && v.v != health.Healthy {
			events = append(events, health.HealthEvent{ClusterID: cid, NodeID: n.ID, At: now, From: "", To: v.v, Reason: v.reason})
		}
		ns.Name, ns.Status, ns.Verdict, ns.Reason, ns.LastChecked, ns.InGrace = n.Name, string(n.Status), v.v, v.reason, now, v.inGrace
		tv = append(tv, triage.Verdict{NodeID: n.ID, Verdict: v.v, Reason: v.reason, InGrace: v.inGrace})
		if v.v == health.Unhealthy {
			unhealthy = append(unhealthy, n.ID)
		}
	}
	w.st.NodeCount = len(o.result.Nodes)
	if sparse {
		// Every node the sweep left out was plainly healthy.
		w.st.NodeCount = o.result.Summary.Nodes
		verdicts[health.Healthy] += int64(o.result.Summary.Nodes - len(o.result.Nodes))
		w.st.LastSweep = o.result.Summary
		w.st.LastSweepTook = o.result.Took
	}
	w.st.Counters.Healthy += verdicts[health.Healthy]
	w.st.Counters.Unhealthy += verdicts[health.Unhealthy]
	w.st.Counters.Unknown += verdicts[health.Unknown]
	w.st.Counters.Skipped += verdicts[health.Skipped]
	mh := workflow.GetMetricsHandler(ctx)
	for _, v := range []health.Verdict{health.Healthy, health.Unhealthy, health.Unknown, health.Skipped} {
		if verdicts[v] > 0 {
			mh.WithTags(map[string]string{TagVerdict: string(v)}).Counter(MetricChecks).Inc(verdicts[v])
		}
	}
	for _, id := range workflow.DeterministicKeys(w.st.Nodes) {
		if !sparse && !seen[id] {
			delete(w.st.Nodes, id) // the node left the cluster
		}
	}
	for _, id := range o.result.Gone {
		delete(w.st.Nodes, id) // the node left the cluster
	}
	if len(unhealthy) == 0 {
		w.logger.Debug("Health check passed for all nodes in cluster", "cluster_id", cid, "nodes", len(o.result.Nodes))
	}
	r, decided := w.decide(ctx, triage.Round{Start: o.start, Verdicts: tv})
	reasons := make(map[string]string, len(unhealthy))
	for _, id := range unhealthy {
		reasons[id] = w.st.Nodes[id].Reason
	}
	w.recoverDecided(ctx, r, health.SourcePoll, reasons, "")
	w.record(ctx, append(events, decided...))
	if sparse {
		w.forgetHealthy()
	}
}

// watchList names the nodes the workflow remembers, whose verdict the next
// sweep must return whatever it is.
func (w *clusterHealth) watchList() []string {
	ids := map[string]bool{}
	for id := range w.st.Nodes {
		ids[id] = true
	}
	for id := range w.st.Triage.Nodes {
		ids[id] = true
	}
	for id := range w.st.InFlight {
		ids[id] = true
	}
	for id := range w.st.Decisions {
		ids[id] = true
	}
	return workflow.DeterministicKeys(ids)
}

// forgetHealthy drops the plainly healthy nodes from the workflow's memory:
// their detail is in the store, and a healthy node costs nothing here.
func (w *clusterHealth) forgetHealthy() {
	for _, id := range workflow.DeterministicKeys(w.st.Nodes) {
		_, remembered := w.st.Triage.Nodes[id]
		if ns := w.st.Nodes[id]; ns.Verdict == health.Healthy && !ns.InGrace && !remembered && w.st.InFlight[id] == nil {
			// Nothing is left to decide about it either (a failure below the
			// threshold that passed, a recovery that worked).
			delete(w.st.Decisions, id)
			delete(w.st.Nodes, id)
		}
	}
}
