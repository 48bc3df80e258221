-- wrk script for scripts/bench-api: POSTs GraphQL bodies, checks every answer and records every
-- request's latency.
--
--   BENCH_LATENCY_FILE=PATH wrk -tN -cN ... -s graphql.lua URL -- BODIES_FILE
--
-- Run it with as many threads as connections (-tN -cN): each thread then has one connection
-- and strictly alternates request() and response(), so the time between the two is that
-- request's latency (from just before the request is written to the whole response read). A
-- request() without a response to the previous one (a second connection on the thread, or a
-- reconnect) is counted in `overlaps`, and scripts/bench-api fails the run. (wrk calls request()
-- twice before a thread's first answer; that first extra call is not counted.)
--
-- Why not wrk's own percentiles: wrk "corrects" its latency histogram for coordinated omission
-- before printing it and before done() sees it (stats_correct: for every latency longer than the
-- mean interval between requests it adds made-up samples), so its p99 is not the p99 of the
-- requests sent, and not comparable with pgbench's per-transaction log. done() writes the raw
-- latencies (integer microseconds, one per line) to BENCH_LATENCY_FILE instead, and
-- scripts/bench/report.py takes nearest-rank percentiles of them, as it does for pgbench.
--
-- With BENCH_TRACE_FILE=PATH, done() also writes one line per answer: the wall-clock time the
-- request was sent (µs), its x-feed-position and x-cache headers (for scripts/bench/mixed.py).
-- Answers with `x-cache: hit` are counted in hits.
--
-- BODIES_FILE holds one JSON request body per line (one per token); each thread sends them round
-- robin from its own starting point. Every response is checked: a status other than 200 counts
-- in non200, a 200 whose body has an "errors" member counts in gql_errors (wrk itself counts
-- neither as an error). done() prints one line for scripts/bench-api:
--
--   BENCH requests=N duration_us=N latencies=N non200=N gql_errors=N socket_errors=N overlaps=N

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_REALTIME = 0
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end
-- The wall clock, comparable with the server's log (scripts/bench/mixed.py).
local function wall_us()
  ffi.C.clock_gettime(CLOCK_REALTIME, ts)
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

local reqs = {}
local n = 0
local next_req = 0
local started = nil
local answered = 0

function init(args)
  non200 = 0
  gql_errors = 0
  overlaps = 0
  hits = 0
  latencies = {}
  traces = {}
  tracing = os.getenv("BENCH_TRACE_FILE") ~= nil and os.getenv("BENCH_TRACE_FILE") ~= ""
  local path = args[1]
  if path == nil then
    error("graphql.lua: pass the bodies file after --")
  end
  local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
  for line in io.lines(path) do
    if #line > 0 then
      n = n + 1
      reqs[n] = wrk.format("POST", wrk.path, headers, line)
    end
  end
  if n == 0 then
    error("graphql.lua: no request bodies in " .. path)
  end
  -- Threads start at different bodies so that they do not ask for the same token in lockstep.
  next_req = ((thread_no or 1) - 1) * 7 % n
end

function request()
  -- wrk calls request() once more than it sends when a thread starts: ignore that one.
  if started ~= nil and answered > 0 then
    overlaps = overlaps + 1
  end
  next_req = next_req % n + 1
  started = now_us()
  if tracing then sent_wall = wall_us() end
  return reqs[next_req]
end

function response(status, headers, body)
  answered = answered + 1
  if started ~= nil then
    latencies[#latencies + 1] = math.floor(now_us() - started + 0.5)
    started = nil
  end
  if status ~= 200 then
    non200 = non200 + 1
  elseif body == nil or string.find(body, '"errors"', 1, true) then
    gql_errors = gql_errors + 1
  end
  local cache = headers["x-cache"] or headers["X-Cache"] or ""
  if cache == "hit" then hits = hits + 1 end
  if tracing and sent_wall ~= nil then
    traces[#traces + 1] = string.format("%d %s %s", sent_wall,
      headers["x-feed-position"] or "-", cache)
    sent_wall = nil
  end
end

function done(summary, latency, requests)
  local bad_status, bad_body, overlapped, count, hit = 0, 0, 0, 0, 0
  local out = nil
  local path = os.getenv("BENCH_LATENCY_FILE")
  if path ~= nil and path ~= "" then
    out = assert(io.open(path, "w"))
  end
  local trace_out = nil
  local trace_path = os.getenv("BENCH_TRACE_FILE")
  if trace_path ~= nil and trace_path ~= "" then
    trace_out = assert(io.open(trace_path, "w"))
  end
  for _, t in ipairs(threads) do
    bad_status = bad_status + t:get("non200")
    bad_body = bad_body + t:get("gql_errors")
    overlapped = overlapped + t:get("overlaps")
    hit = hit + t:get("hits")
    if trace_out ~= nil then
      local tr = t:get("traces")
      trace_out:write(table.concat(tr, "\n"))
      if #tr > 0 then trace_out:write("\n") end
    end
    local lat = t:get("latencies")
    count = count + #lat
    if out ~= nil then
      out:write(table.concat(lat, "\n"))
      if #lat > 0 then out:write("\n") end
    end
  end
  if out ~= nil then out:close() end
  if trace_out ~= nil then trace_out:close() end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d latencies=%d non200=%d gql_errors=%d socket_errors=%d overlaps=%d hits=%d\n",
    summary.requests, summary.duration, count, bad_status, bad_body,
    e.connect + e.read + e.write + e.timeout, overlapped, hit))
end
