package openstacktest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"go.yaml.in/yaml/v3"
)

// SenlinEnvVar turns on the tests that need Senlin on the bench
// (scripts/openstack-up.sh --senlin).
const SenlinEnvVar = "HEALTHD_TEST_SENLIN"

// Senlin is the clustering API of the bench's Senlin, as one role sees it.
type Senlin struct {
	c *gophercloud.ServiceClient
}

// SenlinOf returns the Senlin API of a role, or skips the test when
// SenlinEnvVar is not set; it fails when Senlin has no endpoint.
func SenlinOf(t testing.TB, c *Client) *Senlin {
	t.Helper()
	if os.Getenv(SenlinEnvVar) == "" {
		t.Skip(SenlinEnvVar + " is not set: it needs scripts/openstack-up.sh --senlin")
	}
	u, err := c.Provider.EndpointLocator(gophercloud.EndpointOpts{Type: "clustering", Region: Region, Availability: gophercloud.AvailabilityPublic})
	if err != nil {
		t.Fatalf("no clustering endpoint (is Senlin up?): %v", err)
	}
	return &Senlin{c: &gophercloud.ServiceClient{ProviderClient: c.Provider, Endpoint: gophercloud.NormalizeURL(u) + "v1/"}}
}

// SenlinNode is a node of a Senlin cluster.
type SenlinNode struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Index      int    `json:"index"`
	PhysicalID string `json:"physical_id"`
	Status     string `json:"status"`
	Reason     string `json:"status_reason"`
}

// SenlinAction is one of Senlin's actions.
type SenlinAction struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Action    string `json:"action"`
	Target    string `json:"target"`
	Status    string `json:"status"`
	Reason    string `json:"status_reason"`
	Cause     string `json:"cause"`
	CreatedAt string `json:"created_at"`
}

// Created is when Senlin made the action (its clock is the machine's).
func (a SenlinAction) Created() time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, a.CreatedAt); err == nil {
			return t
		}
	}
	return time.Time{}
}

