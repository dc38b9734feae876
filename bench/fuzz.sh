#!/usr/bin/env bash
# The fuzz suite run long: the API fuzzed as every kind of caller, the services' state
# machine, and mutated receipts, notes, exports and offline payments, each with far more
# examples than CI gives them. Seeded, so a run repeats; prints what each part did.
#
#   bench/fuzz.sh                     defaults below
#   FUZZ_EXAMPLES=20 bench/fuzz.sh    examples per endpoint, strategy and role (CI: 1)
#
# Tunables: FUZZ_EXAMPLES, STATEFUL_EXAMPLES (CI 10) and STATEFUL_STEPS (CI 20),
# MUTATION_ROUNDS (CI 4,000). Uses DATABASE_URL / CELERY_BROKER_URL like `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

export EWALLET_FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-5}
export EWALLET_STATEFUL_EXAMPLES=${STATEFUL_EXAMPLES:-60}
export EWALLET_STATEFUL_STEPS=${STATEFUL_STEPS:-30}
export EWALLET_MUTATION_ROUNDS=${MUTATION_ROUNDS:-50000}

echo "load at start: $(cat /proc/loadavg)"
for part in tests/settlement/test_mutated_proofs.py tests/wallets/test_services_stateful.py \
    tests/api/test_fuzz_roles.py; do
    start=$(date +%s)
    .venv/bin/pytest -q -s -p no:cacheprovider "$part" 2>/dev/null \
        | grep -oE "(receipts|notes|exports|offline|fuzz as).*|[0-9]+ (passed|failed).*|^FAILED.*" || true
    echo "$part: $(($(date +%s) - start)) s"
done
