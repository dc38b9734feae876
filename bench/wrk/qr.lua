-- wrk: one QR payment per request: a random payer scans a random shop's static collection
-- code and pays an amount of their own, each with its own Idempotency-Key. Reads payers.txt,
-- codes.txt and token.txt from $BENCH_DIR.
local dir = os.getenv("BENCH_DIR") or "var/apibench"

local function lines(name)
  local out = {}
  for line in io.lines(dir .. "/" .. name) do out[#out + 1] = line end
  return out
end

local payers, codes = lines("payers.txt"), lines("codes.txt")
local token = lines("token.txt")[1]
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
    '{"payload":"%s","wallet":"%s","amount":"%d.%02d"}',
    codes[math.random(#codes)], payers[math.random(#payers)],
    math.random(0, 20), math.random(1, 99))
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("wrk-qr-%d-%d-%d", os.time(), thread_id, counter),
  }
  return wrk.format("POST", "/api/v1/payments/qr", headers, body)
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
