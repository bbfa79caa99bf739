#!/usr/bin/env bash
# The whole version matrix of the fidelity test: sources PostgreSQL 14–18, each restored into
# its own major and into 18. Installs and starts every major (tests/pg-install.sh).
#   tests/matrix.sh                 # all pairs
#   PAIRS="16:16 16:18" tests/matrix.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LIFEBOAT_TEST_PG_MAJORS="14 15 16 17 18"
export LIFEBOAT_TEST_FIDELITY_PAIRS="${PAIRS:-14:14 14:18 15:15 15:18 16:16 16:18 17:17 17:18 18:18}"
exec tests/run.sh --run-ignored only --no-capture fidelity_matrix
