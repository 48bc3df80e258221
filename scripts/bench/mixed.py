#!/usr/bin/env python3
"""The mixed run of scripts/bench-api: reads while the sync writes.

  mixed.py report NAME SERVER_LOG WRITER_LOG TRACE LATENCIES REQUESTS DURATION_US RSS_KB

SERVER_LOG and WRITER_LOG are JSON log files (LOG_FORMAT=json) with the change feed's
"change applied" lines (target tokenmirror::feed::events at debug level): the position (seq) of
every committed write and the wall-clock time (µs) it took effect in that process — at its
COMMIT in the syncing process, on delivery in another. TRACE has one line per answer (written by
graphql.lua): the wall-clock time the request was sent (µs), its x-feed-position header and its
x-cache header.

An answer is stale when a write with a later position than the answer's had taken effect in
the serving process before its request was sent: the answer could then have missed it. The
delivery delay of a write is the time from its COMMIT in the syncing process (WRITER_LOG) to its
taking effect in SERVER_LOG's process (0 for the syncing process itself).

Prints one Markdown table row.
"""

import bisect
import json
import math
import sys


def nearest_rank(sorted_values, q):
    if not sorted_values:
        return 0
    k = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[k - 1]


def events(path):
    """{seq: applied_at_us} of the feed's "change applied" lines."""
    out = {}
    with open(path) as f:
        for line in f:
            if '"change applied"' not in line:
                continue
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            seq = int(e.get("seq", 0))
            if seq > 0:
                out.setdefault(seq, int(e["applied_at"]))
    return out


def report(name, server_log, writer_log, trace, latencies, requests, duration_us, rss_kb):
    applied = events(server_log)
    committed = events(writer_log)
    # Stale answers: the highest position that had taken effect before each request was sent.
    by_time = sorted((t, s) for s, t in applied.items())
    times = [t for t, _ in by_time]
    best = []
    top = 0
    for _, s in by_time:
        top = max(top, s)
        best.append(top)
    stale = hits = answers = 0
    first_sent = last_sent = None
    with open(trace) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            sent = int(parts[0])
            first_sent = sent if first_sent is None else min(first_sent, sent)
            last_sent = sent if last_sent is None else max(last_sent, sent)
            answers += 1
            hits += len(parts) > 2 and parts[2] == "hit"
            pos = int(parts[1]) if parts[1].lstrip("-").isdigit() else -1
            i = bisect.bisect_left(times, sent)
            if i > 0 and best[i - 1] > pos:
                stale += 1
    with open(latencies) as f:
        lat = sorted(int(float(x)) for x in f if x.strip())
    delays = sorted(applied[s] - committed[s] for s in applied if s in committed)
    writes = 0
    if first_sent is not None:
        writes = sum(1 for t in committed.values() if first_sent <= t <= last_sent)
        span = max(last_sent - first_sent, 1) / 1e6
    else:
        span = 1
    rps = requests / (duration_us / 1e6)
    print(
        f"| {name} | 32 | {rps:,.0f} | {nearest_rank(lat, 50) / 1000:.2f} | "
        f"{nearest_rank(lat, 99) / 1000:.2f} | {100 * hits / max(answers, 1):.1f}% | "
        f"{writes / span:.1f} | {nearest_rank(delays, 50) / 1000:.2f} / "
        f"{nearest_rank(delays, 99) / 1000:.2f} | {stale} of {answers:,} | "
        f"{int(rss_kb) // 1024} |"
    )
    return stale


if __name__ == "__main__":
    if len(sys.argv) == 10 and sys.argv[1] == "report":
        stale = report(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6],
                       int(sys.argv[7]), int(sys.argv[8]), sys.argv[9])
        sys.exit(1 if stale else 0)
    sys.exit(__doc__)
