#!/usr/bin/env bash
# The whole test suite, against real services started by the project's scripts:
#   - PostgreSQL (scripts/pg-up.sh; stop with scripts/pg-down.sh)
#   - two single-node SLURM clusters, without and with accounting (scripts/slurm-test-clusters.sh,
#     root only; stop with scripts/slurm-down.sh)
#   - rootful podman with a tiny local image (scripts/container-up.sh, root only; clean up with
#     scripts/container-down.sh)
#   - a GA4GH WES server: wes-service + cwltool from PyPI (scripts/wes-up.sh; stop with
#     scripts/wes-down.sh)
#   - Chromium from Debian and Playwright from PyPI, for the dashboard (scripts/browser-up.sh)
#   - an SMTP server: aiosmtpd from PyPI (scripts/smtp-up.sh; stop with scripts/smtp-down.sh)
# They are left running for the next run. Extra arguments go to `swift test`, e.g.
#   scripts/test.sh --filter Retry
set -euo pipefail
cd "$(dirname "$0")/.."
# Layout is the formatter's (.swift-format); fix with scripts/format.sh.
if ! swift format lint --strict --recursive Sources Tests Benchmarks Package.swift; then
  echo "[test] code is not formatted: run scripts/format.sh" >&2
  exit 1
fi
# The API fuzzer (Tests/fuzz) is property-based, on Hypothesis from PyPI; the OpenAPI
# contract test validates the document (openapi-spec-validator) and runs schemathesis on it.
python3 -c "import hypothesis" 2>/dev/null || python3 -m pip install -q hypothesis >&2
python3 -c "import openapi_spec_validator" 2>/dev/null || python3 -m pip install -q openapi-spec-validator >&2
python3 -c "import schemathesis" 2>/dev/null || python3 -m pip install -q schemathesis >&2
eval "$(scripts/pg-up.sh | tail -1)"
# The dashboard is tested in a real browser: Debian's Chromium driven by Playwright.
eval "$(scripts/browser-up.sh | tail -1)"
export WFL_CHROMIUM
eval "$(scripts/wes-up.sh | tail -1)"
# E-mail notifications go to a real SMTP server: aiosmtpd from PyPI.
eval "$(scripts/smtp-up.sh | tail -1)"
export WFL_TEST_DATABASE_URL WFL_TEST_WES_URL WFL_TEST_SMTP WFL_TEST_SMTP_DIR
if [ "$(id -u)" = 0 ]; then
  eval "$(scripts/slurm-test-clusters.sh | tail -2)"
  eval "$(scripts/container-up.sh | tail -2)"
  export WFL_TEST_SLURM_CONF WFL_TEST_SLURM_ACCT_CONF CONTAINERS_CONF CONTAINERS_STORAGE_CONF
else
  echo "[test] not root: SLURM and podman not set up (they need root); their tests will fail" >&2
fi
swift build --build-tests
scripts/build-info.sh .build/debug
if [ $# -gt 0 ]; then
  exec swift test --skip-build "$@"
fi
# Three phases. The load generators (the API fuzzer, schemathesis) run after the other suites,
# whose timing-sensitive checks (a /health ping within 900 ms) a starved CPU would break; the
# outage test times how fast passes resume after twenty database restarts, so it runs alone.
swift test --skip-build --skip OutageTests --skip FuzzTests --skip OpenAPIContractTests
swift test --skip-build --filter "FuzzTests|OpenAPIContractTests"
swift test --skip-build --filter OutageTests
