-- wrk: one payment per request from a random payer to a random merchant, each with its own
-- Idempotency-Key. Reads payers.txt, payees.txt and token.txt from $BENCH_DIR.
local dir = os.getenv("BENCH_DIR") or "var/apibench"

local function lines(name)
  local out = {}
  for line in io.lines(dir .. "/" .. name) do out[#out + 1] = line end
  return out
end

local payers, payees = lines("payers.txt"), lines("payees.txt")
local token = lines("token.txt")[1]
local wait = os.getenv("BENCH_WAIT_MS")
local path = "/api/v1/transfers" .. (wait and ("?wait=" .. wait) or "")
counter, thread_id = 0, 0  -- globals: setup() sets thread_id in each thread

function setup(thread)
  thread_id = thread_id + 1
  thread:set("thread_id", thread_id)
end

function init(args)
  math.randomseed(os.time() + thread_id * 7919)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"payer":"%s","payee":"%s","amount":"%d.%02d"}',
    payers[math.random(#payers)], payees[math.random(#payees)],
    math.random(0, 20), math.random(1, 99))
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("wrk-%d-%d-%d", os.time(), thread_id, counter),
  }
  return wrk.format("POST", path, headers, body)
end

local statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("latency ms: p50 %.1f, p90 %.1f, p99 %.1f, max %.1f\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
