-- mix.lua - wrk script for bench/load: cycles through a file of request paths
-- (the mixed read workload: details, lists, searches, static files; given
-- after `--`), counts answers by status class in every thread and prints one
-- machine-readable line: requests, latency percentiles, socket errors, and
-- how many answers were 2xx/3xx/4xx/5xx.
local paths = {}
local next_index = 1
local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_no", thread_count)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot open the paths file")
  for line in file:lines() do
    if #line > 0 then paths[#paths + 1] = wrk.format("GET", line) end
  end
  file:close()
  assert(#paths > 0, "the paths file is empty")
  next_index = ((thread_no or 1) - 1) * math.floor(#paths / 2) % #paths + 1
  c2, c3, c4, c5, c429 = 0, 0, 0, 0, 0
end

function request()
  local req = paths[next_index]
  next_index = next_index % #paths + 1
  return req
end

function response(status, headers, body)
  if status >= 500 then c5 = c5 + 1
  elseif status >= 400 then
    c4 = c4 + 1
    if status == 429 then c429 = c429 + 1 end
  elseif status >= 300 then c3 = c3 + 1
  else c2 = c2 + 1 end
end

function done(summary, latency, requests)
  local t2, t3, t4, t5, t429 = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    t2 = t2 + t:get("c2"); t3 = t3 + t:get("c3"); t4 = t4 + t:get("c4")
    t5 = t5 + t:get("c5"); t429 = t429 + t:get("c429")
  end
  local e = summary.errors
  io.write(string.format(
    "WRKSTATS requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "connect=%d read=%d write=%d timeout=%d s2xx=%d s3xx=%d s4xx=%d s5xx=%d s429=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, t2, t3, t4, t5, t429))
end
