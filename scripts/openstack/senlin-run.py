#!/usr/bin/python3
"""Runs one of Senlin 14's services for the test bench (scripts/openstack-up.sh
--senlin): senlin-api, senlin-conductor, senlin-engine or
senlin-health-manager, with its usual arguments after the name.

Two things make it more than the packaged program:

- Senlin's command module is imported first: it monkey-patches eventlet, and
  Senlin's database layer keeps its context in a thread-local that must be
  created after that, or every service dies at start ("Can't upgrade a READER
  transaction to a WRITER mid-transaction").
- The bench's servers have no network. Senlin's os.nova.server profile cannot
  say so: its validation fails without a networks property, and with an empty
  list openstacksdk sends [] at microversion 2.73, which Nova takes as no
  request and then fails asking Neutron. The server create call is given
  networks "none" when the profile gave an empty list.
"""
import importlib
import sys

COMMANDS = {
    "senlin-api": "senlin.cmd.api",
    "senlin-conductor": "senlin.cmd.conductor",
    "senlin-engine": "senlin.cmd.engine",
    "senlin-health-manager": "senlin.cmd.health_manager",
}

name = sys.argv.pop(1)
sys.argv[0] = name
command = importlib.import_module(COMMANDS[name])

from senlin.drivers.os import nova_v2  # noqa: E402  (after the monkey patch)

create = nova_v2.NovaClient.server_create


def server_create(self, **attrs):
    if not attrs.get("networks"):
        attrs["networks"] = "none"
    return create(self, **attrs)


nova_v2.NovaClient.server_create = server_create
sys.exit(command.main())
