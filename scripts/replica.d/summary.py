#!/usr/bin/env python3
"""Figures of scripts/replica-check, from its timeline and logs. Each prints key=value lines.

  summary.py timeline MONITOR_JSONL T0 T1 STANDBY_NAME
      samples in [T0, T1] (wall-clock seconds) of scripts/replica.d/monitor.py: /readyz answers
      other than 200, how the standby was listed (first time seen in each state), the replica
      gauges (tokenmirror_replica_up transitions; tokenmirror_replica_lag_seconds p50/p99/max),
      the primary's pg_stat_replication (replay_lag p50/p99/max, bytes behind max, state), the
      primary's WAL rate.
  summary.py writes WRITER_LOG T0 T1
      the syncing serve's writes in [T0, T1]: change-feed events (committed writes: pages of
      hourly rows, metadata, sync state, _meta) per second, and rows per second (inserted +
      updated, from the "pass finished" lines: rows whose values changed) and pages written per
      second (the "token synced" lines; a page upserts every row the pass fetched for a token).
  summary.py latencies FILE
      p50/p99/max of a wrk latency file (µs per line), in ms.
  summary.py takeover LOG T_KILL
      seconds from T_KILL to the serve's "took the sync lock" line and to its first "pass
      finished" line after it.
  summary.py gaps TRACE
      the longest time between two consecutive requests sent (all clients waiting), from a
      scripts/bench/graphql.lua trace, with when it began.
  summary.py errors SERVER_LOG T0 T1
      the server's "internal error" log lines in [T0, T1]: how many, and the distinct causes.
  summary.py burst LOG
      the first and last change-feed event of a `sync --once` (its own commits) and the rows it
      wrote ("pass finished"): rows/s from the first commit to the last.
"""

import datetime
import json
import math
import sys


