#!/usr/bin/env bash
# Starts the two single-node SLURM clusters the tests use (idempotent) and prints their
# configurations as the last two lines:
#   export WFL_TEST_SLURM_CONF=…        without accounting (sacct disabled)
#   export WFL_TEST_SLURM_ACCT_CONF=…   with slurmdbd + MariaDB (sacct works)
# Both advertise 16 CPUs (more than the machine has) so that many trivial jobs run at once.
# scripts/slurm-down.sh stops one; pass SLURM_TEST_DIR=/tmp/wfl-test/slurm-acct for the other.
set -euo pipefail
cd "$(dirname "$0")"
plain=$(SLURM_CPUS=${SLURM_CPUS:-16} ./slurm-up.sh | tail -1)
acct=$(SLURM_TEST_DIR=/tmp/wfl-test/slurm-acct SLURM_CTLD_PORT=16827 SLURM_D_PORT=16828 SLURM_DBD_PORT=16829 \
       SLURM_MYSQL_PORT=13316 SLURM_CLUSTER_NAME=wflacct SLURM_ENABLE_DBD=1 SLURM_CPUS=${SLURM_CPUS:-16} ./slurm-up.sh | tail -1)
echo "export WFL_TEST_SLURM_CONF=${plain#export SLURM_CONF=}"
echo "export WFL_TEST_SLURM_ACCT_CONF=${acct#export SLURM_CONF=}"
