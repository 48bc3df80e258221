// Driven by scripts/subscriptions-check (mode `check`) and scripts/bench-subscriptions (mode
// `bench`), which start the simulator and the servers and pass everything in the environment.
// Subscribes to `tokenCandles` over WebSocket (the npm graphql-ws client, protocol
// graphql-transport-ws) while the sync writes, then stops the simulator (so the sync stops
// writing), waits until the sync is quiet and checks what was pushed.
//
//   node scripts/subscriptions-check.mjs check   candles vs tokenHourData (see subscriptions-check)
//   node scripts/subscriptions-check.mjs bench   many subscribers (see bench-subscriptions)
//
// Environment (both modes):
//   TM_NPM_DIR        where graphql-ws and ws are installed (target/npm)
//   TM_SERVERS        JSON [{"name": "...", "url": "http://127.0.0.1:PORT", "pid": N, "log": PATH},
//                     ...]; the first one is the syncing server. A WARN or ERROR line in a log
//                     before the simulator is stopped is a failure.
//   TM_WRITER_LOG     the syncing server's JSON log (change applied / token synced lines)
//   TM_TOKENS         token addresses, comma-separated
//   TM_SIM_PID        the simulator's pid: sent SIGTERM at the end of the run
//   TM_DURATION       seconds of the run after every subscription has its first candle
//   TM_LABEL          the backend, for the report (sqlite, postgres)
//   TM_DETAILS        optional: a file for one JSON line per push (arrival, bucket, latency, write)
// check: TM_INTERVALS (default "1h,4h"), TM_MIN_NEW_BUCKETS (default 2), TM_MAX_DURATION (seconds
//   the run may be extended to while a subscription has fewer new buckets; default 3 ×
//   TM_DURATION), TM_SUMMARY (a file the summary rows are appended to).
// bench: TM_SUBSCRIBERS_PER_TOKEN (default 50), TM_REPORT (Markdown file), TM_REPORT_HEADER
//   (text put above the table), TM_P99_TARGET_MS (default 100), TM_SUBSCRIPTIONS_PER_CONNECTION
//   (default 1).
//
// Commit-to-delivery latency, measured for every push of a NEW bucket (a periodStartUnix larger
// than any the subscription had before; its first candle, the snapshot, is not counted):
//   the client's wall-clock time when the push arrives (performance.timeOrigin + now(), µs)
//   minus `applied_at` — logged by the SYNCING process right after its COMMIT — of the write
//   that stored the bucket's first row (with fillGaps false a bucket exists from its first row).
//   A `serve --no-sync` hears the NOTIFY at the COMMIT itself, so it may deliver a little before
//   the writer has taken its applied_at timestamp: such latencies are slightly negative and kept
//   as measured; a push before the writer's committed_at (taken before its COMMIT), or before
//   applied_at in the syncing process itself, is a failure.
// Which write stored which row is read from the syncing server's log: per token, its hourly
// writes ("change applied" with `token`) in order, each pass's "token synced" line saying how many
// rows it inserted. The sync fetches pages in time order and the simulator's past never changes,
// so the rows are inserted in time order: the k-th row of the token (oldest first, as the mirror
// holds it at the end) was inserted by the write at which the running total of inserted rows
// reaches k. The totals must add up to the mirror's row count (no deletes), else it fails.
import { readFileSync, appendFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const mode = process.argv[2];
if (mode !== 'check' && mode !== 'bench') {
  console.error('usage: node scripts/subscriptions-check.mjs check|bench (run by scripts/subscriptions-check, scripts/bench-subscriptions)');
  process.exit(2);
}
const env = (name, dflt) => {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (dflt === undefined) {
      console.error(`FAIL: ${name} is not set`);
      process.exit(2);
    }
    return dflt;
  }
  return v;
};

const npmDir = env('TM_NPM_DIR');
const requireNpm = createRequire(join(npmDir, 'package.json'));
const { createClient } = requireNpm('graphql-ws');
// Node 22+ has a global WebSocket; Node 20 only behind a flag: then the `ws` package.
const WebSocketImpl = globalThis.WebSocket ?? requireNpm('ws');

const servers = JSON.parse(env('TM_SERVERS'));
const writerLog = env('TM_WRITER_LOG');
const tokens = env('TM_TOKENS').split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
const simPid = Number(env('TM_SIM_PID'));
const duration = Number(env('TM_DURATION', mode === 'check' ? '40' : '30'));
const label = env('TM_LABEL', '');

