#!/usr/bin/env python3
"""Helpers of scripts/chaos's PostgreSQL-restart scenario.

  restart.py poll URL OUT
      GETs URL (/readyz) every 0.2 s with a 1 s client timeout until SIGTERM; one line per poll
      in OUT: `sent_s status elapsed_ms` (status: the HTTP code, `timeout` or `error`).

  restart.py fresh PG_URL GRAPHQL_URL BODIES FROM TO T_UP OUT.json
      After PostgreSQL is back (T_UP, unix seconds): are the server's answers correct? Repeats
      samples until one is comparable and equal, then samples 2 s more. A sample: the change
      log's position (max seq, count) read from the database, every request of BODIES (one
      token's latest 1h candles in [FROM, TO), DESC, limit 168) sent to the server, the same
      rows read straight from the database (decimals as CAST(col AS TEXT)), the position again.
      It is comparable when the position did not move during the sample, every answer is a
      200 without errors, and every x-feed-position is that position (the server has applied
      every write, so its answer, cached or not, must equal the database). Gives up 5 s after
      T_UP + 5 s. Writes what it saw to OUT.json (time from T_UP to the first equal sample,
      comparable samples, differences).

  restart.py analyze EVENTS READYZ TRACE FAILURES WRK_OUT FRESH_JSON...
      Judges the run; prints one TSV line per check: `check<TAB>outcome<TAB>PASS|FAIL`.
      EVENTS: lines `restart K t_stop t_down t_start t_up` (unix seconds: pg_ctl stop called,
      stopped, pg_ctl start called, accepting connections again). Checks: /readyz 503 (within
      the 1 s client timeout) for every poll sent while PostgreSQL was down; 200 again within
      GRACE s of its return and from then on; every failed answer a GraphQL JSON error whose
      codes are all INTERNAL_SERVER_ERROR, no request without an HTTP answer (wrk's socket
      errors); no request in flight while PostgreSQL was down taking more than MAX_HANG s (it is
      answered from the cache or fails fast, not held until the database returns); no SQL text
      in error messages; no failed answer outside [stop, return + GRACE]; answers equal to the
      database's within GRACE s of the return (the `fresh` files).
"""

import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

SQL_TEXT = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|WHERE|RETURNING|COPY)\b|sqlx|SQLSTATE|"
                      r"pg_|token_hour_data|token_day_data|change_log|sync_state|"
                      r"error returned from database|relation \"", re.I)
GRACE = 5.0  # seconds after PostgreSQL's return within which answers must be correct
import os  # noqa: E402
MAX_HANG = float(os.environ.get("CHAOS_MAX_HANG_SECONDS", "2"))  # longest a request in flight while PostgreSQL is down may take


def poll(url, out):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    with open(out, "w", buffering=1) as f:
        while not stop:
            t0 = time.time()
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    status = str(r.status)
            except urllib.error.HTTPError as e:
                status = str(e.code)
            except (TimeoutError, OSError) as e:
                status = "timeout" if "timed out" in str(e) else "error"
            except Exception:  # noqa: BLE001 - anything else is not an answer either
                status = "error"
            el = (time.time() - t0) * 1000
            f.write(f"{t0:.3f} {status} {el:.1f}\n")
            time.sleep(max(0.0, 0.2 - (time.time() - t0)))


def psql(url, sql):
    p = subprocess.run(["psql", "-XqAt", url, "-c", sql], capture_output=True, text=True, timeout=20)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip()[:300])
    return p.stdout.strip()


POS_SQL = "SELECT json_build_array(coalesce(max(seq), 0), count(*)) FROM change_log"


def rows_sql(frm, to):
    cols = ", ".join(f"CAST({c} AS TEXT)" for c in
                     ["open", "high", "low", "close", "price_usd", "volume_usd", "total_value_locked_usd"])
    return (f"SELECT json_build_object('pos', ({POS_SQL}), 'rows', (SELECT coalesce(json_object_agg(address, r), '{{}}') "
            f"FROM (SELECT address, json_agg(json_build_array(period_start_unix, {cols}) ORDER BY period_start_unix DESC) r "
            f"FROM (SELECT *, row_number() OVER (PARTITION BY address ORDER BY period_start_unix DESC) rn "
            f"FROM token_hour_data WHERE network = 'sim' AND period_start_unix >= {frm} AND period_start_unix < {to}) x "
            f"WHERE rn <= 168 GROUP BY address) y))")


