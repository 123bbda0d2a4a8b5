#!/usr/bin/env bash
# The whole test suite, against a real PostgreSQL started by scripts/pg-up.sh (left running
# for the next run; scripts/pg-down.sh stops it). Extra arguments go to `swift test`,
# e.g. scripts/test.sh --filter Retry
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/pg-up.sh | tail -1)"
export WFL_TEST_DATABASE_URL
swift build --build-tests
swift test --skip-build "$@"
