-- wrk script: replay pre-signed raw requests from a NUL-separated file (bench/events.py write_requests).
-- Each thread takes every n-th request, so no webhook-id is sent twice unless the file runs out
-- ("wrapped" counts how often a thread had to start over; a wrapped run sends duplicates).
-- usage: wrk ... -s bench/wrk.lua URL -- FILE THREADS

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local requests = {}
local n = 0
local i = 0
wrapped = 0

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  local idx = 0
  for req in string.gmatch(data, "([^%z]+)") do
    if idx % nthreads == tid then
      n = n + 1
      requests[n] = req
    end
    idx = idx + 1
  end
end

function request()
  i = i + 1
  if i > n then
    i = 1
    wrapped = wrapped + 1
  end
  return requests[i]
end

function done(summary, latency, requests_)
  local w = 0
  for _, t in ipairs(threads) do
    w = w + (t:get("wrapped") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"wrapped":%d,"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p99.9":%d}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, w,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
