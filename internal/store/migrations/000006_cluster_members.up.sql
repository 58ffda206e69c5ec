-- Which servers form a cluster of Nova servers, for the openstack driver:
-- empty for Senlin's metadata (cluster_id=<the cluster's ID>),
-- server-group:<ID> for the members of a Nova server group,
-- heat-stack:<name>/<ID> for the OS::Nova::Server resources of a Heat stack.
ALTER TABLE clusters ADD COLUMN IF NOT EXISTS members text NOT NULL DEFAULT '';
