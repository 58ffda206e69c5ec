// Package openstacktest gives tests the test bench's real OpenStack
// (scripts/openstack-up.sh: Keystone, Glance, Placement and Nova on the fake
// driver, from Debian's packages): gophercloud clients for an admin, a
// member of the project the tests' servers live in and a member of another
// project, and helpers to boot servers with no network and wait for a
// status. Tests that use it run when HEALTHD_TEST_OPENSTACK is set: "1"
// uses the bench as it runs, "start" runs openstack-up.sh first. Without it
// they skip, with a line saying how to run them; with it, a bench that
// cannot be had fails them with the reason.
package openstacktest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/quotasets"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/config"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
)

// EnvVar turns the tests on the bench on.
const EnvVar = "HEALTHD_TEST_OPENSTACK"

// The clouds openstack-up.sh writes into clouds.yaml.
const (
	AdminCloud  = "healthd-admin"
	MemberCloud = "healthd-member"
	OtherCloud  = "healthd-other"
)

// NoNetworkMicroversion is the compute API microversion that boots a server
// with networks "none".
const NoNetworkMicroversion = "2.37"

// Client is one role's view of the bench's cloud.
type Client struct {
	Provider *gophercloud.ProviderClient
	// Compute speaks NoNetworkMicroversion.
	Compute   *gophercloud.ServiceClient
	Image     *gophercloud.ServiceClient
	ProjectID string
}

// Bench is the bench's cloud.
type Bench struct {
	// ConfigFile is the clouds.yaml openstack-up.sh wrote.
	ConfigFile string
	// Admin, Member and Other are the three roles.
	Admin, Member, Other *Client
	// ImageID and FlavorID are what servers boot from.
	ImageID, FlavorID string
}

var (
	once    sync.Once
	shared  *Bench
	problem error
)

// Cloud returns the bench's cloud, or skips the test when EnvVar is not set.
// When it is set and the bench cannot be had, the test fails with the
// reason. The bench is made once per test binary.
func Cloud(t testing.TB) *Bench {
	t.Helper()
	mode := os.Getenv(EnvVar)
	if mode == "" {
		t.Skipf("needs the test bench's OpenStack: run scripts/openstack-up.sh, then %s=1 go test ... (or %s=start to have the test start it)", EnvVar, EnvVar)
	}
	once.Do(func() { shared, problem = open(mode) })
	if problem != nil {
		t.Fatalf("the test bench's OpenStack (%s=%s): %v", EnvVar, mode, problem)
	}
	return shared
}

// Root is the project's directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func open(mode string) (*Bench, error) {
	root := Root()
	if mode == "start" {
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "openstack-up.sh"))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("scripts/openstack-up.sh: %w", err)
		}
	}
	b := &Bench{ConfigFile: filepath.Join(root, ".data", "openstack", "clouds.yaml")}
	if _, err := os.Stat(b.ConfigFile); err != nil {
		return nil, fmt.Errorf("no clouds.yaml (run scripts/openstack-up.sh): %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	for _, c := range []struct {
		name string
		dst  **Client
	}{{AdminCloud, &b.Admin}, {MemberCloud, &b.Member}, {OtherCloud, &b.Other}} {
		if *c.dst, err = b.Connect(ctx, c.name); err != nil {
			return nil, err
		}
	}
	if b.ImageID, err = Image(ctx, b.Admin.Image, ImageName); err != nil {
		return nil, err
	}
	if b.FlavorID, err = Flavor(ctx, b.Admin.Compute, FlavorName); err != nil {
		return nil, err
	}
	// Tests of several packages boot servers at once: more than the default
	// quota of 10 servers a project.
	// Raised only: a scale run may have set them higher, with servers in use.
	for _, c := range []*Client{b.Member, b.Other} {
		q, err := quotasets.Get(ctx, b.Admin.Compute, c.ProjectID).Extract()
		if err != nil {
			return nil, fmt.Errorf("read the quota of project %s: %w", c.ProjectID, err)
		}
		n, cores, ram := max(50, q.Instances), max(100, q.Cores), max(100_000, q.RAM)
		if n == q.Instances && cores == q.Cores && ram == q.RAM {
			continue
		}
		if _, err := quotasets.Update(ctx, b.Admin.Compute, c.ProjectID, quotasets.UpdateOpts{Instances: &n, Cores: &cores, RAM: &ram}).Extract(); err != nil {
			return nil, fmt.Errorf("raise the quota of project %s: %w", c.ProjectID, err)
		}
	}
	return b, nil
}

