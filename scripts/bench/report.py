#!/usr/bin/env python3
"""Numbers and checks for scripts/bench-api.

  report.py pgbench-latency LOG...      p50/p99 of pgbench per-transaction logs (-l)
  report.py latency FILE                p50/p99 of a file of latencies, one integer (us) a line
  report.py compare KIND A B            check that two sample answers hold the same candles
  report.py table RESULTS OUT_MD        the Markdown tables (also printed)

Percentiles are nearest rank: p(q) is the smallest latency with at least q% of the transactions
at or below it, the same definition wrk's latency:percentile uses, both at 1 microsecond
resolution.
"""

import json
import math
import sys
from decimal import Decimal, Context, ROUND_HALF_EVEN


def nearest_rank(sorted_values, q):
    if not sorted_values:
        return 0
    k = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[k - 1]


def pgbench_latency(paths):
    """pgbench -l lines: client_id transaction_no time_us script_no epoch epoch_us [lag]."""
    lat = []
    for p in paths:
        with open(p) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[2].isdigit():
                    lat.append(int(parts[2]))
                elif len(parts) >= 3 and parts[2] in ("failed", "skipped"):
                    print(f"failed_line={line.strip()!r}", file=sys.stderr)
                    lat.append(-1)
    failed = sum(1 for v in lat if v < 0)
    ok = sorted(v for v in lat if v >= 0)
    print(f"transactions={len(ok)} failed={failed} "
          f"p50_us={nearest_rank(ok, 50)} p99_us={nearest_rank(ok, 99)}")


def latency_file(path):
    """One latency in microseconds per line (written by graphql.lua)."""
    with open(path) as f:
        lat = sorted(int(float(line)) for line in f if line.strip())
    print(f"latencies={len(lat)} p50_us={nearest_rank(lat, 50)} p99_us={nearest_rank(lat, 99)}")


# ---- sample answers -------------------------------------------------------------------------

FIELDS = ["open", "high", "low", "close", "priceUSD", "volumeUSD", "totalValueLockedUSD"]
ROUND34 = Context(prec=34, rounding=ROUND_HALF_EVEN)


