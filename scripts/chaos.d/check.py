#!/usr/bin/env python3
"""The mirror-equals-upstream check of scripts/chaos.

  check.py upstream SIM_URL TOKENS BACKFILL_SECONDS OUT.json
      Fetches, from a simulated upstream whose clock is frozen, its `_meta` head, the metadata
      of TOKENS (comma-separated addresses) and every `tokenHourDatas` row of each token from
      the backfill start (the head's time minus BACKFILL_SECONDS, floored to the hour, as the
      sync computes it) on, paged by a periodStartUnix cursor, 1,000 at a time. Written as
      JSON to OUT.json (the reference the database is compared with).

  check.py db DATABASE_URL UPSTREAM.json MODE [NETWORK]
      Reads the mirror (SQLite through the sqlite3 module, PostgreSQL through psql; decimals
      read as CAST(col AS TEXT); one read transaction / one statement, so a consistent
      snapshot even while a writer runs) and compares it with UPSTREAM.json. NETWORK defaults
      to `sim`. MODE:

      partial  the invariants that must hold after a crash at any moment (kill -9):
               - every stored hourly row equals the upstream's row of that hour, all thirteen
                 fields as exact strings (id, periodStartUnix and the eleven decimals);
               - no torn page: a token's stored rows are exactly the upstream's rows in
                 [covered_from, newest_hour] (none missing, none extra, none outside);
               - no cursor ahead: sync_state.newest_hour = the largest stored
                 period_start_unix (NULL when no row), covered_from >= the backfill start,
                 synced_head (when set) <= the upstream head and every upstream row up to
                 synced_head is stored; upstream_meta.block_number <= the upstream's block;
               - token_day_data equals the stored hours rolled up per UTC day (open of the
                 first hour, close / priceUSD / TVL of the last, the numerically largest high
                 and smallest low as their strings, exact sums of volume, volumeUSD,
                 untrackedVolumeUSD and feesUSD compared as normalized decimals, hours = the
                 count), and there is no day without hours;
               - stored token metadata equals the upstream's;
               - SQLite: PRAGMA integrity_check is ok.
               Tables not created yet (a kill during the first migrations) are reported, not
               failed: the next start must migrate (scripts/chaos checks that it does).
      final    the above, and the mirror is complete: every upstream row from the backfill
               start to the head is stored, covered_from = the backfill start, synced_head =
               the head, every token has metadata, a last success and no last error.

  Prints one line: `ok <facts>` (exit 0) or `FAIL <what>` and up to 20 detail lines (exit 1).
  The facts are key=value pairs scripts/chaos reads: rows (stored), upstream_rows, tokens,
  complete (tokens whose rows are all stored), schema (complete | partial | none).
"""

import json
import os
import re
import sqlite3
import subprocess
import sys
import urllib.request
from decimal import Decimal, getcontext

getcontext().prec = 1000  # sums of 34-digit decimals spanning ~70 orders of magnitude: exact

HOUR_FIELDS = ["open", "high", "low", "close", "priceUSD", "volume", "volumeUSD",
               "untrackedVolumeUSD", "feesUSD", "totalValueLocked", "totalValueLockedUSD"]
HOUR_COLUMNS = ["open", "high", "low", "close", "price_usd", "volume", "volume_usd",
                "untracked_volume_usd", "fees_usd", "total_value_locked", "total_value_locked_usd"]
SUMS = {"volume", "volume_usd", "untracked_volume_usd", "fees_usd"}
TOKEN_FIELDS = ["symbol", "name", "decimals", "totalSupply", "txCount", "poolCount", "volume",
                "volumeUSD", "untrackedVolumeUSD", "feesUSD", "totalValueLocked",
                "totalValueLockedUSD", "totalValueLockedUSDUntracked", "derivedETH"]
