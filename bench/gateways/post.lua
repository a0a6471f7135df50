-- wrk script: POSTs GraphQL JSON bodies in rotation (BODY_FILE: one body per line) and
-- prints a JSON summary.
-- usage: wrk -s post.lua URL -- BODY_FILE
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"

local requests_ = {}
local next_ = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      requests_[#requests_ + 1] = wrk.format(nil, nil, nil, line)
    end
  end
  assert(#requests_ > 0, "no request body in " .. args[1])
end

function request()
  next_ = next_ % #requests_ + 1
  return requests_[next_]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