const WIDTH = { '1h': 3600, '4h': 14400, '12h': 43200, '1d': 86400 };
const FIELDS = [
  'periodStartUnix', 'periodStart', 'open', 'high', 'low', 'close', 'priceUSD', 'volume', 'volumeUSD',
  'untrackedVolumeUSD', 'feesUSD', 'totalValueLocked', 'totalValueLockedUSD', 'hours',
];
const SELECTION = FIELDS.join(' ');
const SUBSCRIPTION = `subscription ($a: String!, $i: Interval!) { tokenCandles(address: $a, interval: $i) { ${SELECTION} } }`;
const RANGE_QUERY = `query ($a: String!, $i: Interval!, $from: DateTime!, $to: DateTime!, $limit: Int!) { tokenHourData(address: $a, interval: $i, from: $from, to: $to, limit: $limit) { ${SELECTION} } }`;
const FAR_FUTURE = '2100-01-01T00:00:00Z';

const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const iso = (unix) => new Date(unix * 1000).toISOString().replace('.000Z', 'Z');
const short = (a) => `${a.slice(0, 6)}…${a.slice(-4)}`;
const ms = (us) => (us / 1000).toFixed(1);
function nearestRank(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.max(1, Math.ceil((q / 100) * sorted.length)) - 1];
}
const failures = [];
function fail(what) {
  failures.push(what);
  if (failures.length <= 50) console.log(`    FAIL ${what}`);
}
function diff(a, b) {
  if (!a || !b) return a ? 'the query has no such bucket' : 'no candle';
  const out = FIELDS.filter((f) => a[f] !== b[f]).map((f) => `${f}: pushed ${JSON.stringify(a[f])}, query ${JSON.stringify(b[f])}`);
  return out.join('; ');
}
const same = (a, b) => !!a && !!b && FIELDS.every((f) => a[f] === b[f]);
const key = (c) => JSON.stringify(FIELDS.map((f) => c[f]));

// ---- HTTP -----------------------------------------------------------------------------------

async function graphql(url, query, variables) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  if (res.status !== 200 || json.errors) throw new Error(`HTTP ${res.status}: ${JSON.stringify(json.errors ?? json).slice(0, 300)}`);
  return json.data;
}

/** The candles of `address` at `interval` in [from, to), as tokenHourData answers them. */
async function range(url, address, interval, from, to, limit) {
  const data = await graphql(url, RANGE_QUERY, {
    a: address, i: interval, from: typeof from === 'number' ? iso(from) : from, to: typeof to === 'number' ? iso(to) : to, limit,
  });
  return data.tokenHourData;
}

// ---- subscriptions --------------------------------------------------------------------------

function newClient(url, name) {
  const wsUrl = `${url.replace(/^http/, 'ws')}/graphql`;
  const state = { closedUnexpectedly: null, disposing: false, pings: [] };
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocketImpl,
    lazy: true,
    retryAttempts: 0,
    shouldRetry: () => false,
    on: {
      ping: (received) => {
        if (received) state.pings.push(nowUs());
      },
      closed: (event) => {
        if (!state.disposing) state.closedUnexpectedly = `${event?.code ?? '?'} ${event?.reason ?? ''}`.trim();
      },
    },
  });
  return { client, state, name };
}

/**
 * One tokenCandles subscription; every push is recorded with its arrival time. `onPush` runs for
 * each candle. Resolves `first` at the first candle.
 */
function subscribe(conn, sub, onPush) {
  let resolveFirst, rejectFirst;
  sub.first = new Promise((res, rej) => { resolveFirst = res; rejectFirst = rej; });
  sub.first.catch(() => {});
  sub.pushes = [];
  sub.errors = [];
  sub.completed = false;
  sub.unsubscribe = conn.client.subscribe(
    { query: SUBSCRIPTION, variables: { a: sub.token, i: sub.interval } },
    {
      next: (result) => {
        const at = nowUs();
        if (result.errors) {
          sub.errors.push(`GraphQL errors in a push: ${JSON.stringify(result.errors).slice(0, 300)}`);
          rejectFirst(new Error(sub.errors.at(-1)));
          return;
        }
        const candle = result.data?.tokenCandles;
        if (!candle) {
          sub.errors.push(`a push without data.tokenCandles: ${JSON.stringify(result).slice(0, 300)}`);
          return;
        }
        const push = { at, candle, index: sub.pushes.length };
        sub.pushes.push(push);
        if (push.index === 0) resolveFirst();
        if (onPush) onPush(sub, push);
      },
      error: (err) => {
        const text = Array.isArray(err) ? JSON.stringify(err) : err instanceof Error ? err.message : `${err?.code ?? ''} ${err?.reason ?? err}`;
        sub.errors.push(`subscription error: ${text.slice(0, 300)}`);
        rejectFirst(new Error(text));
      },
      complete: () => {
        sub.completed = true;
        rejectFirst(new Error('completed before its first candle'));
      },
    },
  );
}

