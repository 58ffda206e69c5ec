package openstacktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	computeservices "github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/endpoints"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
)

// The names the bench's cloud is set up with.
const (
	// Region is the bench's one region.
	Region = "RegionOne"
	// ServiceProject holds the services' users.
	ServiceProject = "service"
	// MemberProject is the project the tests' servers live in, and
	// OtherProject another tenant's.
	MemberProject = "healthd"
	OtherProject  = "healthd-other"
	// MemberUser and OtherUser are members of those projects.
	MemberUser = "healthd-member"
	OtherUser  = "healthd-other"
	// ImageName and FlavorName are what servers boot from.
	ImageName  = "tiny"
	FlavorName = "m1.tiny"
)

// Setup makes, through the APIs of a cloud whose Keystone was bootstrapped,
// what the bench needs: projects, roles, users, the service catalog, an
// image and a flavor. Every step looks first and creates only what is
// missing, so running it again changes nothing and takes a second.
type Setup struct {
	Identity *gophercloud.ServiceClient
}

// Project returns the ID of the project, created in the default domain if
// it is missing.
func (s Setup) Project(ctx context.Context, name string) (string, error) {
	pages, err := projects.List(s.Identity, projects.ListOpts{Name: name, DomainID: "default"}).AllPages(ctx)
	if err != nil {
		return "", fmt.Errorf("list projects named %s: %w", name, err)
	}
	found, err := projects.ExtractProjects(pages)
	if err != nil {
		return "", err
	}
	if len(found) > 0 {
		return found[0].ID, nil
	}
	p, err := projects.Create(ctx, s.Identity, projects.CreateOpts{Name: name, DomainID: "default"}).Extract()
	if err != nil {
		return "", fmt.Errorf("create project %s: %w", name, err)
	}
	return p.ID, nil
}

// Role returns the ID of the role, created if it is missing.
func (s Setup) Role(ctx context.Context, name string) (string, error) {
	pages, err := roles.List(s.Identity, roles.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		return "", fmt.Errorf("list roles named %s: %w", name, err)
	}
	found, err := roles.ExtractRoles(pages)
	if err != nil {
		return "", err
	}
	if len(found) > 0 {
		return found[0].ID, nil
	}
	r, err := roles.Create(ctx, s.Identity, roles.CreateOpts{Name: name}).Extract()
	if err != nil {
		return "", fmt.Errorf("create role %s: %w", name, err)
	}
	return r.ID, nil
}

// User makes sure the user exists in the default domain with the password
// and has the role on the project.
func (s Setup) User(ctx context.Context, name, password, projectID, roleID string) error {
	pages, err := users.List(s.Identity, users.ListOpts{Name: name, DomainID: "default"}).AllPages(ctx)
	if err != nil {
		return fmt.Errorf("list users named %s: %w", name, err)
	}
	found, err := users.ExtractUsers(pages)
	if err != nil {
		return err
	}
	var id string
	if len(found) > 0 {
		id = found[0].ID
		// The bench's passwords may have been made again; a password set
		// again revokes the user's tokens, which the services hold, so only
		// when it is not the user's already.
		if !s.hasPassword(ctx, id, password) {
			if _, err := users.Update(ctx, s.Identity, id, users.UpdateOpts{Password: password}).Extract(); err != nil {
				return fmt.Errorf("set the password of user %s: %w", name, err)
			}
		}
	} else {
		u, err := users.Create(ctx, s.Identity, users.CreateOpts{Name: name, Password: password, DomainID: "default", DefaultProjectID: projectID}).Extract()
		if err != nil {
			return fmt.Errorf("create user %s: %w", name, err)
		}
		id = u.ID
	}
	if err := roles.Assign(ctx, s.Identity, roleID, roles.AssignOpts{UserID: id, ProjectID: projectID}).ExtractErr(); err != nil {
		return fmt.Errorf("give user %s its role: %w", name, err)
	}
	return nil
}

// hasPassword reports whether the user authenticates with the password.
func (s Setup) hasPassword(ctx context.Context, userID, password string) bool {
	opts := tokens.AuthOptions{UserID: userID, Password: password}
	return tokens.Create(ctx, s.Identity, &opts).Err == nil
}

// Service makes sure the catalog has a service of the type, with a public,
// internal and admin endpoint at url in the region.
func (s Setup) Service(ctx context.Context, typ, name, url string) error {
	pages, err := services.List(s.Identity, services.ListOpts{ServiceType: typ}).AllPages(ctx)
	if err != nil {
		return fmt.Errorf("list services of type %s: %w", typ, err)
	}
	found, err := services.ExtractServices(pages)
	if err != nil {
		return err
	}
	var id string
	if len(found) > 0 {
		id = found[0].ID
	} else {
		svc, err := services.Create(ctx, s.Identity, services.CreateOpts{Type: typ, Extra: map[string]any{"name": name}}).Extract()
		if err != nil {
			return fmt.Errorf("create service %s: %w", typ, err)
		}
		id = svc.ID
	}
	pages, err = endpoints.List(s.Identity, endpoints.ListOpts{ServiceID: id}).AllPages(ctx)
	if err != nil {
		return fmt.Errorf("list endpoints of %s: %w", typ, err)
	}
	eps, err := endpoints.ExtractEndpoints(pages)
	if err != nil {
		return err
	}
	have := map[gophercloud.Availability]bool{}
	for _, ep := range eps {
		have[ep.Availability] = true
	}
	for _, av := range []gophercloud.Availability{gophercloud.AvailabilityPublic, gophercloud.AvailabilityInternal, gophercloud.AvailabilityAdmin} {
		if have[av] {
			continue
		}
		if _, err := endpoints.Create(ctx, s.Identity, endpoints.CreateOpts{Availability: av, Region: Region, URL: url, ServiceID: id}).Extract(); err != nil {
			return fmt.Errorf("create the %s endpoint of %s: %w", av, typ, err)
		}
	}
	return nil
}

