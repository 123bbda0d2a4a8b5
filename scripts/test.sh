#!/usr/bin/env bash
# The whole test suite, against real services started by the project's scripts:
#   - PostgreSQL (scripts/pg-up.sh; stop with scripts/pg-down.sh)
#   - two single-node SLURM clusters, without and with accounting (scripts/slurm-test-clusters.sh,
#     root only; stop with scripts/slurm-down.sh)
# They are left running for the next run. Extra arguments go to `swift test`, e.g.
#   scripts/test.sh --filter Retry
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/pg-up.sh | tail -1)"
export WFL_TEST_DATABASE_URL
if [ "$(id -u)" = 0 ]; then
  eval "$(scripts/slurm-test-clusters.sh | tail -2)"
  export WFL_TEST_SLURM_CONF WFL_TEST_SLURM_ACCT_CONF
else
  echo "[test] not root: SLURM clusters not started (slurmd must run as root); the SLURM tests will fail" >&2
fi
swift build --build-tests
swift test --skip-build "$@"
