-- wrk: batches of $BENCH_BATCH (default 1000) payments per request to /transfers/batch.
local dir = os.getenv("BENCH_DIR") or "var/apibench"
local size = tonumber(os.getenv("BENCH_BATCH") or "1000")

local function lines(name)
  local out = {}
  for line in io.lines(dir .. "/" .. name) do out[#out + 1] = line end
  return out
end

local payers, payees = lines("payers.txt"), lines("payees.txt")
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
  local prefix = string.format("wrkb-%d-%d-%d", os.time(), thread_id, counter)
  local items = {}
  for i = 1, size do
    items[i] = string.format(
      '{"payer":"%s","payee":"%s","amount":"%d.%02d","idempotency_key":"%s-%d"}',
      payers[math.random(#payers)], payees[math.random(#payees)],
      math.random(0, 20), math.random(1, 99), prefix, i)
  end
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = prefix,
  }
  return wrk.format("POST", "/api/v1/transfers/batch", headers,
    '{"transfers":[' .. table.concat(items, ",") .. "]}")
end

function done(summary, latency, requests)
  io.write(string.format("batches/s %.1f -> transfers/s %.0f (%d errors)\n",
    summary.requests / (summary.duration / 1e6),
    summary.requests * size / (summary.duration / 1e6),
    summary.errors.status + summary.errors.timeout))
  io.write(string.format("latency ms: p50 %.1f, p99 %.1f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
