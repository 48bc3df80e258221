#!/usr/bin/env python3
"""The timeline of scripts/replica-check: what the reading server and the primary say, sampled.

  monitor.py READER_URL PRIMARY_DB_URL OUT_JSONL STOP_FILE [INTERVAL_S]

Every INTERVAL_S seconds (default 0.2) until STOP_FILE exists (or SIGTERM/SIGINT), one JSON line
is appended to OUT_JSONL:

  t        wall-clock time of the sample (s, float)
  ready    HTTP status of GET READER_URL/readyz (0: no answer within 2 s)
  ready_ms how long /readyz took
  body     its body (the "standby NAME: in rotation|down, out of rotation|lagging, …" lines)
  up, lag  {standby: value} of tokenmirror_replica_up and tokenmirror_replica_lag_seconds
  reads    {standby or "primary": value} of tokenmirror_replica_reads_total
  fallbacks  tokenmirror_replica_fallbacks_total
  pg       every other sample, from the primary's pg_stat_replication (psql): the standbys'
           state, replay_lag (s, null when PostgreSQL has no recent figure), the bytes between
           the primary's WAL position and each standby's replay position, and the primary's
           WAL position as a byte count (its rate is the primary's WAL write rate)
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

METRIC = re.compile(r'^(tokenmirror_replica_\w+?)(?:\{standby="([^"]*)"\})?\s+(\S+)\s*$')

stop = False


def on_signal(_sig, _frame):
    global stop
    stop = True


def get(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except Exception as e:  # refused, timed out, reset
        return 0, f"{type(e).__name__}: {e}"


def metrics(text):
    out = {"up": {}, "lag": {}, "reads": {}, "fallbacks": None}
    for line in text.splitlines():
        m = METRIC.match(line)
        if not m:
            continue
        name, standby, value = m.group(1), m.group(2), m.group(3)
        try:
            v = float(value)
        except ValueError:
            continue
        if name == "tokenmirror_replica_up":
            out["up"][standby] = v
        elif name == "tokenmirror_replica_lag_seconds":
            out["lag"][standby] = v
        elif name == "tokenmirror_replica_reads_total":
            out["reads"][standby] = v
        elif name == "tokenmirror_replica_fallbacks_total":
            out["fallbacks"] = v
    return out


PG_SQL = (
    "SELECT application_name, state, coalesce(extract(epoch FROM replay_lag)::text, ''), "
    "coalesce((pg_current_wal_lsn() - replay_lsn)::bigint::text, ''), "
    "(pg_current_wal_lsn() - '0/0')::bigint FROM pg_stat_replication "
    "UNION ALL SELECT '', '', '', '', (pg_current_wal_lsn() - '0/0')::bigint "
    "WHERE NOT EXISTS (SELECT 1 FROM pg_stat_replication)"
)


def pg_sample(url):
    try:
        out = subprocess.run(
            ["psql", "-XqAt", "-F", "|", url, "-c", PG_SQL],
            capture_output=True, text=True, timeout=3,
        )
    except subprocess.TimeoutExpired:
        return {"error": "psql timed out"}
    if out.returncode != 0:
        return {"error": out.stderr.strip()[:200]}
    standbys, wal = {}, None
    for line in out.stdout.splitlines():
        name, state, lag, behind, lsn = line.split("|")
        wal = int(lsn)
        if name:
            standbys[name] = {
                "state": state,
                "replay_lag": float(lag) if lag else None,
                "behind_bytes": int(behind) if behind else None,
            }
    return {"standbys": standbys, "wal_bytes": wal}


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    reader, primary, out_path, stop_file = sys.argv[1:5]
    interval = float(sys.argv[5]) if len(sys.argv) == 6 else 0.2
    reader = reader.rstrip("/")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    n = 0
    with open(out_path, "a") as out:
        while not stop and not os.path.exists(stop_file):
            began = time.time()
            status, body = get(reader + "/readyz")
            ready_ms = (time.time() - began) * 1000
            _, text = get(reader + "/metrics")
            sample = {"t": began, "ready": status, "ready_ms": round(ready_ms, 1), "body": body}
            sample.update(metrics(text))
            if n % 2 == 0:
                sample["pg"] = pg_sample(primary)
            out.write(json.dumps(sample) + "\n")
            out.flush()
            n += 1
            time.sleep(max(0.0, interval - (time.time() - began)))


if __name__ == "__main__":
    main()
