#!/usr/bin/env bash
# Load on the REST API with wrk, against gunicorn on PostgreSQL with real settlement
# workers, then what became of every transfer it queued.
#
#   bench/api.sh pay   [SECONDS] [CONNECTIONS]   single payments, one per request
#   bench/api.sh qr    [SECONDS] [CONNECTIONS]   QR payments (POST /payments/qr), one per
#                                                request, paying shops' static codes
#   bench/api.sh batch [SECONDS] [CONNECTIONS]   /transfers/batch, BENCH_BATCH per request
#   bench/api.sh bare  [SECONDS] [CONNECTIONS]   the yardstick: bench/baseline/bare.py, one
#                                                DRF view doing one INSERT, same gunicorn
#
# Uses (and recreates) the database $BENCH_DB (default ewallet_apibench) and Redis db 12.
# Needs wrk (Debian: apt-get install wrk). Tunables: GUNICORN_WORKERS, GUNICORN_THREADS,
# CELERY_CONCURRENCY, BENCH_WAIT_MS (pay: ask each request to wait for settlement).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-pay}
seconds=${2:-30}
connections=${3:-32}
db=${BENCH_DB:-ewallet_apibench}
port=${BENCH_PORT:-8765}
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
export CELERY_BROKER_URL=${BENCH_BROKER_URL:-redis://127.0.0.1:6379/12}
export EWALLET_API_RATE=1000000/s
export EWALLET_DB_CONN_MAX_AGE=600
export BENCH_DIR=var/apibench
PY=.venv/bin/python
make --quiet .venv/.installed

dropdb -h 127.0.0.1 -U postgres --if-exists "$db"
createdb -h 127.0.0.1 -U postgres "$db"
redis-cli -n "${CELERY_BROKER_URL##*/}" flushdb >/dev/null
$PY manage.py migrate --noinput -v 0
$PY manage.py audit keygen --if-missing >/dev/null
$PY manage.py apibench setup --out "$BENCH_DIR"

mkdir -p var/log
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done; wait || true; }
trap cleanup EXIT

if [ "$mode" = bare ]; then
  dropdb -h 127.0.0.1 -U postgres --if-exists ewallet_bare
  createdb -h 127.0.0.1 -U postgres ewallet_bare
  psql -q -h 127.0.0.1 -U postgres -d ewallet_bare -c "$($PY -c \
    'import sys; sys.path.insert(0, "bench/baseline"); import bare; print(bare.TABLE)')"
  setsid .venv/bin/gunicorn bare:application --chdir bench/baseline --bind "127.0.0.1:$port" \
    --workers "${GUNICORN_WORKERS:-4}" --threads "${GUNICORN_THREADS:-1}" \
    >var/log/bench-bare.log 2>&1 &
  pids+=($!)
  until curl -fs -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d '{"payer":"a","payee":"b"}' "http://127.0.0.1:$port/api/v1/transfers"; do sleep 0.5; done
  echo "== $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "== wrk bare: ${seconds}s, $connections connections, gunicorn ${GUNICORN_WORKERS:-4}x${GUNICORN_THREADS:-1}"
  wrk -t2 -c "$connections" -d "${seconds}s" --latency -s bench/wrk/pay.lua "http://127.0.0.1:$port"
  exit 0
fi
setsid .venv/bin/celery -A ewallet worker --beat --schedule var/log/bench-beat \
  --concurrency "${CELERY_CONCURRENCY:-2}" --loglevel WARNING >var/log/bench-worker.log 2>&1 &
pids+=($!)
setsid .venv/bin/gunicorn ewallet.wsgi --bind "127.0.0.1:$port" \
  --workers "${GUNICORN_WORKERS:-4}" --threads "${GUNICORN_THREADS:-1}" \
  >var/log/bench-gunicorn.log 2>&1 &
pids+=($!)
until curl -fs "http://127.0.0.1:$port/api/v1/health" >/dev/null; do sleep 0.5; done

echo "== $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== wrk $mode: ${seconds}s, $connections connections, gunicorn ${GUNICORN_WORKERS:-4}x${GUNICORN_THREADS:-1}, celery ${CELERY_CONCURRENCY:-2}"
wrk -t2 -c "$connections" -d "${seconds}s" --latency -s "bench/wrk/$mode.lua" "http://127.0.0.1:$port"

# Let settlement drain what was accepted, then account for every transfer.
until [ "$(psql -h 127.0.0.1 -U postgres -d "$db" -tAc \
  "select count(*) from settlement_transfer where state = 'RECEIVED'")" = 0 ]; do sleep 0.5; done
$PY manage.py apibench report --after "$(cat "$BENCH_DIR/after.txt")"
$PY manage.py audit verify | tail -n 1