async function waitFirst(subs, seconds) {
  const timeout = sleep(seconds * 1000).then(() => 'timeout');
  const results = await Promise.all(
    subs.map((s) => Promise.race([s.first.then(() => 'ok', (e) => `error: ${e.message}`), timeout])),
  );
  results.forEach((r, i) => {
    if (r !== 'ok') throw new Error(`${describe(subs[i])}: no first candle (${r === 'timeout' ? `none within ${seconds} s` : r})`);
  });
}

const describe = (s) => `${s.server.name} ${short(s.token)} ${s.interval}${s.n !== undefined ? ` #${s.n}` : ''}`;

// ---- the syncing server's log: which write inserted which row -------------------------------

function readLog(path) {
  const out = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a line being written
    }
  }
  return out;
}

/** Hourly writes in the log (a cheap count, to see when the sync has gone quiet). */
function hourlyWrites(path) {
  let n = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) if (line.includes('"change applied"') && line.includes('"first_hour"')) n++;
  return n;
}

/** Waits until the syncing server has logged no hourly write for `quietMs` (at most `maxS`). */
async function waitQuiet(quietMs, maxS) {
  const start = Date.now();
  let last = hourlyWrites(writerLog);
  let since = Date.now();
  while (Date.now() - start < maxS * 1000) {
    await sleep(250);
    const n = hourlyWrites(writerLog);
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return (Date.now() - start) / 1000;
    }
  }
  throw new Error(`the sync still wrote hourly rows ${maxS} s after the simulator was stopped`);
}

/**
 * Per token: its hourly writes in log order, each with the rows it inserted (from the pass's
 * "token synced" line).
 */
function writesByToken() {
  const writes = new Map();
  const pending = new Map();
  const problems = [];
  for (const e of readLog(writerLog)) {
    if (e.message === 'change applied' && e.token && e.first_hour !== undefined) {
      const w = {
        seq: e.seq, token: e.token, firstHour: e.first_hour, lastHour: e.last_hour ?? null,
        committedAt: e.committed_at, appliedAt: e.applied_at, inserted: 0, deleted: 0,
      };
      if (!pending.has(e.token)) pending.set(e.token, []);
      pending.get(e.token).push(w);
    } else if (e.message === 'token synced') {
      const token = e.span?.address ?? (e.spans || []).map((s) => s.address).find(Boolean);
      const group = pending.get(token) ?? [];
      pending.set(token, []);
      if (group.length !== e.pages) {
        problems.push(`token ${token}: a pass logged ${e.pages} page(s) but ${group.length} hourly write(s)`);
      }
      if (group.length > 0) {
        // One page per pass once backfilled; several only in the first pass (before any subscription).
        group.at(-1).inserted = e.inserted;
        group.at(-1).deleted = e.deleted;
      }
      if (!writes.has(token)) writes.set(token, []);
      writes.get(token).push(...group);
    }
  }
  for (const [token, group] of pending) if (group.length) {
    if (!writes.has(token)) writes.set(token, []);
    writes.get(token).push(...group); // a pass cut short by the stop: nothing inserted is known
  }
  return { writes, problems };
}

/** WARN and ERROR lines a server logged before `until` (µs): none is expected while the sync runs. */
function logProblems(server, until) {
  const out = [];
  if (!server.log) return out;
  for (const e of readLog(server.log)) {
    if ((e.level === 'WARN' || e.level === 'ERROR') && Date.parse(e.timestamp) * 1000 < until) {
      out.push(`${server.name} logged ${e.level} before the simulator was stopped: ${e.message}${e.error ? `: ${e.error}` : ''}`);
    }
  }
  return out;
}

/** token -> (hour -> the write that inserted its row), from the mirror's rows at the end. */
async function insertingWrites(url, until) {
  const { writes, problems } = writesByToken();
  for (const server of servers) problems.push(...logProblems(server, until));
  const byToken = new Map();
  for (const token of tokens) {
    const rows = await range(url, token, '1h', '2000-01-01T00:00:00Z', FAR_FUTURE, 1000);
    const ws = writes.get(token) ?? [];
    const map = new Map();
    let i = 0;
    let deleted = 0;
    for (const w of ws) {
      deleted += w.deleted;
      for (let k = 0; k < w.inserted && i < rows.length; k++) map.set(rows[i++].periodStartUnix, w);
    }
    const total = ws.reduce((n, w) => n + w.inserted, 0);
    if (rows.length >= 1000) {
      problems.push(`token ${token}: the mirror holds 1,000 or more hourly rows, more than one query reads here: mirror less history`);
      byToken.set(token, null);
    } else if (deleted > 0 || total !== rows.length) {
      problems.push(`token ${token}: the log's writes inserted ${total} rows and deleted ${deleted}, the mirror holds ${rows.length}: cannot tell which write stored which row`);
      byToken.set(token, null);
    } else {
      byToken.set(token, map);
    }
  }
  return { byToken, problems };
}