def ask(url, body):
    req = urllib.request.Request(url, body.encode(), {"content-type": "application/json",
                                                      "accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("x-feed-position"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("x-feed-position"), e.read().decode(errors="replace")
    except Exception as e:  # noqa: BLE001
        return 0, None, str(e)


FIELDS = ["periodStartUnix", "open", "high", "low", "close", "priceUSD", "volumeUSD", "totalValueLockedUSD"]


def fresh(pg_url, gql_url, bodies_file, frm, to, t_up, out):
    bodies = [l.strip() for l in open(bodies_file) if l.strip()]
    addrs = [json.loads(b)["variables"]["a"] for b in bodies]
    t_up = float(t_up)
    deadline = t_up + GRACE + 5
    res = {"t_up": t_up, "samples": 0, "comparable": 0, "equal": 0, "unequal": 0,
           "first_equal_after_s": None, "unequal_after_first_equal": 0, "diffs": [], "failed_requests": 0}
    confirm_until = None
    while True:
        now = time.time()
        if confirm_until is not None and now > confirm_until:
            break
        if confirm_until is None and now > deadline:
            break
        res["samples"] += 1
        try:
            pos0 = json.loads(psql(pg_url, POS_SQL))
            answers = [ask(gql_url, b) for b in bodies]
            answered = time.time()
            snap = json.loads(psql(pg_url, rows_sql(frm, to)))
            pos1 = json.loads(psql(pg_url, POS_SQL))
        except Exception as e:  # noqa: BLE001 - the database is still coming back
            res.setdefault("db_errors", []).append(str(e)[:200])
            time.sleep(0.1)
            continue
        ok = all(s == 200 and '"errors"' not in b for s, _, b in answers)
        if not ok:
            res["failed_requests"] += 1
            time.sleep(0.05)
            continue
        if not (pos0 == pos1 == snap["pos"] and all(p is not None and int(p) == pos0[0] for _, p, _ in answers)):
            time.sleep(0.02)
            continue
        res["comparable"] += 1
        diffs = []
        for a, (_, _, body) in zip(addrs, answers):
            got = [[c[f] for f in FIELDS] for c in json.loads(body)["data"]["tokenHourData"]]
            want = snap["rows"].get(a, [])
            if got != want:
                first = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), None)
                diffs.append({"token": a, "answer_rows": len(got), "db_rows": len(want),
                              "first_difference": None if first is None else {"answer": got[first], "db": want[first]}})
        t = answered - t_up
        if diffs:
            res["unequal"] += 1
            if res["first_equal_after_s"] is not None:
                res["unequal_after_first_equal"] += 1
            if len(res["diffs"]) < 5:
                res["diffs"].append({"after_s": round(t, 3), "position": pos0, "tokens": diffs[:2]})
        else:
            res["equal"] += 1
            if res["first_equal_after_s"] is None:
                res["first_equal_after_s"] = round(t, 3)
                confirm_until = time.time() + 2
        time.sleep(0.05)
    json.dump(res, open(out, "w"), indent=1)
    print(json.dumps({k: v for k, v in res.items() if k != "diffs"}))


