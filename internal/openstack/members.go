package openstack

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servergroups"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/orchestration/v1/stackresources"
)

// The ways a cluster's servers are chosen (health.Cluster.Members).
const (
	// ByMetadata: the servers whose metadata says cluster_id=<the cluster's
	// ID>, as Senlin tags its servers. Written as the empty string.
	ByMetadata = "metadata"
	// ByServerGroup: the members of one Nova server group.
	ByServerGroup = "server-group"
	// ByHeatStack: the OS::Nova::Server resources of one Heat stack, its
	// nested stacks included.
	ByHeatStack = "heat-stack"
)

// HeatServerType is the Heat resource type of a Nova server.
const HeatServerType = "OS::Nova::Server"

// heatDepth is how deep the driver looks into nested stacks (a
// ResourceGroup's servers are one level down, an autoscaling group's two).
const heatDepth = 5

// Members is a parsed health.Cluster.Members.
type Members struct {
	Kind string
	// Group is the server group's ID (ByServerGroup).
	Group string
	// StackName and StackID name the Heat stack (ByHeatStack).
	StackName, StackID string
}

var (
	uuidRE      = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)
	stackNameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.-]{0,254}$`)
)

// ParseMembers checks a cluster's member selector: "" (server metadata),
// server-group:<ID> or heat-stack:<name>/<ID>. The error names the field
// (path) and the rule.
func ParseMembers(path, s string) (Members, error) {
	kind, arg, _ := strings.Cut(s, ":")
	switch kind {
	case "", ByMetadata:
		if arg != "" {
			break
		}
		return Members{Kind: ByMetadata}, nil
	case ByServerGroup:
		if !uuidRE.MatchString(arg) {
			return Members{}, fmt.Errorf("%s: server-group:<ID> needs the server group's ID (a UUID, as `openstack server group list` shows it), got %q", path, arg)
		}
		return Members{Kind: ByServerGroup, Group: arg}, nil
	case ByHeatStack:
		name, id, _ := strings.Cut(arg, "/")
		if !stackNameRE.MatchString(name) || !uuidRE.MatchString(id) {
			return Members{}, fmt.Errorf("%s: heat-stack:<name>/<ID> needs the stack's name and its ID (a UUID), as `openstack stack show -c stack_name -c id` shows them, got %q", path, arg)
		}
		return Members{Kind: ByHeatStack, StackName: name, StackID: id}, nil
	}
	return Members{}, fmt.Errorf("%s: must be empty (servers with metadata cluster_id=<cluster>), server-group:<ID> or heat-stack:<name>/<ID>, got %q", path, s)
}

// String is the selector as health.Cluster.Members keeps it.
func (m Members) String() string {
	switch m.Kind {
	case ByServerGroup:
		return ByServerGroup + ":" + m.Group
	case ByHeatStack:
		return ByHeatStack + ":" + m.StackName + "/" + m.StackID
	}
	return ""
}

// Describe says which servers the selector chooses, for people.
func (m Members) Describe(clusterID string) string {
	switch m.Kind {
	case ByServerGroup:
		return "the members of server group " + m.Group
	case ByHeatStack:
		return fmt.Sprintf("the %s resources of Heat stack %s/%s", HeatServerType, m.StackName, m.StackID)
	}
	return "the servers with metadata " + MetaClusterID + "=" + clusterID
}

// serverIDs reads the IDs of the servers a server group or a Heat stack
// holds: one API call. A group of another project than the cluster's is
// refused. ByMetadata has none to read (nil).
func (s *Syncer) serverIDs(ctx context.Context, m Members, project string) ([]string, error) {
	switch m.Kind {
	case ByServerGroup:
		g, err := servergroups.Get(ctx, s.Cloud.Compute, m.Group).Extract()
		if err != nil {
			return nil, fmt.Errorf("server group %s: %w", m.Group, describe(err))
		}
		if g.ProjectID != project {
			return nil, fmt.Errorf("server group %s is of project %q, not of the cluster's %q: it has no member", m.Group, g.ProjectID, project)
		}
		return g.Members, nil
	case ByHeatStack:
		if s.Cloud.Orchestration == nil {
			return nil, fmt.Errorf("Heat stack %s: the cloud's catalog has no orchestration endpoint", m.StackName)
		}
		pages, err := stackresources.List(s.Cloud.Orchestration, m.StackName, m.StackID, stackresources.ListOpts{Depth: heatDepth}).AllPages(ctx)
		if err != nil {
			return nil, fmt.Errorf("Heat stack %s/%s: %w", m.StackName, m.StackID, describe(err))
		}
		list, err := stackresources.ExtractResources(pages)
		if err != nil {
			return nil, fmt.Errorf("Heat stack %s/%s: %w", m.StackName, m.StackID, err)
		}
		var ids []string
		for _, r := range list {
			if r.Type == HeatServerType && r.PhysicalID != "" {
				ids = append(ids, r.PhysicalID)
			}
		}
		return ids, nil
	}
	return nil, nil
}

// pick returns the servers of the list whose IDs are given, in that order;
// an ID the list lacks (a server not yet built, or not visible to the
// credentials) is left out.
func pick(byID map[string]servers.Server, ids []string) []servers.Server {
	out := make([]servers.Server, 0, len(ids))
	for _, id := range ids {
		if srv, ok := byID[id]; ok {
			out = append(out, srv)
		}
	}
	return out
}

// serverGroups reads the server groups a server is in (compute API 2.71 and
// later show them); nil when the cloud's Nova is older.
func serverGroups(ctx context.Context, c *gophercloud.ServiceClient, id string) []string {
	c71 := *c
	c71.Microversion = "2.71"
	var server struct {
		Groups []string `json:"server_groups"`
	}
	if err := servers.Get(ctx, &c71, id).ExtractInto(&server); err != nil {
		return nil
	}
	return server.Groups
}
