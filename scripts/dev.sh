#!/usr/bin/env bash
# dev.sh: run the whole system on one machine with the embedded defaults:
# PostgreSQL and RabbitMQ as local services, a Temporal dev server with its Web
# UI, and every worker in one process, with a demo cluster.
#
#   scripts/dev.sh [flags of the dev main]
#
# Settings come from the environment (see internal/config), flags override them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/ensure-services.sh
bash scripts/install-temporal.sh
export TEMPORAL_CLI_PATH="$PWD/.bin/temporal"

exec go run ./worker/dev --demo "$@"
