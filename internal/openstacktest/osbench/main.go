// Command osbench is the Go half of scripts/openstack-up.sh, the test
// bench's OpenStack: it serves the Neutron stand-in and makes, through the
// APIs, what the cloud needs beyond Keystone's bootstrap. Each step is
// idempotent.
//
//	osbench neutron [-listen 127.0.0.1:9696]
//	osbench keystone     projects, roles, users, the service catalog
//	osbench glance       the image servers boot from
//	osbench nova [-computes fake-1,fake-2]   computes registered, the flavor
//	osbench senlin       Senlin's service user and catalog entry (--senlin)
//
// Keystone's URL comes from OS_AUTH_URL; the passwords from
// OSBENCH_ADMIN_PASSWORD, OSBENCH_SERVICE_PASSWORD and
// OSBENCH_MEMBER_PASSWORD (never from arguments, which any user can list).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/clusterhealth/healthd/internal/openstacktest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "osbench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("a step is required: neutron, keystone, glance, nova or senlin")
	}
	fs := flag.NewFlagSet("osbench "+args[0], flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9696", "address of the Neutron stand-in (loopback)")
	computes := fs.String("computes", "fake-1,fake-2", "nova-compute hosts to wait for")
	endpoint := fs.String("host", "127.0.0.1", "host of the services' endpoints")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	switch args[0] {
	case "neutron":
		srv := &http.Server{Addr: *listen, Handler: openstacktest.Neutron(), ReadHeaderTimeout: 10 * time.Second}
		return srv.ListenAndServe()
	case "keystone":
		return keystone(ctx, *endpoint)
	case "senlin":
		return senlin(ctx, *endpoint)
	case "glance":
		pc, err := admin(ctx)
		if err != nil {
			return err
		}
		img, err := openstack.NewImageV2(pc, gophercloud.EndpointOpts{Region: openstacktest.Region})
		if err != nil {
			return err
		}
		id, err := openstacktest.Image(ctx, img, openstacktest.ImageName)
		if err == nil {
			fmt.Printf("image %s: %s\n", openstacktest.ImageName, id)
		}
		return err
	case "nova":
		pc, err := admin(ctx)
		if err != nil {
			return err
		}
		compute, err := openstack.NewComputeV2(pc, gophercloud.EndpointOpts{Region: openstacktest.Region})
		if err != nil {
			return err
		}
		// forced_down is in the service list from microversion 2.11.
		compute.Microversion = "2.53"
		if err := openstacktest.WaitComputes(ctx, compute, strings.Split(*computes, ","), 3*time.Minute); err != nil {
			return err
		}
		for _, err := range openstacktest.RestoreComputes(ctx, compute) {
			fmt.Fprintln(os.Stderr, "osbench: a compute left fenced by a test stays so:", err)
		}
		id, err := openstacktest.Flavor(ctx, compute, openstacktest.FlavorName)
		if err == nil {
			fmt.Printf("flavor %s: %s\n", openstacktest.FlavorName, id)
		}
		return err
	}
	return fmt.Errorf("unknown step %q: neutron, keystone, glance, nova or senlin", args[0])
}

// secret reads a password from the environment.
func secret(name string) (string, error) {
	v := os.Getenv(name)
	if v == "" {
		return "", fmt.Errorf("%s is not set", name)
	}
	return v, nil
}

// admin authenticates as the bootstrap admin.
func admin(ctx context.Context) (*gophercloud.ProviderClient, error) {
	pw, err := secret("OSBENCH_ADMIN_PASSWORD")
	if err != nil {
		return nil, err
	}
	url := os.Getenv("OS_AUTH_URL")
	if url == "" {
		return nil, errors.New("OS_AUTH_URL is not set")
	}
	return openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{IdentityEndpoint: url, Username: "admin", Password: pw,
		DomainName: "Default", TenantName: "admin", AllowReauth: true})
}

// identitySetup is Keystone as the bootstrap admin, and the services'
// password.
func identitySetup(ctx context.Context) (openstacktest.Setup, string, error) {
	svcPW, err := secret("OSBENCH_SERVICE_PASSWORD")
	if err != nil {
		return openstacktest.Setup{}, "", err
	}
	pc, err := admin(ctx)
	if err != nil {
		return openstacktest.Setup{}, "", err
	}
	identity, err := openstack.NewIdentityV3(pc, gophercloud.EndpointOpts{Region: openstacktest.Region})
	if err != nil {
		return openstacktest.Setup{}, "", err
	}
	return openstacktest.Setup{Identity: identity}, svcPW, nil
}

func keystone(ctx context.Context, host string) error {
	memberPW, err := secret("OSBENCH_MEMBER_PASSWORD")
	if err != nil {
		return err
	}
	s, svcPW, err := identitySetup(ctx)
	if err != nil {
		return err
	}
	ids := map[string]string{}
	for _, p := range []string{openstacktest.ServiceProject, openstacktest.MemberProject, openstacktest.OtherProject} {
		if ids[p], err = s.Project(ctx, p); err != nil {
			return err
		}
	}
	for _, r := range []string{"admin", "member", "reader", "service"} {
		if ids["role:"+r], err = s.Role(ctx, r); err != nil {
			return err
		}
	}
	for _, u := range []string{"glance", "placement", "nova"} {
		if err := s.User(ctx, u, svcPW, ids[openstacktest.ServiceProject], ids["role:admin"]); err != nil {
			return err
		}
	}
	if err := s.User(ctx, openstacktest.MemberUser, memberPW, ids[openstacktest.MemberProject], ids["role:member"]); err != nil {
		return err
	}
	if err := s.User(ctx, openstacktest.OtherUser, memberPW, ids[openstacktest.OtherProject], ids["role:member"]); err != nil {
		return err
	}
	for _, svc := range []struct{ typ, name, url string }{
		{"image", "glance", "http://" + host + ":9292"},
		{"placement", "placement", "http://" + host + ":8778"},
		{"compute", "nova", "http://" + host + ":8774/v2.1"},
		{"network", "neutron", "http://" + host + ":9696"},
	} {
		if err := s.Service(ctx, svc.typ, svc.name, svc.url); err != nil {
			return err
		}
	}
	fmt.Printf("keystone: projects %s, %s and %s; users glance, placement, nova, %s, %s; catalog image, placement, compute, network\n",
		openstacktest.ServiceProject, openstacktest.MemberProject, openstacktest.OtherProject, openstacktest.MemberUser, openstacktest.OtherUser)
	return nil
}

// senlin registers Senlin: its service user (admin of the service project,
// which Senlin needs to make trusts) and the clustering endpoint.
func senlin(ctx context.Context, host string) error {
	s, svcPW, err := identitySetup(ctx)
	if err != nil {
		return err
	}
	project, err := s.Project(ctx, openstacktest.ServiceProject)
	if err != nil {
		return err
	}
	role, err := s.Role(ctx, "admin")
	if err != nil {
		return err
	}
	if err := s.User(ctx, "senlin", svcPW, project, role); err != nil {
		return err
	}
	if err := s.Service(ctx, "clustering", "senlin", "http://"+host+":8777"); err != nil {
		return err
	}
	fmt.Println("senlin: user senlin, catalog clustering")
	return nil
}