// Connect authenticates as one of the clouds of the bench's clouds.yaml.
func (b *Bench) Connect(ctx context.Context, cloud string) (*Client, error) {
	ao, eo, tlsConfig, err := clouds.Parse(clouds.WithCloudName(cloud), clouds.WithLocations(b.ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("cloud %s: %w", cloud, err)
	}
	ao.AllowReauth = true
	pc, err := config.NewProviderClient(ctx, ao, config.WithTLSConfig(tlsConfig))
	if err != nil {
		return nil, fmt.Errorf("cloud %s: authenticate: %w", cloud, err)
	}
	c := &Client{Provider: pc}
	if c.Compute, err = openstack.NewComputeV2(pc, eo); err != nil {
		return nil, fmt.Errorf("cloud %s: compute: %w", cloud, err)
	}
	c.Compute.Microversion = NoNetworkMicroversion
	if c.Image, err = openstack.NewImageV2(pc, eo); err != nil {
		return nil, fmt.Errorf("cloud %s: image: %w", cloud, err)
	}
	project, err := tokens.Get(ctx, mustIdentity(pc, eo), pc.Token()).ExtractProject()
	if err != nil || project == nil {
		return nil, errors.Join(fmt.Errorf("cloud %s: the token's project", cloud), err)
	}
	c.ProjectID = project.ID
	return c, nil
}

func mustIdentity(pc *gophercloud.ProviderClient, eo gophercloud.EndpointOpts) *gophercloud.ServiceClient {
	c, err := openstack.NewIdentityV3(pc, eo)
	if err != nil {
		panic(err) // the provider authenticated through it
	}
	return c
}

// Boot creates n servers named prefix-1..prefix-n with no network and the
// metadata, waits until every one is ACTIVE, and deletes them when the test
// ends.
func (b *Bench) Boot(t testing.TB, c *Client, prefix string, n int, metadata func(i int) map[string]string) []servers.Server {
	t.Helper()
	return b.BootOn(t, c, "", prefix, n, metadata)
}

// BootOn is Boot on one compute host (fake-1, fake-2), which only an admin
// may ask for; "" lets the scheduler choose.
func (b *Bench) BootOn(t testing.TB, c *Client, host, prefix string, n int, metadata func(i int) map[string]string) []servers.Server {
	t.Helper()
	return b.boot(t, c, host, "", prefix, n, metadata)
}

// BootInGroup is Boot into a server group.
func (b *Bench) BootInGroup(t testing.TB, c *Client, group, prefix string, n int, metadata func(i int) map[string]string) []servers.Server {
	t.Helper()
	return b.boot(t, c, "", group, prefix, n, metadata)
}

func (b *Bench) boot(t testing.TB, c *Client, host, group, prefix string, n int, metadata func(i int) map[string]string) []servers.Server {
	t.Helper()
	ctx := context.Background()
	var hints servers.SchedulerHintOptsBuilder
	if group != "" {
		hints = servers.SchedulerHintOpts{Group: group}
	}
	var ids []string
	for i := 1; i <= n; i++ {
		opts := servers.CreateOpts{Name: fmt.Sprintf("%s-%d", prefix, i), ImageRef: b.ImageID, FlavorRef: b.FlavorID, Networks: "none"}
		if host != "" {
			opts.AvailabilityZone = "nova:" + host
		}
		if metadata != nil {
			opts.Metadata = metadata(i)
		}
		s, err := servers.Create(ctx, c.Compute, opts, hints).Extract()
		if err != nil {
			t.Fatalf("boot %s: %v", opts.Name, err)
		}
		ids = append(ids, s.ID)
		t.Cleanup(func() { _ = servers.Delete(context.Background(), c.Compute, s.ID).ExtractErr() })
	}
	out := make([]servers.Server, 0, n)
	for _, id := range ids {
		out = append(out, b.WaitStatus(t, c, id, "ACTIVE", 2*time.Minute))
	}
	return out
}

// WaitStatus waits until the server's status is want (an ERROR status
// fails at once) and returns it.
func (b *Bench) WaitStatus(t testing.TB, c *Client, id, want string, within time.Duration) servers.Server {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s, err := servers.Get(context.Background(), c.Compute, id).Extract()
		switch {
		case err == nil && s.Status == want:
			return *s
		case err == nil && s.Status == "ERROR" && want != "ERROR":
			t.Fatalf("server %s (%s): ERROR while waiting for %s: %v", s.Name, id, want, s.Fault)
		case time.Now().After(deadline):
			status := "?"
			if s != nil {
				status = s.Status
			}
			t.Fatalf("server %s: still %s after %s, want %s (last error %v)", id, status, within, want, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