def pct(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[max(1, math.ceil(q / 100 * len(v))) - 1]


def fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def samples(path, t0, t1):
    out = []
    with open(path) as f:
        for line in f:
            try:
                s = json.loads(line)
            except json.JSONDecodeError:
                continue
            if t0 <= s["t"] <= t1:
                out.append(s)
    return out


def timeline(path, t0, t1, name):
    ss = samples(path, t0, t1)
    print(f"samples={len(ss)}")
    not_ready = [s for s in ss if s["ready"] != 200]
    print(f"ready_non200={len(not_ready)}")
    if not_ready:
        print(f"ready_first_bad={not_ready[0]['ready']}:{not_ready[0]['body'][:80]!r}")
    print(f"ready_max_ms={fmt(max((s['ready_ms'] for s in ss), default=None), 0)}")
    states = {}
    for s in ss:
        for line in s["body"].splitlines():
            if line.startswith(f"standby {name}: "):
                state = line[len(f"standby {name}: "):].split(", lag")[0]
                states.setdefault(state, s["t"])
    for state, t in states.items():
        key = {"in rotation": "listed_in_rotation", "down, out of rotation": "listed_down",
               "lagging, out of rotation": "listed_lagging"}.get(state, "listed_other")
        print(f"{key}_at={t:.3f}")
    ups = [s["up"].get(name) for s in ss if s["up"].get(name) is not None]
    transitions = []
    for u in ups:
        if not transitions or transitions[-1] != int(u):
            transitions.append(int(u))
    print(f"up_sequence={'-'.join(map(str, transitions)) or 'none'}")
    lags = [s["lag"][name] for s in ss if s["lag"].get(name) is not None]
    print(f"lag_p50={fmt(pct(lags, 50), 3)} lag_p99={fmt(pct(lags, 99), 3)} "
          f"lag_max={fmt(max(lags, default=None), 3)} lag_nonzero={sum(1 for x in lags if x > 0)}")
    pg = [s["pg"] for s in ss if "pg" in s and "standbys" in s["pg"]]
    replay = [p["standbys"][k]["replay_lag"] for p in pg for k in p["standbys"]
              if p["standbys"][k]["replay_lag"] is not None]
    behind = [p["standbys"][k]["behind_bytes"] for p in pg for k in p["standbys"]
              if p["standbys"][k]["behind_bytes"] is not None]
    print(f"pg_replay_lag_p50={fmt(pct(replay, 50), 4)} pg_replay_lag_p99={fmt(pct(replay, 99), 4)} "
          f"pg_replay_lag_max={fmt(max(replay, default=None), 4)} pg_replay_lag_samples={len(replay)} "
          f"pg_samples={len(pg)}")
    print(f"pg_behind_bytes_max={max(behind, default=0)}")
    streaming = sum(1 for p in pg if any(v["state"] == "streaming" for v in p["standbys"].values()))
    print(f"pg_streaming_samples={streaming}")
    wal = [(s["t"], s["pg"]["wal_bytes"]) for s in ss
           if "pg" in s and s["pg"].get("wal_bytes") is not None]
    if len(wal) >= 2 and wal[-1][0] > wal[0][0]:
        rate = (wal[-1][1] - wal[0][1]) / (wal[-1][0] - wal[0][0])
        print(f"wal_kib_per_s={rate / 1024:.1f}")
    else:
        print("wal_kib_per_s=-")


def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def writes(path, t0, t1):
    events = rows = passes = pages = 0
    with open(path) as f:
        for line in f:
            if not any(m in line for m in ('"change applied"', '"pass finished"', '"token synced"')):
                continue
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            t = ts(e["timestamp"])
            if not t0 <= t <= t1:
                continue
            if e.get("message") == "change applied" and int(e.get("seq", 0)) > 0:
                events += 1
            elif e.get("message") == "pass finished":
                passes += 1
                rows += int(e.get("rows", 0))
            elif e.get("message") == "token synced":
                pages += int(e.get("pages", 0))
    span = max(t1 - t0, 1e-6)
    print(f"events={events} events_per_s={events / span:.1f} rows={rows} "
          f"rows_per_s={rows / span:.1f} pages={pages} pages_per_s={pages / span:.1f} passes={passes}")


def latencies(path):
    with open(path) as f:
        lat = sorted(int(float(x)) for x in f if x.strip())
    print(f"n={len(lat)} p50_ms={fmt(pct(lat, 50) / 1000 if lat else None)} "
          f"p99_ms={fmt(pct(lat, 99) / 1000 if lat else None)} "
          f"max_ms={fmt(lat[-1] / 1000 if lat else None)}")


def takeover(path, t_kill):
    lock = passed = None
    with open(path) as f:
        for line in f:
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            t = ts(e["timestamp"])
            if t < t_kill:
                continue
            if lock is None and e.get("message", "").startswith("took the sync lock"):
                lock = t
            elif lock is not None and passed is None and e.get("message") == "pass finished":
                passed = t
    print(f"lock_after_s={fmt(lock - t_kill if lock else None)} "
          f"pass_after_s={fmt(passed - t_kill if passed else None)}")


def gaps(path):
    sent = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if p:
                sent.append(int(p[0]) / 1e6)
    sent.sort()
    best, at = 0.0, None
    for a, b in zip(sent, sent[1:]):
        if b - a > best:
            best, at = b - a, a
    print(f"gap_max_s={best:.2f} gap_at={fmt(at, 3)}")


def errors(path, t0, t1):
    n, causes = 0, {}
    with open(path) as f:
        for line in f:
            if '"internal error"' not in line:
                continue
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not t0 <= ts(e["timestamp"]) <= t1:
                continue
            n += 1
            cause = e.get("error", "")[:160]
            causes[cause] = causes.get(cause, 0) + 1
    print(f"internal_errors={n}")
    for cause, k in sorted(causes.items(), key=lambda x: -x[1])[:3]:
        print(f"cause {k}x: {cause}")


def burst(path):
    first = last = None
    rows = 0
    with open(path) as f:
        for line in f:
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if e.get("message") == "change applied" and int(e.get("seq", 0)) > 0:
                t = int(e["applied_at"]) / 1e6
                first = t if first is None else min(first, t)
                last = t if last is None else max(last, t)
            elif e.get("message") == "pass finished":
                rows += int(e.get("rows", 0))
    span = (last - first) if first is not None and last > first else None
    print(f"rows={rows} first_commit={fmt(first, 3)} last_commit={fmt(last, 3)} "
          f"seconds={fmt(span)} rows_per_s={fmt(rows / span if span else None, 0)}")


def main():
    a = sys.argv[1:]
    if a[:1] == ["timeline"] and len(a) == 5:
        timeline(a[1], float(a[2]), float(a[3]), a[4])
    elif a[:1] == ["writes"] and len(a) == 4:
        writes(a[1], float(a[2]), float(a[3]))
    elif a[:1] == ["latencies"] and len(a) == 2:
        latencies(a[1])
    elif a[:1] == ["takeover"] and len(a) == 3:
        takeover(a[1], float(a[2]))
    elif a[:1] == ["gaps"] and len(a) == 2:
        gaps(a[1])
    elif a[:1] == ["errors"] and len(a) == 4:
        errors(a[1], float(a[2]), float(a[3]))
    elif a[:1] == ["burst"] and len(a) == 2:
        burst(a[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