TOKEN_COLUMNS = ["symbol", "name", "decimals", "total_supply", "tx_count", "pool_count", "volume",
                 "volume_usd", "untracked_volume_usd", "fees_usd", "total_value_locked",
                 "total_value_locked_usd", "total_value_locked_usd_untracked", "derived_eth"]
TABLES = ["token_hour_data", "token_day_data", "sync_state", "token_metadata", "upstream_meta",
          "tracked_token"]
DAY = 86400


# ---- the upstream ----------------------------------------------------------------------------

def post(url, query):
    req = urllib.request.Request(url, json.dumps({"query": query}).encode(),
                                 {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        d = json.load(r)
    if d.get("errors"):
        raise SystemExit(f"FAIL the upstream answered errors: {d['errors']}")
    return d["data"]


def fetch_upstream(url, tokens, backfill_seconds, out):
    tokens = [t.strip().lower() for t in tokens.split(",") if t.strip()]
    meta = post(url, "{ _meta { block { number timestamp } } }")["_meta"]["block"]
    head = int(meta["timestamp"])
    start = (head - int(backfill_seconds)) // 3600 * 3600
    ids = ",".join(json.dumps(t) for t in tokens)
    metas = post(url, "{ tokens(first: 1000, where: {id_in: [%s]}) { id %s } }"
                 % (ids, " ".join(TOKEN_FIELDS)))["tokens"]
    hours = {}
    for t in tokens:
        rows, cursor = [], start - 1
        while True:
            page = post(url, '{ tokenHourDatas(first: 1000, orderBy: periodStartUnix, '
                        'orderDirection: asc, where: {token: "%s", periodStartUnix_gt: %d}) '
                        '{ id periodStartUnix %s } }' % (t, cursor, " ".join(HOUR_FIELDS)))
            page = page["tokenHourDatas"]
            rows += page
            if len(page) < 1000:
                break
            cursor = page[-1]["periodStartUnix"]
        hours[t] = rows
    json.dump({"block": int(meta["number"]), "head": head, "start": start,
               "tokens": {m["id"]: m for m in metas}, "hours": hours}, open(out, "w"))
    print(f"ok upstream: {len(tokens)} tokens, {sum(len(r) for r in hours.values())} hourly rows "
          f"from {start} to the head {head} (block {meta['number']})")


# ---- the mirror ------------------------------------------------------------------------------

def read_sqlite(path, network):
    if not os.path.exists(path):
        return {"tables": []}, None
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        con.execute("BEGIN")
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        d = {"tables": sorted(tables & set(TABLES))}
        cols = ", ".join(f"CAST({c} AS TEXT)" for c in HOUR_COLUMNS)
        if "token_hour_data" in tables:
            d["hours"] = con.execute(
                f"SELECT address, period_start_unix, id, {cols} FROM token_hour_data "
                "WHERE network = ? ORDER BY address, period_start_unix", (network,)).fetchall()
        if "token_day_data" in tables:
            d["days"] = con.execute(
                f"SELECT address, day_start, {cols}, hours FROM token_day_data "
                "WHERE network = ? ORDER BY address, day_start", (network,)).fetchall()
        if "sync_state" in tables:
            cur = con.execute("SELECT * FROM sync_state WHERE network = ?", (network,))
            names = [c[0] for c in cur.description]
            d["state"] = [dict(zip(names, r)) for r in cur.fetchall()]
        if "token_metadata" in tables:
            mcols = ", ".join(f"CAST({c} AS TEXT)" for c in TOKEN_COLUMNS)
            d["metadata"] = con.execute(
                f"SELECT address, {mcols} FROM token_metadata WHERE network = ?", (network,)).fetchall()
        if "upstream_meta" in tables:
            d["meta"] = con.execute(
                "SELECT block_number FROM upstream_meta WHERE network = ?", (network,)).fetchall()
        if "tracked_token" in tables:
            d["tracked"] = con.execute(
                "SELECT address, active FROM tracked_token WHERE network = ?", (network,)).fetchall()
        con.execute("COMMIT")
        integrity = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
    finally:
        con.close()
    return d, integrity


def psql(url, sql):
    p = subprocess.run(["psql", "-XqAt", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise SystemExit(f"FAIL psql: {p.stderr.strip()[:500]}")
    return p.stdout


def read_postgres(url, network):
    n = network.replace("'", "''")
    tables = psql(url, "SELECT coalesce(json_agg(table_name), '[]') FROM information_schema.tables "
                  "WHERE table_schema = 'public'")
    tables = set(json.loads(tables)) & set(TABLES)
    parts = []
    cols = ", ".join(f"CAST({c} AS TEXT)" for c in HOUR_COLUMNS)
    if "token_hour_data" in tables:
        parts.append(f"'hours', (SELECT coalesce(json_agg(json_build_array(address, period_start_unix, id, {cols}) "
                     f"ORDER BY address, period_start_unix), '[]') FROM token_hour_data WHERE network = '{n}')")
    if "token_day_data" in tables:
        parts.append(f"'days', (SELECT coalesce(json_agg(json_build_array(address, day_start, {cols}, hours) "
                     f"ORDER BY address, day_start), '[]') FROM token_day_data WHERE network = '{n}')")
    if "sync_state" in tables:
        parts.append(f"'state', (SELECT coalesce(json_agg(row_to_json(s)), '[]') FROM sync_state s WHERE network = '{n}')")
    if "token_metadata" in tables:
        mcols = ", ".join(f"CAST({c} AS TEXT)" for c in TOKEN_COLUMNS)
        parts.append(f"'metadata', (SELECT coalesce(json_agg(json_build_array(address, {mcols})), '[]') "
                     f"FROM token_metadata WHERE network = '{n}')")
    if "upstream_meta" in tables:
        parts.append(f"'meta', (SELECT coalesce(json_agg(json_build_array(block_number)), '[]') "
                     f"FROM upstream_meta WHERE network = '{n}')")
    if "tracked_token" in tables:
        parts.append(f"'tracked', (SELECT coalesce(json_agg(json_build_array(address, active)), '[]') "
                     f"FROM tracked_token WHERE network = '{n}')")
    d = {}
    if parts:
        # One statement: one snapshot of every table.
        d = json.loads(psql(url, "SELECT json_build_object(" + ", ".join(parts) + ")"))
    d["tables"] = sorted(tables)
    return d, None


def read_mirror(db_url, network):
    if db_url.startswith("sqlite://"):
        return read_sqlite(db_url[len("sqlite://"):].split("?")[0], network)
    return read_postgres(db_url, network)


# ---- the comparison --------------------------------------------------------------------------

def rollup(hours):
    """hours: [(period, [11 strings])] of one day, in order -> the expected day row."""
    first, last = hours[0][1], hours[-1][1]
    v = {}
    for i, c in enumerate(HOUR_COLUMNS):
        if c in SUMS:
            v[c] = sum((Decimal(h[1][i]) for h in hours), Decimal(0))
        elif c == "high":
            v[c] = max((h[1][i] for h in hours), key=Decimal)
        elif c == "low":
            v[c] = min((h[1][i] for h in hours), key=Decimal)
        elif c == "open":
            v[c] = first[i]
        else:  # close, price_usd, total_value_locked, total_value_locked_usd: the last hour's
            v[c] = last[i]
    v["hours"] = len(hours)
    return v


def compare(up, d, integrity, mode):
    problems = []
    facts = {}

    def bad(msg):
        problems.append(msg)

    tables = set(d.get("tables", []))
    facts["schema"] = "complete" if tables == set(TABLES) else ("none" if not tables else "partial")
    if integrity is not None and integrity != ["ok"]:
        bad(f"PRAGMA integrity_check: {integrity[:5]}")
    if mode == "final" and facts["schema"] != "complete":
        bad(f"tables missing after the final pass: {sorted(set(TABLES) - tables)}")

    start, head = up["start"], up["head"]
    stored = {}
    for r in d.get("hours", []):
        stored.setdefault(r[0], []).append((int(r[1]), r[2], [str(x) for x in r[3:]]))
    states = {s["address"]: s for s in d.get("state", [])}
    facts["rows"] = sum(len(v) for v in stored.values())
    facts["upstream_rows"] = sum(len(v) for v in up["hours"].values())
    facts["tokens"] = len(up["hours"])
    complete = 0
    for a in stored:
        if a not in up["hours"]:
            bad(f"{a}: rows stored for a token not tracked")
    for a, urows in up["hours"].items():
        ubyhour = {int(u["periodStartUnix"]): u for u in urows}
        srows = stored.get(a, [])
        hours = [h for h, _, _ in srows]
        if len(set(hours)) != len(hours):
            bad(f"{a}: duplicate hours stored")
        # Every stored row equals the upstream's row of that hour, exactly.
        mism = 0
        for h, rid, vals in srows:
            u = ubyhour.get(h)
            if u is None:
                bad(f"{a}: stored hour {h} has no upstream row (id {rid})")
                continue
            want = [u[f] for f in HOUR_FIELDS]
            if rid != u["id"] or vals != want:
                mism += 1
                if mism <= 3:
                    diff = [(HOUR_COLUMNS[i], vals[i], want[i]) for i in range(11) if vals[i] != want[i]]
                    bad(f"{a}: hour {h} differs from the upstream: id {rid!r} vs {u['id']!r}, {diff[:3]}")
        if mism > 3:
            bad(f"{a}: {mism} stored rows differ from the upstream in all")
        s = states.get(a)
        newest = s.get("newest_hour") if s else None
        covered = s.get("covered_from") if s else None
        synced_head = s.get("synced_head") if s else None
        if srows:
            if s is None:
                bad(f"{a}: {len(srows)} rows stored but no sync_state")
            else:
                if newest != max(hours):
                    bad(f"{a}: sync_state.newest_hour {newest} but the newest stored hour is {max(hours)}"
                        + (" (cursor ahead of the rows)" if newest is not None and newest > max(hours) else ""))
                if covered is None:
                    bad(f"{a}: rows stored but covered_from is NULL")
                else:
                    top = max(hours)
                    want = [h for h in sorted(ubyhour) if covered <= h <= top]
                    if hours != want:
                        missing = sorted(set(want) - set(hours))
                        extra = sorted(set(hours) - set(want))
                        bad(f"{a}: torn: stored hours are not the upstream's in [covered_from {covered}, "
                            f"{max(hours)}]: {len(missing)} missing (first {missing[:3]}), "
                            f"{len(extra)} outside (first {extra[:3]})")
        elif s is not None and newest is not None:
            bad(f"{a}: sync_state.newest_hour {newest} but no row stored (cursor ahead)")
        if covered is not None and covered < start:
            bad(f"{a}: covered_from {covered} before the backfill start {start}")
        if synced_head is not None:
            if synced_head > head:
                bad(f"{a}: synced_head {synced_head} after the upstream head {head}")
            due = [h for h in ubyhour if h <= synced_head and (covered is None or h >= covered)]
            if due and (not hours or max(hours) < max(due)):
                bad(f"{a}: synced_head {synced_head} but upstream hours up to {max(due)} are not all stored "
                    f"(newest stored {max(hours) if hours else None})")
        if len(srows) == len(urows) and srows:
            complete += 1
        if mode == "final":
            if [h for h, _, _ in srows] != sorted(ubyhour):
                bad(f"{a}: final: {len(srows)} rows stored, the upstream has {len(urows)} from {start}")
            if s is None:
                bad(f"{a}: final: no sync_state")
            else:
                if covered != start:
                    bad(f"{a}: final: covered_from {covered}, the backfill start is {start}")
                if synced_head != head:
                    bad(f"{a}: final: synced_head {synced_head}, the upstream head is {head}")
                if s.get("last_error") is not None:
                    bad(f"{a}: final: last_error {s.get('last_error')!r}")
                if s.get("last_success_at") is None:
                    bad(f"{a}: final: no last_success_at")
    facts["complete"] = complete

    # Daily rollups equal the stored hours rolled up.
    days = {}
    for r in d.get("days", []):
        days[(r[0], int(r[1]))] = ([str(x) for x in r[2:13]], int(r[13]))
    expected = {}
    for a, srows in stored.items():
        by_day = {}
        for h, _, vals in srows:
            by_day.setdefault(h // DAY * DAY, []).append((h, vals))
        for day, hs in by_day.items():
            expected[(a, day)] = rollup(hs)
    if "token_day_data" in tables or mode == "final":
        wrong = 0
        for key in sorted(set(days) | set(expected)):
            if key not in days:
                wrong += 1
                if wrong <= 3:
                    bad(f"{key[0]}: day {key[1]} has {expected[key]['hours']} stored hours but no token_day_data row")
                continue
            if key not in expected:
                wrong += 1
                if wrong <= 3:
                    bad(f"{key[0]}: token_day_data row for day {key[1]} without any stored hour")
                continue
            got, got_hours = days[key]
            want = expected[key]
            diffs = []
            for i, c in enumerate(HOUR_COLUMNS):
                if c in SUMS:
                    if Decimal(got[i]) != want[c]:
                        diffs.append((c, got[i], str(want[c])))
                elif got[i] != want[c]:
                    diffs.append((c, got[i], want[c]))
            if got_hours != want["hours"]:
                diffs.append(("hours", got_hours, want["hours"]))
            if diffs:
                wrong += 1
                if wrong <= 3:
                    bad(f"{key[0]}: day {key[1]} rollup differs from its hours: {diffs[:3]}")
        if wrong > 3:
            bad(f"{wrong} daily rollups wrong in all")

    # Token metadata, upstream_meta, tracked tokens.
    metas = {r[0]: [str(x) for x in r[1:]] for r in d.get("metadata", [])}
    for a, vals in metas.items():
        u = up["tokens"].get(a)
        want = [str(u[f]) for f in TOKEN_FIELDS] if u else None
        if vals != want:
            bad(f"{a}: token_metadata differs from the upstream: "
                f"{[(TOKEN_COLUMNS[i], vals[i], want[i]) for i in range(len(vals)) if want and vals[i] != want[i]][:3]}")
    for r in d.get("meta", []):
        if int(r[0]) > up["block"]:
            bad(f"upstream_meta.block_number {r[0]} after the upstream's block {up['block']}")
    if mode == "final":
        for a in up["hours"]:
            if a not in metas:
                bad(f"{a}: final: no token_metadata")
        tracked = {r[0] for r in d.get("tracked", []) if r[1] in (1, True, "t", "true")}
        if tracked != set(up["hours"]):
            bad(f"final: tracked tokens {sorted(tracked)} differ from {sorted(up['hours'])}")
    return problems, facts


def main():
    a = sys.argv[1:]
    if len(a) == 5 and a[0] == "upstream":
        fetch_upstream(a[1], a[2], a[3], a[4])
        return 0
    if len(a) in (4, 5) and a[0] == "db" and a[3] in ("partial", "final"):
        up = json.load(open(a[2]))
        d, integrity = read_mirror(a[1], a[4] if len(a) == 5 else "sim")
        problems, facts = compare(up, d, integrity, a[3])
        fact_str = " ".join(f"{k}={v}" for k, v in facts.items())
        if problems:
            print(f"FAIL {len(problems)} problem(s) ({fact_str}): {problems[0]}")
            for p in problems[1:20]:
                print(f"  {p}")
            return 1
        print(f"ok {fact_str}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