// CreateCluster makes a profile of os.nova.server 1.0 (the bench's flavor
// and image, no network) and a cluster of n nodes of it, waits until the
// cluster is ACTIVE and deletes both when the test ends. It returns the
// cluster's ID, and an error when the cluster did not become ACTIVE within
// 3 minutes (Senlin's engine can lose a node's creation to an eventlet
// error: the cluster stays CREATING).
func (s *Senlin) CreateCluster(t testing.TB, b *Bench, name string, n int) (string, error) {
	t.Helper()
	ctx := context.Background()
	var profile struct {
		Profile struct {
			ID string `json:"id"`
		} `json:"profile"`
	}
	// Senlin 14's profile validation fails on a missing networks list; an
	// empty one becomes Nova's "none" (scripts/openstack/senlin-run.py).
	spec := map[string]any{"type": "os.nova.server", "version": "1.0", "properties": map[string]any{
		"name": name, "flavor": b.FlavorID, "image": b.ImageID, "networks": []any{}}}
	if _, err := s.c.Post(ctx, s.c.ServiceURL("profiles"), map[string]any{"profile": map[string]any{"name": name, "spec": spec}},
		&profile, &gophercloud.RequestOpts{OkCodes: []int{200, 201}}); err != nil {
		t.Fatalf("senlin: create the profile: %v", err)
	}
	var cluster struct {
		Cluster struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"cluster"`
	}
	if _, err := s.c.Post(ctx, s.c.ServiceURL("clusters"), map[string]any{"cluster": map[string]any{"name": name,
		"profile_id": profile.Profile.ID, "desired_capacity": n, "min_size": 0, "max_size": -1}}, &cluster,
		&gophercloud.RequestOpts{OkCodes: []int{200, 201, 202}}); err != nil {
		t.Fatalf("senlin: create the cluster: %v", err)
	}
	id := cluster.Cluster.ID
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = s.c.Delete(ctx, s.c.ServiceURL("clusters", id), &gophercloud.RequestOpts{OkCodes: []int{202, 204}})
		for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
			if _, err := s.c.Get(ctx, s.c.ServiceURL("clusters", id), nil, nil); gophercloud.ResponseCodeIs(err, 404) {
				break
			}
		}
		_, _ = s.c.Delete(ctx, s.c.ServiceURL("profiles", profile.Profile.ID), &gophercloud.RequestOpts{OkCodes: []int{204}})
	})
	return id, s.WaitCluster(id, 3*time.Minute)
}

// WaitCluster waits until the cluster is ACTIVE; it fails on ERROR, or
// when within runs out.
func (s *Senlin) WaitCluster(id string, within time.Duration) error {
	var cluster struct {
		Cluster struct {
			Status string `json:"status"`
			Reason string `json:"status_reason"`
		} `json:"cluster"`
	}
	for start := time.Now(); ; time.Sleep(time.Second) {
		if _, err := s.c.Get(context.Background(), s.c.ServiceURL("clusters", id), &cluster, nil); err != nil {
			return fmt.Errorf("senlin: cluster %s: %w", id, err)
		}
		switch st := cluster.Cluster.Status; {
		case st == "ACTIVE":
			return nil
		case st == "ERROR" || time.Since(start) > within:
			return fmt.Errorf("senlin: cluster %s is %s (%s) after %s", id, st, cluster.Cluster.Reason, time.Since(start).Round(time.Second))
		}
	}
}

// AttachPolicy creates a policy from a spec in YAML (as `openstack cluster
// policy create --spec-file` reads it) and attaches it to the cluster,
// waiting for the attach action to succeed.
func (s *Senlin) AttachPolicy(t testing.TB, clusterID, name string, specYAML []byte) {
	t.Helper()
	ctx := context.Background()
	var spec map[string]any
	if err := yaml.Unmarshal(specYAML, &spec); err != nil {
		t.Fatalf("senlin: policy spec: %v", err)
	}
	var policy struct {
		Policy struct {
			ID string `json:"id"`
		} `json:"policy"`
	}
	if _, err := s.c.Post(ctx, s.c.ServiceURL("policies"), map[string]any{"policy": map[string]any{"name": name, "spec": spec}},
		&policy, &gophercloud.RequestOpts{OkCodes: []int{200, 201}}); err != nil {
		t.Fatalf("senlin: create the policy: %v", err)
	}
	var action struct {
		Action string `json:"action"`
	}
	if _, err := s.c.Post(ctx, s.c.ServiceURL("clusters", clusterID, "actions"), map[string]any{"policy_attach": map[string]any{
		"policy_id": policy.Policy.ID, "enabled": true}}, &action, &gophercloud.RequestOpts{OkCodes: []int{200, 202}}); err != nil {
		t.Fatalf("senlin: attach the policy: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = s.c.Post(ctx, s.c.ServiceURL("clusters", clusterID, "actions"), map[string]any{"policy_detach": map[string]any{
			"policy_id": policy.Policy.ID}}, nil, &gophercloud.RequestOpts{OkCodes: []int{200, 202}})
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
			if _, err := s.c.Delete(ctx, s.c.ServiceURL("policies", policy.Policy.ID), &gophercloud.RequestOpts{OkCodes: []int{204}}); err == nil {
				break
			}
		}
	})
	for start := time.Now(); ; time.Sleep(time.Second) {
		a, err := s.Action(ctx, action.Action)
		if err != nil {
			t.Fatalf("senlin: attach action: %v", err)
		}
		switch {
		case a.Status == "SUCCEEDED":
			return
		case a.Status == "FAILED" || time.Since(start) > time.Minute:
			t.Fatalf("senlin: attach the policy: %s (%s)", a.Status, a.Reason)
		}
	}
}

// Nodes lists the nodes of a cluster.
func (s *Senlin) Nodes(ctx context.Context, clusterID string) ([]SenlinNode, error) {
	var body struct {
		Nodes []SenlinNode `json:"nodes"`
	}
	_, err := s.c.Get(ctx, s.c.ServiceURL("nodes")+"?"+url.Values{"cluster_id": {clusterID}}.Encode(), &body, nil)
	return body.Nodes, err
}

// Action reads one action.
func (s *Senlin) Action(ctx context.Context, id string) (SenlinAction, error) {
	var body struct {
		Action SenlinAction `json:"action"`
	}
	_, err := s.c.Get(ctx, s.c.ServiceURL("actions", id), &body, nil)
	return body.Action, err
}

// Actions lists the actions of one kind (NODE_RECOVER, say), oldest first.
func (s *Senlin) Actions(ctx context.Context, kind string) ([]SenlinAction, error) {
	var body struct {
		Actions []SenlinAction `json:"actions"`
	}
	q := url.Values{"action": {kind}, "sort": {"created_at:asc"}, "limit": {"1000"}}
	if _, err := s.c.Get(ctx, s.c.ServiceURL("actions")+"?"+q.Encode(), &body, nil); err != nil {
		return nil, fmt.Errorf("senlin: list %s actions: %w", kind, err)
	}
	return body.Actions, nil
}