// Image makes sure a public raw image of the name is active (1 MiB of zeros:
// the fake driver reads nothing of it) and returns its ID.
func Image(ctx context.Context, client *gophercloud.ServiceClient, name string) (string, error) {
	pages, err := images.List(client, images.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		return "", fmt.Errorf("list images named %s: %w", name, err)
	}
	found, err := images.ExtractImages(pages)
	if err != nil {
		return "", err
	}
	for _, im := range found {
		if im.Status == images.ImageStatusActive {
			return im.ID, nil
		}
		// A queued image whose upload did not finish: start over.
		if err := images.Delete(ctx, client, im.ID).ExtractErr(); err != nil {
			return "", fmt.Errorf("delete the unfinished image %s: %w", im.ID, err)
		}
	}
	public := images.ImageVisibilityPublic
	im, err := images.Create(ctx, client, images.CreateOpts{Name: name, ContainerFormat: "bare", DiskFormat: "raw", Visibility: &public}).Extract()
	if err != nil {
		return "", fmt.Errorf("create image %s: %w", name, err)
	}
	if err := imagedata.Upload(ctx, client, im.ID, bytes.NewReader(make([]byte, 1<<20))).ExtractErr(); err != nil {
		return "", fmt.Errorf("upload image %s: %w", name, err)
	}
	return im.ID, nil
}

// Flavor makes sure a public flavor of the name exists (1 vCPU, 64 MB, 1 GB)
// and returns its ID.
func Flavor(ctx context.Context, client *gophercloud.ServiceClient, name string) (string, error) {
	pages, err := flavors.ListDetail(client, flavors.ListOpts{AccessType: flavors.AllAccess}).AllPages(ctx)
	if err != nil {
		return "", fmt.Errorf("list flavors: %w", err)
	}
	found, err := flavors.ExtractFlavors(pages)
	if err != nil {
		return "", err
	}
	for _, f := range found {
		if f.Name == name {
			return f.ID, nil
		}
	}
	disk, public := 1, true
	f, err := flavors.Create(ctx, client, flavors.CreateOpts{Name: name, RAM: 64, VCPUs: 1, Disk: &disk, IsPublic: &public}).Extract()
	if err != nil {
		return "", fmt.Errorf("create flavor %s: %w", name, err)
	}
	return f.ID, nil
}

// WaitComputes waits until every host has a nova-compute service that is
// up, as the scheduler sees it, or forced down on purpose: a compute that
// has just (re)started is "not heard from" until its first report, and the
// scheduler finds no host for a server meanwhile. client must speak
// microversion 2.11 or later, which shows forced_down.
func WaitComputes(ctx context.Context, client *gophercloud.ServiceClient, hosts []string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		pages, err := computeservices.List(client, computeservices.ListOpts{Binary: "nova-compute"}).AllPages(ctx)
		missing := hosts
		if err == nil {
			var svcs []computeservices.Service
			if svcs, err = computeservices.ExtractServices(pages); err == nil {
				seen := map[string]bool{}
				for _, s := range svcs {
					seen[s.Host] = s.State == "up" || s.ForcedDown
				}
				missing = nil
				for _, h := range hosts {
					if !seen[h] {
						missing = append(missing, h)
					}
				}
				if len(missing) == 0 {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("nova-compute of %v not up within %s", missing, within), err)
		case <-time.After(time.Second):
		}
	}
}

// forcedDown sets a compute service's forced_down both ways (the SDK's
// UpdateOpts cannot send false).
type forcedDown bool

func (f forcedDown) ToServiceUpdateMap() (map[string]any, error) {
	return map[string]any{"forced_down": bool(f)}, nil
}

// RestoreComputes brings the bench's computes back to rest, up and enabled,
// after a test that fenced one could not (it failed, or was killed): the
// next run starts from the same cloud. Nova refuses to force a host up
// before its compute has restarted and cleaned up; that is reported, not
// fatal. client must speak microversion 2.53 (services by ID).
func RestoreComputes(ctx context.Context, client *gophercloud.ServiceClient) []error {
	pages, err := computeservices.List(client, computeservices.ListOpts{Binary: "nova-compute"}).AllPages(ctx)
	if err != nil {
		return []error{err}
	}
	svcs, err := computeservices.ExtractServices(pages)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, svc := range svcs {
		if svc.ForcedDown {
			if _, err := computeservices.Update(ctx, client, svc.ID, forcedDown(false)).Extract(); err != nil {
				errs = append(errs, fmt.Errorf("force %s up: %w", svc.Host, err))
				continue
			}
		}
		if svc.Status == "disabled" {
			if _, err := computeservices.Update(ctx, client, svc.ID, computeservices.UpdateOpts{Status: computeservices.ServiceEnabled}).Extract(); err != nil {
				errs = append(errs, fmt.Errorf("enable %s: %w", svc.Host, err))
			}
		}
	}
	return errs
}
