-- wrk script for scripts/chaos (the PostgreSQL restart): POSTs GraphQL bodies round robin and
-- records every answer, so that failures can be judged afterwards.
--
--   CHAOS_TRACE=PATH CHAOS_FAILURES=PATH wrk -tN -cN -d... -s load.lua URL -- BODIES_FILE
--
-- One thread per connection (-tN -cN), so each thread strictly alternates request() and
-- response(). BODIES_FILE holds one JSON request body per line.
--
-- CHAOS_TRACE gets one line per answer: `sent_us received_us status class position cache`
-- (wall clock, µs; class `ok` for a 200 without an "errors" member, else `err`; position and
-- cache the x-feed-position and x-cache headers, or `-`). CHAOS_FAILURES gets, for the first 500 failed answers of each
-- thread, `sent_us status body` (the body's line breaks turned into spaces, cut at 2,000
-- bytes). done() prints
--
--   CHAOS requests=N ok=N failed=N connect=N read=N write=N timeout=N status=N
--
-- (wrk's socket errors: a request that got no HTTP answer at all is counted there only).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } chaos_timespec;
  int clock_gettime(int clk_id, chaos_timespec *tp);
]]
local ts = ffi.new("chaos_timespec")
local function wall_us()
  ffi.C.clock_gettime(0, ts)
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

local reqs, n, next_req, sent = {}, 0, 0, nil

function init(args)
  ok, failed = 0, 0
  traces, failures = {}, {}
  local path = args[1]
  if path == nil then error("load.lua: pass the bodies file after --") end
  local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
  for line in io.lines(path) do
    if #line > 0 then
      n = n + 1
      reqs[n] = wrk.format("POST", wrk.path, headers, line)
    end
  end
  if n == 0 then error("load.lua: no request bodies in " .. path) end
  next_req = ((thread_no or 1) - 1) % n
end

function request()
  next_req = next_req % n + 1
  sent = wall_us()
  return reqs[next_req]
end

function response(status, headers, body)
  local now = wall_us()
  local class = "ok"
  if status ~= 200 or body == nil or string.find(body, '"errors"', 1, true) then
    class = "err"
    failed = failed + 1
    if #failures < 500 then
      local b = (body or ""):sub(1, 2000):gsub("[\r\n]", " ")
      failures[#failures + 1] = string.format("%d %d %s", sent or now, status, b)
    end
  else
    ok = ok + 1
  end
  traces[#traces + 1] = string.format("%d %d %d %s %s %s", sent or now, now, status, class,
    headers["x-feed-position"] or "-", headers["x-cache"] or "-")
  sent = nil
end

function done(summary, latency, requests)
  local tr_out = assert(io.open(os.getenv("CHAOS_TRACE"), "w"))
  local fa_out = assert(io.open(os.getenv("CHAOS_FAILURES"), "w"))
  local oks, fails = 0, 0
  for _, t in ipairs(threads) do
    oks = oks + t:get("ok")
    fails = fails + t:get("failed")
    local tr = t:get("traces")
    if #tr > 0 then tr_out:write(table.concat(tr, "\n"), "\n") end
    local fa = t:get("failures")
    if #fa > 0 then fa_out:write(table.concat(fa, "\n"), "\n") end
  end
  tr_out:close()
  fa_out:close()
  local e = summary.errors
  io.write(string.format("CHAOS requests=%d ok=%d failed=%d connect=%d read=%d write=%d timeout=%d status=%d\n",
    summary.requests, oks, fails, e.connect, e.read, e.write, e.timeout, e.status))
end
