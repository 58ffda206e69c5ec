// Package openstack is healthd's engine for OpenStack clouds: it keeps the
// engine contract's clusters and nodes current from Nova (membership by
// server metadata, each server's status and its hypervisor's), and carries
// out NODE_RECOVER actions by calling Nova. It is an adapter at the edge:
// workflows and activities never import it; the worker wires it into the
// engine executor (engine.Recoverer) when ENGINE_DRIVER is openstack.
package openstack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
)

// ComputeMicroversion is the compute API microversion the driver speaks:
// services and hypervisors by UUID, and the server fields it reads.
const ComputeMicroversion = "2.53"

// Cloud is a connection to one OpenStack cloud: its compute API, with the
// token renewed as it expires, for a process that runs for months.
type Cloud struct {
	Compute *gophercloud.ServiceClient
	// Orchestration is Heat's API, for clusters whose members are a
	// stack's servers; nil when the catalog has none.
	Orchestration *gophercloud.ServiceClient
	// Name says which credentials it uses, for logs (never a secret).
	Name string
}

// Connect authenticates the way OpenStack's own tools do: the cloud OS_CLOUD
// names in clouds.yaml (found through OS_CLIENT_CONFIG_FILE, the current
// directory, ~/.config/openstack or /etc/openstack), password or
// application credentials, its region, interface and CA file; or, without
// OS_CLOUD, the OS_* variables (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD,
// OS_PROJECT_NAME, ..., OS_APPLICATION_CREDENTIAL_ID and _SECRET,
// OS_REGION_NAME, OS_INTERFACE, OS_CACERT). A problem is an error naming the
// variable, and never quotes a secret.
func Connect(ctx context.Context, getenv func(string) string) (*Cloud, error) {
	var (
		ao        gophercloud.AuthOptions
		eo        gophercloud.EndpointOpts
		tlsConfig *tls.Config
		name      string
		err       error
	)
	switch cloud := getenv("OS_CLOUD"); {
	case cloud != "":
		opts := []clouds.ParseOption{clouds.WithCloudName(cloud)}
		if f := getenv("OS_CLIENT_CONFIG_FILE"); f != "" {
			opts = append(opts, clouds.WithLocations(f))
		}
		ao, eo, tlsConfig, err = clouds.Parse(opts...)
		if err != nil {
			return nil, fmt.Errorf("OS_CLOUD: cloud %q: %w", cloud, err)
		}
		name = "cloud " + cloud
	case getenv("OS_AUTH_URL") != "":
		eo = gophercloud.EndpointOpts{Region: getenv("OS_REGION_NAME")}
		switch getenv("OS_INTERFACE") {
		case "internal":
			eo.Availability = gophercloud.AvailabilityInternal
		case "admin":
			eo.Availability = gophercloud.AvailabilityAdmin
		case "", "public":
		default:
			return nil, fmt.Errorf("OS_INTERFACE: must be public, internal or admin, got %q", getenv("OS_INTERFACE"))
		}
		if ca := getenv("OS_CACERT"); ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return nil, fmt.Errorf("OS_CACERT: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("OS_CACERT: %s holds no PEM certificate", ca)
			}
			tlsConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		// gophercloud reads the OS_* variables of the process itself.
		ao, err = openstack.AuthOptionsFromEnv()
		if err != nil {
			return nil, fmt.Errorf("OS_* variables: %w", err)
		}
		name = "OS_AUTH_URL " + ao.IdentityEndpoint
	default:
		return nil, errors.New("OS_CLOUD (a cloud of clouds.yaml) or OS_AUTH_URL (with the other OS_* variables) must be set for the openstack driver")
	}
	// gophercloud never sets it: without it a token that expires is a 401
	// for good.
	ao.AllowReauth = true
	pc, err := newProvider(ctx, ao, tlsConfig)
	if err != nil {
		return nil, fmt.Errorf("%s: authenticate: %w", name, err)
	}
	compute, err := openstack.NewComputeV2(pc, eo)
	if err != nil {
		return nil, fmt.Errorf("%s: no compute endpoint in the catalog: %w", name, err)
	}
	compute.Microversion = ComputeMicroversion
	cloud := &Cloud{Compute: compute, Name: name}
	if heat, err := openstack.NewOrchestrationV1(pc, eo); err == nil {
		cloud.Orchestration = heat
	}
	return cloud, nil
}

func newProvider(ctx context.Context, ao gophercloud.AuthOptions, tlsConfig *tls.Config) (*gophercloud.ProviderClient, error) {
	if tlsConfig == nil {
		return config.NewProviderClient(ctx, ao)
	}
	return config.NewProviderClient(ctx, ao, config.WithTLSConfig(tlsConfig))
}
