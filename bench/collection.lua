-- wrk script for the collection API: rotates through pre-built bodies (one per line of the
-- file given after `--`), sends the write key as HTTP Basic user, prints a JSON summary.
-- usage: wrk -s collection.lua URL -- BODIES_FILE BASIC_AUTH_VALUE
local bodies = {}
local index = 0

function init(args)
  local file = assert(io.open(args[1], "rb"))
  for line in file:lines() do
    bodies[#bodies + 1] = line
  end
  file:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Basic " .. args[2]
end

function request()
  index = index % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[index])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
