package openstacktest_test

import (
	"context"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/hypervisors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	computeservices "github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"

	"github.com/clusterhealth/healthd/internal/openstacktest"
)

// The fake driver does what healthd needs of a server's life on the bench:
// six servers with no network boot ACTIVE; one stopped is SHUTOFF and
// started ACTIVE again; reboot and rebuild end ACTIVE.
func TestNovaServerLifecycle(t *testing.T) {
	b := openstacktest.Cloud(t)
	ctx := context.Background()
	c := b.Member
	srvs := b.Boot(t, c, "lifecycle", 6, nil)
	if len(srvs) != 6 {
		t.Fatalf("got %d servers, want 6", len(srvs))
	}
	id := srvs[0].ID
	step := func(what string, act func() error, want string) {
		t.Helper()
		start := time.Now()
		if err := act(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		b.WaitStatus(t, c, id, want, time.Minute)
		t.Logf("%s: %s after %s", what, want, time.Since(start).Round(time.Millisecond))
	}
	step("stop", func() error { return servers.Stop(ctx, c.Compute, id).ExtractErr() }, "SHUTOFF")
	step("start", func() error { return servers.Start(ctx, c.Compute, id).ExtractErr() }, "ACTIVE")
	step("soft reboot", func() error {
		return servers.Reboot(ctx, c.Compute, id, servers.RebootOpts{Type: servers.SoftReboot}).ExtractErr()
	}, "ACTIVE")
	step("hard reboot", func() error {
		return servers.Reboot(ctx, c.Compute, id, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr()
	}, "ACTIVE")
	step("rebuild", func() error {
		_, err := servers.Rebuild(ctx, c.Compute, id, servers.RebuildOpts{ImageRef: b.ImageID}).Extract()
		return err
	}, "ACTIVE")
	// The others were left alone.
	for _, s := range srvs[1:] {
		if got := b.WaitStatus(t, c, s.ID, "ACTIVE", time.Second); got.Status != "ACTIVE" {
			t.Errorf("server %s: got %s, want ACTIVE", s.Name, got.Status)
		}
	}
}

// forcedDown sets a compute service's forced_down both ways (the SDK's
// UpdateOpts cannot send false).
type forcedDown bool

func (f forcedDown) ToServiceUpdateMap() (map[string]any, error) {
	return map[string]any{"forced_down": bool(f)}, nil
}

// A compute service forced down, then disabled: its hypervisor's state and
// status as Nova reports them, what HYPERVISOR_STATUS_POLLING reads.
func TestHypervisorForcedDown(t *testing.T) {
	b := openstacktest.Cloud(t)
	ctx := context.Background()
	// Service updates by ID need microversion 2.53.
	compute := *b.Admin.Compute
	compute.Microversion = "2.53"
	host := "fake-2"
	pages, err := computeservices.List(&compute, computeservices.ListOpts{Binary: "nova-compute", Host: host}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := computeservices.ExtractServices(pages)
	if err != nil || len(svcs) != 1 {
		t.Fatalf("nova-compute of %s: got %v (%v), want one", host, svcs, err)
	}
	svc := svcs[0]
	t.Cleanup(func() {
		_, _ = computeservices.Update(context.Background(), &compute, svc.ID, forcedDown(false)).Extract()
		_, _ = computeservices.Update(context.Background(), &compute, svc.ID, computeservices.UpdateOpts{Status: computeservices.ServiceEnabled}).Extract()
	})
	hypervisor := func() hypervisors.Hypervisor {
		t.Helper()
		pages, err := hypervisors.List(&compute, hypervisors.ListOpts{}).AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		hs, err := hypervisors.ExtractHypervisors(pages)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			if h.HypervisorHostname == host || h.Service.Host == host {
				return h
			}
		}
		t.Fatalf("no hypervisor of host %s in %d", host, len(hs))
		return hypervisors.Hypervisor{}
	}
	wait := func(what, state, status string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			h := hypervisor()
			if h.State == state && h.Status == status {
				t.Logf("%s: hypervisor %s state %s, status %s", what, h.HypervisorHostname, h.State, h.Status)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: hypervisor %s state %s status %s, want %s and %s", what, h.HypervisorHostname, h.State, h.Status, state, status)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	wait("at rest", "up", "enabled")
	if _, err := computeservices.Update(ctx, &compute, svc.ID, forcedDown(true)).Extract(); err != nil {
		t.Fatalf("force %s down: %v", host, err)
	}
	wait("forced down", "down", "enabled")
	if _, err := computeservices.Update(ctx, &compute, svc.ID, computeservices.UpdateOpts{Status: computeservices.ServiceDisabled,
		DisabledReason: "healthd test"}).Extract(); err != nil {
		t.Fatalf("disable %s: %v", host, err)
	}
	wait("forced down and disabled", "down", "disabled")
	if _, err := computeservices.Update(ctx, &compute, svc.ID, forcedDown(false)).Extract(); err != nil {
		t.Fatalf("force %s up: %v", host, err)
	}
	if _, err := computeservices.Update(ctx, &compute, svc.ID, computeservices.UpdateOpts{Status: computeservices.ServiceEnabled}).Extract(); err != nil {
		t.Fatalf("enable %s: %v", host, err)
	}
	wait("back", "up", "enabled")
}