/**
 * Latencies (µs) of the pushes of new buckets of `subs` whose write was applied at or after
 * `fromUs`; records the pushes it cannot attribute.
 */
function latencies(subs, byToken, sink, fromUs = 0) {
  const out = [];
  for (const s of subs) {
    const rows = byToken.get(s.token);
    if (!rows) continue;
    const hours = [...rows.keys()].sort((a, b) => a - b);
    const w = WIDTH[s.interval];
    for (const p of s.pushes) {
      if (!p.isNew) continue;
      const b = p.candle.periodStartUnix;
      const h = hours.find((x) => x >= b && x < b + w);
      if (h === undefined) {
        sink.push(`${describe(s)}: no row of bucket ${b} is in the mirror at the end`);
        continue;
      }
      const w8 = rows.get(h);
      const lat = p.at - w8.appliedAt;
      // The syncing process logs applied_at after COMMIT returns and only then tells its own
      // subscribers; another process hears the NOTIFY at the commit itself, so it may push a
      // little before the writer logs applied_at — but never before the writer's committed_at
      // (taken before the change-log insert and COMMIT).
      const syncing = s.server === servers[0];
      if ((syncing && lat < 0) || p.at < w8.committedAt) {
        sink.push(`${describe(s)}: bucket ${b} arrived ${ms(w8.appliedAt - p.at)} ms BEFORE the write storing its first row (hour ${h}, seq ${w8.seq}) ${syncing ? 'committed' : 'began to commit'}`);
        continue;
      }
      if (w8.appliedAt < fromUs) continue;
      if (lat < 0) s.early = (s.early ?? 0) + 1;
      p.latency = lat;
      p.write = w8;
      p.firstRow = h;
      out.push(lat);
    }
  }
  return out.sort((a, b) => a - b);
}

/** TM_DETAILS: one JSON line per push (arrival µs, bucket, new?, latency µs and its write) and per server ping. */
function writeDetails(subs, conns) {
  const path = env('TM_DETAILS', '');
  if (!path) return;
  const lines = [];
  for (const c of conns) for (const at of c.state.pings) lines.push(JSON.stringify({ server: c.name, ping: at }));
  for (const s of subs) for (const p of s.pushes) {
    lines.push(JSON.stringify({
      server: s.server.name, token: s.token, interval: s.interval, n: s.n, index: p.index, at: p.at,
      bucket: p.candle.periodStartUnix, hours: p.candle.hours, close: p.candle.close, new: !!p.isNew,
      latency_us: p.latency, first_row: p.firstRow, write_seq: p.write?.seq, write_applied_at: p.write?.appliedAt,
      query_equal: p.query ? same(p.candle, p.query[0]) : undefined,
    }));
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

// ---- stopping the simulator -----------------------------------------------------------------

async function stopSimulator() {
  const stoppedAt = nowUs();
  try {
    process.kill(simPid, 'SIGTERM');
  } catch (e) {
    throw new Error(`cannot stop the simulator (pid ${simPid}): ${e.message}`);
  }
  console.log(`    simulator (pid ${simPid}) stopped; waiting until the sync has written nothing for 2.5 s`);
  const waited = await waitQuiet(2500, 30);
  // Deliveries of the last write (LISTEN, topic recomputation) are done well within this.
  await sleep(1000);
  console.log(`    quiet after ${waited.toFixed(1)} s`);
  return stoppedAt;
}

function rss(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) : NaN;
}
function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
}

// ---- mode check -----------------------------------------------------------------------------