def analyze(events_file, readyz_file, trace_file, failures_file, wrk_out, fresh_files):
    rows = []

    def row(check, outcome, ok):
        rows.append(f"{check}\t{outcome}\t{'PASS' if ok else 'FAIL'}")

    events = []
    for line in open(events_file):
        p = line.split()
        if p and p[0] == "restart":
            events.append(tuple(float(x) for x in p[2:6]))
    polls = []
    for line in open(readyz_file):
        p = line.split()
        if len(p) == 3:
            polls.append((float(p[0]), p[1], float(p[2])))

    # /readyz while PostgreSQL is down: 503, answered within the 1 s client timeout.
    down = [q for q in polls for (_, td, ts, _) in events if td <= q[0] and q[0] + 1 <= ts]
    n503 = sum(1 for q in down if q[1] == "503")
    others = {}
    for q in down:
        if q[1] != "503":
            others[q[1]] = others.get(q[1], 0) + 1
    slowest = max((q[2] for q in down), default=0)
    row("/readyz is 503 while PostgreSQL is down (1 s client timeout)",
        f"{n503} of {len(down)} polls 503" + (f"; others: {others}" if others else "") + f"; slowest {slowest:.0f} ms",
        bool(down) and n503 == len(down))

    # /readyz after PostgreSQL's return: 200 again, within GRACE s, and from then on.
    backs, late_bad = [], 0
    for i, (_, _, _, tu) in enumerate(events):
        nxt = events[i + 1][0] if i + 1 < len(events) else float("inf")
        first = next((q[0] for q in polls if q[0] >= tu and q[0] < nxt and q[1] == "200"), None)
        backs.append(None if first is None else first - tu)
        late_bad += sum(1 for q in polls if tu + GRACE <= q[0] < nxt and q[1] != "200")
    ok = all(b is not None and b <= GRACE for b in backs) and late_bad == 0
    row("/readyz is 200 after PostgreSQL's return",
        "first 200 after " + ", ".join("never" if b is None else f"{b:.2f} s" for b in backs)
        + f"; {late_bad} polls not 200 later than {GRACE:.0f} s after the return", ok)

    # Failed requests: GraphQL JSON errors, INTERNAL_SERVER_ERROR, no SQL text; none unexplained.
    total = failed = late = 0
    statuses = {}
    slow_fail = 0.0
    windows = [(t0, tu + GRACE) for (t0, _, _, tu) in events]
    for line in open(trace_file):
        p = line.split()
        if len(p) < 4:
            continue
        total += 1
        if p[3] == "err":
            failed += 1
            sent, recv = int(p[0]) / 1e6, int(p[1]) / 1e6
            statuses[p[2]] = statuses.get(p[2], 0) + 1
            slow_fail = max(slow_fail, recv - sent)
            if not any(a <= sent <= b or a <= recv <= b for a, b in windows):
                late += 1
    bad_json, bad_code, sql_text, samples = 0, 0, 0, []
    judged = 0
    for line in open(failures_file):
        p = line.rstrip("\n").split(" ", 2)
        if len(p) < 2:
            continue
        judged += 1
        body = p[2] if len(p) > 2 else ""
        try:
            d = json.loads(body)
            errs = d.get("errors") if isinstance(d, dict) else None
            if not errs:
                raise ValueError("no errors member")
        except ValueError:
            bad_json += 1
            if len(samples) < 3:
                samples.append(f"HTTP {p[1]} body {body[:120]!r}")
            continue
        codes = [((e.get("extensions") or {}).get("code")) for e in errs]
        if any(c != "INTERNAL_SERVER_ERROR" for c in codes):
            bad_code += 1
            if len(samples) < 3:
                samples.append(f"HTTP {p[1]} codes {codes}")
        if any(SQL_TEXT.search(str(e.get("message", ""))) for e in errs):
            sql_text += 1
            if len(samples) < 3:
                samples.append(f"SQL in message {[e.get('message') for e in errs][:1]!r}")
    m = re.search(r"CHAOS requests=(\d+) ok=(\d+) failed=(\d+) connect=(\d+) read=(\d+) write=(\d+) timeout=(\d+)",
                  open(wrk_out).read())
    sock = sum(int(x) for x in m.groups()[3:7]) if m else -1
    row("every failed request is a GraphQL JSON error, extensions.code INTERNAL_SERVER_ERROR",
        f"{failed} of {total} answers failed (HTTP {statuses or '-'}; slowest failure {slow_fail:.1f} s); "
        f"of {judged} bodies kept: {bad_json} not a GraphQL JSON error, {bad_code} with another code; "
        f"{sock} requests without an answer (wrk socket errors)"
        + (f"; e.g. {'; '.join(samples)}" if samples else ""),
        judged == min(failed, judged) and bad_json == 0 and bad_code == 0 and sock == 0)
    # Requests in flight while PostgreSQL was down are answered (from the cache) or fail, fast.
    inflight, slowest, hits = 0, 0.0, 0
    for line in open(trace_file):
        p = line.split()
        if len(p) < 4:
            continue
        sent, recv = int(p[0]) / 1e6, int(p[1]) / 1e6
        if any(sent <= ts and recv >= td for (_, td, ts, _) in events):
            inflight += 1
            slowest = max(slowest, recv - sent)
            hits += len(p) > 5 and p[5] == "hit"
    row(f"no request hangs while PostgreSQL is down (answered or failed within {MAX_HANG:.0f} s)",
        f"{inflight} requests in flight while it was down ({hits} answered from the cache); slowest {slowest:.2f} s",
        inflight > 0 and slowest <= MAX_HANG)
    row("no SQL text in error messages", f"{sql_text} of {judged} failed answers name SQL or the schema",
        sql_text == 0)
    row("no failed request outside the outages", f"{late} failed answers sent more than {GRACE:.0f} s "
        "after PostgreSQL's return (or before its stop)", late == 0)

    # Answers correct within GRACE s of the return.
    outs = []
    ok = True
    for f in fresh_files:
        r = json.load(open(f))
        fe = r["first_equal_after_s"]
        outs.append(("no equal answer" if fe is None else f"equal after {fe:.2f} s")
                    + f" ({r['comparable']} comparable samples, {r['unequal']} unequal"
                    + (f", {r['unequal_after_first_equal']} unequal after the first equal" if r['unequal_after_first_equal'] else "")
                    + ")")
        if fe is None or fe > GRACE or r["unequal_after_first_equal"]:
            ok = False
    row("answers equal the database's within 5 s of PostgreSQL's return", "; ".join(outs), ok)
    print("\n".join(rows))


def main():
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "poll":
        poll(a[1], a[2])
    elif len(a) == 8 and a[0] == "fresh":
        fresh(*a[1:])
    elif len(a) >= 6 and a[0] == "analyze":
        analyze(a[1], a[2], a[3], a[4], a[5], a[6:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
