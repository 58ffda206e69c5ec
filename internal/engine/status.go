package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/clusterhealth/healthd/internal/health"
)

// DefaultStatusRefresh is the status refresh interval of an Executor whose
// StatusRefresh is zero: well below the shortest time a status stays fresh
// (health.Registration.StatusMaxAge, at least 60 s), so that a few failed
// fetches in a row still leave the values fresh.
const DefaultStatusRefresh = 15 * time.Second

const (
	// statusFetchTimeout bounds one read of a status URL, the write of what
	// it reports included.
	statusFetchTimeout = 10 * time.Second
	// maxStatusBody caps the body of a status URL: about 5,000 nodes.
	maxStatusBody = 1 << 20
	// statusConcurrency bounds the status URLs read at the same time.
	statusConcurrency = 8
)

// StatusReport is the body a cluster's status URL answers a GET with: what the
// engine's infrastructure reports of each node, by node name (or by physical
// id for an entry without a name). Each entry is the node's whole
// observation: a field left out is written empty, which polling reports
// unknown. Nodes the report leaves out keep their old values, which go stale.
//
//	{"nodes": [{"name": "web-1", "physical_status": "ACTIVE",
//	            "hypervisor_state": "up", "hypervisor_status": "enabled"}]}
type StatusReport struct {
	Nodes []health.ObservedStatus `json:"nodes"`
}

// statusRefresh is the effective refresh interval; negative means off.
func (e *Executor) statusRefresh() time.Duration {
	if e.StatusRefresh == 0 {
		return DefaultStatusRefresh
	}
	return e.StatusRefresh
}

// refreshStatus refreshes the node status of every cluster with a status URL
// at once and then every refresh interval, until ctx ends. A cluster whose
// refresh fails is logged when it starts failing and when it recovers, not on
// every attempt.
func (e *Executor) refreshStatus(ctx context.Context) {
	every := e.statusRefresh()
	if every < 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	failing := map[string]bool{}
	for {
		e.refreshAll(ctx, failing)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshAll refreshes every cluster with a status URL once; failing holds
// the clusters whose last refresh failed, and is updated.
func (e *Executor) refreshAll(ctx context.Context, failing map[string]bool) {
	clusters, err := e.Store.ListStatusClusters(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.Logger.Warn("cannot list the clusters with a status url", zap.Error(err))
		}
		return
	}
	errs := make([]error, len(clusters))
	updated := make([]int, len(clusters))
	sem := make(chan struct{}, statusConcurrency)
	var wg sync.WaitGroup
	for i, cl := range clusters {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			updated[i], errs[i] = e.refreshCluster(ctx, cl)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // shutting down: a cancelled fetch is no failure of the source
	}
	seen := make(map[string]bool, len(clusters))
	for i, cl := range clusters {
		seen[cl.ID] = true
		log := e.Logger.With(zap.String("cluster_id", cl.ID), zap.String("status_source", redactURL(cl.StatusURL)))
		switch {
		case errs[i] != nil && !failing[cl.ID]:
			failing[cl.ID] = true
			log.Warn("cannot refresh node status; the cluster's status values will go stale and polling will report them unknown",
				zap.Error(errs[i]))
		case errs[i] != nil:
			log.Debug("node status refresh still failing", zap.Error(errs[i]))
		case failing[cl.ID]:
			delete(failing, cl.ID)
			log.Info("node status refresh works again", zap.Int("nodes_updated", updated[i]))
		default:
			log.Debug("node status refreshed", zap.Int("nodes_updated", updated[i]))
		}
	}
	for id := range failing {
		if !seen[id] {
			delete(failing, id) // the cluster or its status URL is gone
		}
	}
}

// refreshCluster reads the cluster's status URL and writes what it reports.
// On any error nothing is written.
func (e *Executor) refreshCluster(ctx context.Context, cl health.Cluster) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, statusFetchTimeout)
	defer cancel()
	// The report is of the moment before the fetch: a recovery that ends
	// while it is under way makes it stale.
	at, err := e.Store.Now(ctx)
	if err != nil {
		return 0, err
	}
	rep, err := e.fetchStatus(ctx, cl.StatusURL)
	if err != nil {
		return 0, err
	}
	n, err := e.Store.SetObservedStatus(ctx, cl.ID, rep.Nodes, at)
	if err != nil {
		return 0, fmt.Errorf("write node status: %w", err)
	}
	return n, nil
}

// fetchStatus GETs a status URL and decodes its StatusReport. Its errors
// never quote the URL, which may carry credentials in its userinfo or query.
func (e *Executor) fetchStatus(ctx context.Context, rawURL string) (StatusReport, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return StatusReport{}, errors.New("status_url: not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return StatusReport{}, fmt.Errorf("status_url: scheme %q: want http or https", u.Scheme)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return StatusReport{}, errors.New("status_url: cannot build a request")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := e.HTTP.Do(req)
	if err != nil {
		// A *url.Error quotes the URL: keep only its cause.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return StatusReport{}, fmt.Errorf("get status: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatusBody+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxStatusBody))
	if resp.StatusCode/100 != 2 {
		return StatusReport{}, fmt.Errorf("get status: answered %s", resp.Status)
	}
	if err != nil {
		return StatusReport{}, fmt.Errorf("get status: read body: %w", err)
	}
	if len(body) > maxStatusBody {
		return StatusReport{}, fmt.Errorf("get status: body is larger than %d bytes", maxStatusBody)
	}
	var rep StatusReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return StatusReport{}, fmt.Errorf("get status: decode body: %w", err)
	}
	if rep.Nodes == nil {
		return StatusReport{}, errors.New(`get status: body has no "nodes" list`)
	}
	return rep, nil
}

// redactURL is the URL without its userinfo, query and fragment, for logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