async function check() {
  const intervals = env('TM_INTERVALS', '1h,4h').split(',');
  const minNew = Number(env('TM_MIN_NEW_BUCKETS', '2'));
  const maxDuration = Number(env('TM_MAX_DURATION', String(3 * duration)));
  const subs = [];
  const conns = [];
  const pendingChecks = [];

  // Every push: ask tokenHourData for that bucket at once, on the same server.
  const onPush = (s, p) => {
    const b = p.candle.periodStartUnix;
    p.isNew = p.index > 0 && b > s.maxBucket;
    if (b < s.lastBucket) fail(`${describe(s)}: bucket ${b} pushed after bucket ${s.lastBucket}: bucket starts went backwards`);
    s.lastBucket = Math.max(s.lastBucket, b);
    s.maxBucket = Math.max(s.maxBucket, b);
    const w = WIDTH[s.interval];
    const q = range(s.server.url, s.token, s.interval, b, b + w, 2).then(
      (candles) => {
        p.query = candles;
        if (candles.length !== 1 || candles[0].periodStartUnix !== b) p.queryProblem = `the query for [${b}, ${b + w}) answered ${candles.length} candle(s): ${JSON.stringify(candles.map((c) => c.periodStartUnix))}`;
      },
      (e) => { p.queryProblem = `the query for bucket ${b} failed: ${e.message}`; },
    );
    pendingChecks.push(q);
  };

  for (const server of servers) {
    const conn = newClient(server.url, server.name);
    conns.push(conn);
    for (const token of tokens) {
      for (const interval of intervals) {
        const s = { server, token, interval, lastBucket: -Infinity, maxBucket: -Infinity };
        subs.push(s);
        subscribe(conn, s, onPush);
      }
    }
  }
  console.log(`    ${subs.length} subscriptions (${tokens.length} tokens × ${intervals.join(', ')}) on ${servers.map((s) => s.name).join(' and ')}, one connection per server`);
  await waitFirst(subs, 15);
  const started = Date.now();
  console.log(`    every subscription has its first candle; running ${duration} s`);
  for (let t = 10; t < duration; t += 10) {
    await sleep(Math.min(10, duration - t) * 1000);
    const n = subs.reduce((a, s) => a + s.pushes.length, 0);
    console.log(`    ${Math.round((Date.now() - started) / 1000)} s: ${n} pushes`);
  }
  await sleep(Math.max(0, duration * 1000 - (Date.now() - started)));
  // Simulated tokens have runs of hours without trades (5 hours on average, sometimes far
  // longer): a subscription short of new buckets gets more time, up to TM_MAX_DURATION.
  const newBuckets = (s) => s.pushes.filter((p) => p.isNew).length;
  const lacking = () => subs.filter((s) => newBuckets(s) < minNew);
  if (lacking().length) {
    console.log(`    ${lacking().map(describe).join(', ')}: fewer than ${minNew} new buckets; running on, at most ${maxDuration} s in all`);
    while (lacking().length && Date.now() - started < maxDuration * 1000) await sleep(500);
  }
  const ranFor = (Date.now() - started) / 1000;
  const stoppedAt = await stopSimulator();
  while (pendingChecks.length) await Promise.all(pendingChecks.splice(0));

  // The final state: the sync has stopped writing, so each bucket's last push must be the answer.
  for (const s of subs) {
    if (s.pushes.length === 0) continue;
    const first = s.pushes[0].candle.periodStartUnix;
    const answer = await range(s.server.url, s.token, s.interval, first, FAR_FUTURE, 1000);
    const last = new Map();
    for (const p of s.pushes) last.set(p.candle.periodStartUnix, p.candle);
    s.finalOk = true;
    for (const c of answer) {
      if (!last.has(c.periodStartUnix)) {
        fail(`${describe(s)}: bucket ${c.periodStartUnix} (${c.periodStart}) is in tokenHourData at the end but was never pushed`);
        s.finalOk = false;
      } else if (!same(last.get(c.periodStartUnix), c)) {
        fail(`${describe(s)}: the last push of bucket ${c.periodStartUnix} differs from the final answer: ${diff(last.get(c.periodStartUnix), c)}`);
        s.finalOk = false;
      }
    }
    for (const b of last.keys()) {
      if (!answer.some((c) => c.periodStartUnix === b)) {
        fail(`${describe(s)}: bucket ${b} was pushed but tokenHourData has no such bucket at the end`);
        s.finalOk = false;
      }
    }
  }
  for (const c of conns) {
    c.state.disposing = true;
    await c.client.dispose();
  }
  while (pendingChecks.length) await Promise.all(pendingChecks.splice(0));

  // Every push against the query made when it arrived: a difference must be explained by a
  // later push of the same bucket equal to what the query answered.
  for (const s of subs) {
    s.mismatches = 0;
    s.explained = 0;
    for (const e of s.errors) fail(`${describe(s)}: ${e}`);
    if (s.completed) fail(`${describe(s)}: the server completed the subscription`);
    for (const p of s.pushes) {
      if (p.queryProblem) {
        fail(`${describe(s)}: push #${p.index}: ${p.queryProblem}`);
        continue;
      }
      const q = p.query[0];
      if (same(p.candle, q)) continue;
      s.mismatches++;
      const later = s.pushes.slice(p.index + 1).find((l) => l.candle.periodStartUnix === p.candle.periodStartUnix && same(l.candle, q));
      if (later) {
        s.explained++;
      } else {
        fail(`${describe(s)}: push #${p.index} of bucket ${p.candle.periodStartUnix} differs from the query made on its arrival, and no later push of that bucket equals the query: ${diff(p.candle, q)}`);
      }
    }
    s.newBuckets = s.pushes.filter((p) => p.isNew).length;
    if (s.newBuckets < minNew) fail(`${describe(s)}: ${s.newBuckets} new bucket(s) in ${ranFor.toFixed(0)} s, fewer than ${minNew}`);
  }
  for (const c of conns) if (c.state.closedUnexpectedly) fail(`the connection to ${c.name} closed during the run: ${c.state.closedUnexpectedly}`);

  // Latency: from the write that stored each new bucket's first row.
  const { byToken, problems } = await insertingWrites(servers[0].url, stoppedAt);
  for (const p of problems) fail(p);
  const unattributed = [];
  const perServer = servers.map((server) => {
    const mine = subs.filter((s) => s.server === server);
    const lat = latencies(mine, byToken, unattributed);
    return { server, subs: mine, lat };
  });
  for (const u of unattributed) fail(u);

  writeDetails(subs, conns);
  console.log('\n    per subscription:');
  console.log('    server          token          interval  pushes  new buckets  first bucket → last bucket                      mismatches (explained)  final');
  for (const s of subs) {
    const b0 = s.pushes[0]?.candle.periodStart ?? '-';
    const b1 = s.pushes.at(-1)?.candle.periodStart ?? '-';
    console.log(`    ${s.server.name.padEnd(15)} ${short(s.token).padEnd(14)} ${s.interval.padEnd(9)} ${String(s.pushes.length).padStart(6)}  ${String(s.newBuckets).padStart(11)}  ${`${b0} → ${b1}`.padEnd(47)} ${`${s.mismatches} (${s.explained})`.padStart(22)}  ${s.finalOk ? 'ok' : 'FAIL'}`);
  }
  const summary = env('TM_SUMMARY', '');
  for (const { server, subs: mine, lat } of perServer) {
    const pushes = mine.reduce((a, s) => a + s.pushes.length, 0);
    const newB = mine.reduce((a, s) => a + s.newBuckets, 0);
    const mism = mine.reduce((a, s) => a + s.mismatches, 0);
    const expl = mine.reduce((a, s) => a + s.explained, 0);
    const finalOk = mine.every((s) => s.finalOk);
    const early = mine.reduce((a, s) => a + (s.early ?? 0), 0);
    const fmt = (v) => (lat.length ? ms(v) : '-');
    const row = `| ${label} | ${server.name} | ${ranFor.toFixed(0)} | ${mine.length} | ${pushes} | ${newB} | ${mism} (${expl}) | ${finalOk ? 'ok' : 'FAIL'} | ${fmt(nearestRank(lat, 50))} | ${fmt(nearestRank(lat, 99))} | ${fmt(lat[0])} / ${fmt(lat.at(-1))} |`;
    if (summary) appendFileSync(summary, `${row}\n`);
    console.log(`\n    ${server.name}: ${pushes} pushes, ${newB} new buckets, ${mism} push(es) differing from the query made on arrival (${expl} explained by a later push), final state ${finalOk ? 'ok' : 'FAIL'}; commit → delivery of new buckets (${lat.length} pushes): p50 ${fmt(nearestRank(lat, 50))} ms, p99 ${fmt(nearestRank(lat, 99))} ms, min ${fmt(lat[0])} ms, max ${fmt(lat.at(-1))} ms${early ? `; ${early} arrived before the syncing process logged applied_at (heard by NOTIFY at the COMMIT, while the writer had not yet taken its timestamp)` : ''}`);
  }
}