def canonical(d):
    s = format(ROUND34.plus(d), "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def candles(path):
    """Rows of an answer of any target, as {periodStartUnix: {field: string}}."""
    with open(path) as f:
        doc = json.load(f)
    if isinstance(doc, dict) and "data" in doc:
        data = doc["data"]
        if "tokenHourData" in data:
            rows = data["tokenHourData"]
        else:  # PostGraphile
            rows = data["allTokenHourData"]["nodes"]
            rows = [{
                "periodStartUnix": r["periodStartUnix"], "open": r["open"], "high": r["high"],
                "low": r["low"], "close": r["close"], "priceUSD": r["priceUsd"],
                "volumeUSD": r["volumeUsd"], "totalValueLockedUSD": r["totalValueLockedUsd"],
            } for r in rows]
    else:  # psql json_agg of the pgbench query
        rows = [{
            "periodStartUnix": r["period_start_unix"], "open": r["open"], "high": r["high"],
            "low": r["low"], "close": r["close"], "priceUSD": r["price_usd"],
            "volumeUSD": r["volume_usd"], "totalValueLockedUSD": r["total_value_locked_usd"],
        } for r in (doc or [])]
    return {int(r["periodStartUnix"]): {k: str(r[k]) for k in FIELDS} for r in rows}


def compare(kind, a_path, b_path):
    """kind: exact (every string equal) or sums (volumeUSD compared after rounding to 34
    significant digits half to even, as tokenmirror does; the rest exactly)."""
    a, b = candles(a_path), candles(b_path)
    problems = []
    if sorted(a) != sorted(b):
        only_a = sorted(set(a) - set(b))[:3]
        only_b = sorted(set(b) - set(a))[:3]
        problems.append(f"{len(a)} vs {len(b)} rows; only in the first: {only_a}, "
                        f"only in the second: {only_b}")
    for t in sorted(set(a) & set(b)):
        for k in FIELDS:
            x, y = a[t][k], b[t][k]
            if kind == "sums" and k == "volumeUSD":
                x, y = canonical(Decimal(x)), canonical(Decimal(y))
            if x != y:
                problems.append(f"{t} {k}: {a[t][k]} vs {b[t][k]}")
                break
        if len(problems) > 3:
            break
    if problems:
        print(f"DIFFERENT: {a_path} vs {b_path}: " + "; ".join(problems))
        sys.exit(1)
    print(f"    same {len(a)} rows: {a_path.split('/')[-1]} = {b_path.split('/')[-1]}")


# ---- tables ---------------------------------------------------------------------------------

TARGETS = [
    ("tm-sqlite", "tokenmirror · SQLite · cache off"),
    ("tm-pg", "tokenmirror · PostgreSQL · cache off"),
    ("tm-sqlite-cached", "tokenmirror · SQLite · cache warm"),
    ("tm-pg-cached", "tokenmirror · PostgreSQL · cache warm"),
    ("ceiling", "ceiling: fixed body from memory"),
    ("pgbench", "raw SQL · pgbench"),
    ("postgraphile", "PostGraphile v4"),
]
QUERIES = [("week", "(a) 1 week, 1h"), ("year", "(b) 1 year, 1d")]


def ms(us):
    return f"{int(us) / 1000:.2f}"


def table(results_path, out_path):
    res = {}
    with open(results_path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            r = dict(zip(header, line.rstrip("\n").split("\t")))
            res[(r["target"], r["query"], int(r["clients"]))] = r
    clients = sorted({k[2] for k in res})
    out = []
    out.append("| target | query | clients | req/s | p50 ms | p99 ms | rows per answer | hit rate |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for q, qname in QUERIES:
        for t, tname in TARGETS:
            for c in clients:
                r = res.get((t, q, c))
                if r is None:
                    continue
                hit = r.get("hit_rate", "-")
                hit = f"{100 * float(hit):.1f}%" if hit not in ("-", "", None) else ""
                if r["status"] != "ok":
                    out.append(f"| {tname} | {qname} | {c} | {r['status']} | | | {r['rows']} | |")
                    continue
                out.append(f"| {tname} | {qname} | {c} | {float(r['rps']):,.0f} | "
                           f"{ms(r['p50_us'])} | {ms(r['p99_us'])} | {r['rows']} | {hit} |")
    out.append("")
    out.append("Throughput ratios (tokenmirror req/s ÷ the other's req/s):")
    out.append("")
    out.append("| query | clients | tokenmirror·SQLite ÷ pgbench | tokenmirror·PostgreSQL ÷ pgbench "
               "| tokenmirror·SQLite ÷ PostGraphile | tokenmirror·PostgreSQL ÷ PostGraphile |")
    out.append("|---|---:|---:|---:|---:|---:|")

    def ratio(t1, t2, q, c):
        a, b = res.get((t1, q, c)), res.get((t2, q, c))
        if not a or not b or a["status"] != "ok" or b["status"] != "ok" or float(b["rps"]) == 0:
            return "–"
        return f"{float(a['rps']) / float(b['rps']):.2f}"

    for q, qname in QUERIES:
        for c in clients:
            out.append(f"| {qname} | {c} | {ratio('tm-sqlite', 'pgbench', q, c)} | "
                       f"{ratio('tm-pg', 'pgbench', q, c)} | "
                       f"{ratio('tm-sqlite', 'postgraphile', q, c)} | "
                       f"{ratio('tm-pg', 'postgraphile', q, c)} |")
    out.append("")
    out.append("The cache (req/s ÷ the other's; ceiling: of the fixed body's req/s):")
    out.append("")
    out.append("| query | clients | warm SQLite ÷ pgbench | warm PostgreSQL ÷ pgbench "
               "| warm PostgreSQL ÷ PostGraphile | warm PostgreSQL ÷ ceiling | warm PostgreSQL ÷ cache off |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for q, qname in QUERIES:
        for c in clients:
            ceiling = ratio('tm-pg-cached', 'ceiling', q, c) if q == "week" else "–"
            out.append(f"| {qname} | {c} | {ratio('tm-sqlite-cached', 'pgbench', q, c)} | "
                       f"{ratio('tm-pg-cached', 'pgbench', q, c)} | "
                       f"{ratio('tm-pg-cached', 'postgraphile', q, c)} | {ceiling} | "
                       f"{ratio('tm-pg-cached', 'tm-pg', q, c)} |")
    text = "\n".join(out) + "\n"
    with open(out_path, "a") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "pgbench-latency" and len(sys.argv) > 2:
        pgbench_latency(sys.argv[2:])
    elif cmd == "latency" and len(sys.argv) == 3:
        latency_file(sys.argv[2])
    elif cmd == "compare" and len(sys.argv) == 5:
        compare(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "table" and len(sys.argv) == 4:
        table(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
