-- paths.lua - wrk script for bench/http: cycles through the request paths in
-- a file (one per line, given after `--`), each thread from its own offset,
-- and prints one machine-readable line of results for run.sh to parse.
local paths = {}
local next_index = 1
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_no", thread_count)
end

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot open the paths file")
  -- Format every request once: request() then only hands out a string, so
  -- the client spends as little CPU per request as wrk's static mode.
  for line in file:lines() do
    if #line > 0 then paths[#paths + 1] = wrk.format("GET", line) end
  end
  file:close()
  assert(#paths > 0, "the paths file is empty")
  -- Spread threads over the list so they do not ask for the same path at once.
  next_index = ((thread_no or 1) - 1) * math.floor(#paths / 2) % #paths + 1
end

function request()
  local req = paths[next_index]
  next_index = next_index % #paths + 1
  return req
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKSTATS requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