// ---- mode bench -----------------------------------------------------------------------------

async function bench() {
  const perToken = Number(env('TM_SUBSCRIBERS_PER_TOKEN', '50'));
  const target = Number(env('TM_P99_TARGET_MS', '100'));
  const server = servers[0];
  const total = perToken * tokens.length;

  const rssBefore = rss(server.pid);
  console.log(`    server RSS before subscribing: ${(rssBefore / 1024).toFixed(1)} MiB`);
  const subs = [];
  const conns = [];
  const onPush = (s, p) => {
    const b = p.candle.periodStartUnix;
    p.isNew = p.index > 0 && b > s.maxBucket;
    if (b < s.maxBucket) s.backwards = (s.backwards ?? 0) + 1;
    s.maxBucket = Math.max(s.maxBucket, b);
  };
  // One connection per subscriber (or per TM_SUBSCRIPTIONS_PER_CONNECTION), opened 100 at a time.
  const perConn = Number(env('TM_SUBSCRIPTIONS_PER_CONNECTION', '1'));
  const openStart = Date.now();
  for (let n = 0; n < perToken; n++) {
    for (const token of tokens) {
      if (subs.length % perConn === 0) conns.push(newClient(server.url, server.name));
      const conn = conns.at(-1);
      const s = { server, token, interval: '1h', n, maxBucket: -Infinity };
      subs.push(s);
      subscribe(conn, s, onPush);
      if (subs.length % 100 === 0) await waitFirst(subs.slice(-100), 30);
    }
  }
  await waitFirst(subs, 30);
  const openS = (Date.now() - openStart) / 1000;
  console.log(`    ${subs.length} subscriptions open on ${conns.length} connections after ${openS.toFixed(1)} s`);
  await sleep(3000);
  const rssOpen = rss(server.pid);
  const cpu0 = cpuTicks(server.pid);
  const started = Date.now();
  const measuredFrom = nowUs();
  console.log(`    server RSS with ${subs.length} subscribers open: ${(rssOpen / 1024).toFixed(1)} MiB; running ${duration} s`);
  for (let t = 10; t < duration; t += 10) {
    await sleep(Math.min(10, duration - t) * 1000);
    const n = subs.reduce((a, s) => a + s.pushes.length, 0);
    console.log(`    ${Math.round((Date.now() - started) / 1000)} s: ${n} pushes, server RSS ${(rss(server.pid) / 1024).toFixed(1)} MiB`);
  }
  await sleep(Math.max(0, duration * 1000 - (Date.now() - started)));
  const rssEnd = rss(server.pid);
  const cpuS = (cpuTicks(server.pid) - cpu0) / 100;
  const runS = (Date.now() - started) / 1000;
  const stoppedAt = await stopSimulator();
  for (const c of conns) if (c.state.closedUnexpectedly) fail(`a connection closed during the run: ${c.state.closedUnexpectedly}`);
  for (const s of subs) {
    for (const e of s.errors) fail(`${describe(s)}: ${e}`);
    if (s.completed) fail(`${describe(s)}: the server completed the subscription`);
    if (s.backwards) fail(`${describe(s)}: bucket starts went backwards ${s.backwards} time(s)`);
  }

  // Missed updates: per token, the union of the candles its subscribers received, in order
  // (bucket, then first arrival); each subscriber must have received exactly the union from its
  // own first candle on.
  let missed = 0;
  let missingCandles = 0;
  let finalBad = 0;
  const byTokenSubs = new Map(tokens.map((t) => [t, subs.filter((s) => s.token === t)]));
  for (const [token, mine] of byTokenSubs) {
    const union = new Map();
    for (const s of mine) for (const p of s.pushes) {
      const k = key(p.candle);
      const u = union.get(k);
      if (!u) union.set(k, { candle: p.candle, at: p.at });
      else if (p.at < u.at) u.at = p.at;
    }
    const order = [...union.entries()].sort((a, b) => a[1].candle.periodStartUnix - b[1].candle.periodStartUnix || a[1].at - b[1].at).map(([k]) => k);
    for (const s of mine) {
      const seq = s.pushes.map((p) => key(p.candle));
      const from = order.indexOf(seq[0]);
      const expected = from < 0 ? order : order.slice(from);
      const ok = seq.length === expected.length && seq.every((k, i) => k === expected[i]);
      if (!ok) {
        missed++;
        const have = new Set(seq);
        const lacks = expected.filter((k) => !have.has(k)).length;
        missingCandles += lacks;
        if (missed <= 10) fail(`${describe(s)}: received ${seq.length} candles, the union from its first on has ${expected.length}; ${lacks} missing, ${seq.length - (expected.length - lacks)} extra or out of order`);
      }
    }
    // The union against the final state: every bucket's last candle is the answer.
    const first = Math.min(...mine.map((s) => s.pushes[0]?.candle.periodStartUnix ?? Infinity));
    const answer = await range(server.url, token, '1h', first, FAR_FUTURE, 1000);
    const last = new Map();
    for (const k of order) { const c = union.get(k).candle; last.set(c.periodStartUnix, c); }
    for (const c of answer) {
      if (!same(last.get(c.periodStartUnix), c)) {
        finalBad++;
        fail(`${short(token)}: bucket ${c.periodStartUnix}: the last candle pushed ${last.has(c.periodStartUnix) ? `differs from the final answer: ${diff(last.get(c.periodStartUnix), c)}` : 'is missing: never pushed'}`);
      }
    }
  }
  if (missed > 10) fail(`… and ${missed - 10} more subscribers whose candles differ from the union`);
  for (const c of conns) {
    c.state.disposing = true;
    await c.client.dispose();
  }

  const { byToken, problems } = await insertingWrites(server.url, stoppedAt);
  for (const p of problems) fail(p);
  const unattributed = [];
  // Only writes of the measured run, every subscriber open (not while the connections opened).
  const lat = latencies(subs, byToken, unattributed, measuredFrom);
  writeDetails(subs, conns);
  for (const u of unattributed.slice(0, 10)) fail(u);
  if (unattributed.length > 10) fail(`… and ${unattributed.length - 10} more pushes that could not be attributed`);

  const pushes = subs.reduce((a, s) => a + s.pushes.length, 0);
  const newB = subs.reduce((a, s) => a + s.pushes.filter((p) => p.isNew).length, 0);
  const p50 = nearestRank(lat, 50);
  const p99 = nearestRank(lat, 99);
  const perSubKiB = ((rssOpen - rssBefore) / total);
  const rows = [
    ['subscribers', `${total.toLocaleString('en-US')} (${tokens.length} tokens × ${perToken}), ${perConn === 1 ? 'one WebSocket connection each' : `${conns.length} WebSocket connections (${perConn} subscriptions each)`}, \`tokenCandles\` interval 1h`],
    ['subscriptions opened in', `${openS.toFixed(1)} s`],
    ['server RSS before subscribing', `${(rssBefore / 1024).toFixed(1)} MiB`],
    [`server RSS with ${total.toLocaleString('en-US')} subscribers open`, `${(rssOpen / 1024).toFixed(1)} MiB (${(rssEnd / 1024).toFixed(1)} MiB at the end of the run)`],
    ['memory per subscriber', `${perSubKiB.toFixed(1)} KiB`],
    ['run', `${runS.toFixed(0)} s; server CPU ${(100 * cpuS / runS).toFixed(0)}% of one core`],
    ['pushes in total', pushes.toLocaleString('en-US')],
    ['pushes of new buckets', `${newB.toLocaleString('en-US')}, ${lat.length.toLocaleString('en-US')} of them of writes in the measured run (the latency samples)`],
    ['commit → delivery p50', `${ms(p50)} ms`],
    [`commit → delivery p99 (target < ${target} ms)`, `${ms(p99)} ms${p99 / 1000 < target ? '' : ' (**over the target**)'}`],
    ['commit → delivery max', `${ms(lat.at(-1) ?? NaN)} ms`],
    ['missed updates (subscribers whose candles differ from the union)', `${missed} of ${total}${missingCandles ? ` (${missingCandles} candles missing)` : ''}`],
    ['buckets whose last push is not the final `tokenHourData` answer', `${finalBad}`],
  ];
  const table = ['| | |', '|---|---:|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
  const report = env('TM_REPORT', '');
  const header = env('TM_REPORT_HEADER', '');
  const notes = [
    '',
    '- Latency: for every push of a new bucket (a later `periodStartUnix` than the subscriber had; its first',
    '  candle is not counted), the client\'s wall-clock arrival time minus `applied_at` of the write that stored the',
    '  bucket\'s first row, logged by the syncing serve right after its COMMIT (which write stored which row: the',
    '  pass\'s "token synced" inserted counts, in order); writes applied during the measured run only (every',
    '  subscriber open). p50/p99 are nearest-rank. The client is one Node process on the same machine, so its own',
    '  queueing is included.',
    '- Missed updates: per token, the union of the candles its subscribers received, ordered by bucket and first',
    '  arrival; a subscriber counts when what it received from its first candle on is not exactly that union.',
    '- Memory per subscriber: (RSS with every subscriber open, 3 s after the last opened − RSS before) ÷ subscribers;',
    `  it includes the connection${perConn === 1 ? ' (one WebSocket each)' : ` (one WebSocket per ${perConn} subscribers)`}.`,
  ].join('\n');
  const text = `${header}\n\n${table}\n${notes}\n`;
  if (report) {
    mkdirSync(dirname(report), { recursive: true });
    writeFileSync(report, text);
  }
  console.log(`\n${text}`);
  if (missed > 0) fail(`${missed} subscriber(s) missed updates`);
  if (!(p99 / 1000 < target)) console.log(`    warning: p99 ${ms(p99)} ms is over the ${target} ms target`);
}

// ---- main -----------------------------------------------------------------------------------

try {
  if (mode === 'check') await check();
  else await bench();
} catch (e) {
  fail(e.stack || e.message);
}
if (failures.length) {
  console.log(`\n    ${failures.length} failure(s)${failures.length > 50 ? ' (the first 50 shown above)' : ''}`);
  process.exit(1);
}
process.exit(0);
