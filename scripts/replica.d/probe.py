#!/usr/bin/env python3
"""The content check of scripts/replica-check: does an answer of the reading server contain
every write it had applied before the request was sent — whichever database (standby or
primary) answered it?

  probe.py READER_URL PRIMARY_DB_URL STOP_FILE OUT_JSON [THREADS] [MAX_SECONDS]

Why: scripts/bench/mixed.py judges an answer by its x-feed-position header, which the server
sets from its own change feed before it reads the database; an answer read on a standby that
has not replayed those writes carries the same header. Only the data can tell.

Each thread (THREADS, default 4) repeats until STOP_FILE exists (or MAX_SECONDS, default 3600):

  1. the truth: one REPEATABLE READ snapshot of the primary (psql) gives max(change_log.seq) = S
     and, per token, sync_state's rows_synced, newest_hour, last_attempt_at, last_success_at,
     and upstream_meta's block_number per network. The syncing serve rewrites these on every
     pass (every second), and they never go down.
  2. waits (polling the reader's x-feed-position every 5 ms, at most 10 s) until the reader's
     change-feed position is above S. An event with seq > S was not committed when the
     snapshot was taken (S is the highest committed then), and PostgreSQL delivers
     notifications in commit order: the reader has then applied every write in the snapshot.
  3. sends the reader (at once, or 5, 20 or 50 ms later: both before and after the standby has
     replayed the newest write) `{ pN: syncStatus { … } }` (a new alias each time: a cache miss, so the
     answer is read from the database the server picks for it) and requires, for every token
     and network in the snapshot, every one of those values >= the snapshot's. A smaller value
     is a stale answer: the server answered from a database that had not replayed a write it
     had already applied.

With PROBE_MODE=commit (for the serve that syncs, whose rule starts at its own commit, not at
an event's delivery), step 2 is replaced by waiting PROBE_MARGIN_MS (default 20) after the
snapshot: every write in the snapshot had committed, and its COMMIT returned to the syncing
serve, well before the request is sent. Each stale case then also records the snapshot's time.

Writes OUT_JSON: probes, stale (with the first 20 cases), errors (HTTP or GraphQL errors),
waits that timed out, and the wait for the position (p50/max ms).
"""

import datetime
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

SNAPSHOT_SQL = """BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT 's', coalesce(max(seq), 0) FROM change_log;
SELECT 't', network, address, rows_synced, coalesce(newest_hour, -1),
       coalesce((extract(epoch FROM last_attempt_at) * 1000000)::bigint, -1),
       coalesce((extract(epoch FROM last_success_at) * 1000000)::bigint, -1)
  FROM sync_state;
SELECT 'm', network, block_number FROM upstream_meta;
COMMIT;
"""

QUERY = ("{ p%d: syncStatus { network address newestHour rowsSynced lastAttemptAt lastSuccessAt "
         "upstreamBlock } }")


def micros(iso):
    if iso is None:
        return -1
    d = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int(d.timestamp()) * 1000000 + d.microsecond


def snapshot(url):
    out = subprocess.run(["psql", "-XqAt", "-F", "|", "-v", "ON_ERROR_STOP=1", url],
                         input=SNAPSHOT_SQL, capture_output=True, text=True, timeout=10)
    if out.returncode != 0:
        raise RuntimeError("psql: " + out.stderr.strip()[:300])
    seq, tokens, metas = None, {}, {}
    for line in out.stdout.splitlines():
        f = line.split("|")
        if f[0] == "s":
            seq = int(f[1])
        elif f[0] == "t":
            tokens[(f[1], f[2])] = {
                "rowsSynced": int(f[3]),
                "newestHour": int(f[4]),
                "lastAttemptAt": int(f[5]),
                "lastSuccessAt": int(f[6]),
            }
        elif f[0] == "m":
            metas[f[1]] = int(f[2])
    return seq, tokens, metas


def post(url, query, timeout=10):
    body = json.dumps({"query": query}).encode()
    req = urllib.request.Request(url, data=body, headers={
        "content-type": "application/json", "accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("x-feed-position"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("x-feed-position"), e.read().decode("utf-8", "replace")


class Totals:
    def __init__(self):
        self.lock = threading.Lock()
        self.probes = 0
        self.stale = 0
        self.errors = 0
        self.timeouts = 0
        self.cases = []
        self.waits_ms = []

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if k == "case":
                    if len(self.cases) < 20:
                        self.cases.append(v)
                elif k == "wait_ms":
                    self.waits_ms.append(v)
                else:
                    setattr(self, k, getattr(self, k) + v)


MODE = os.environ.get("PROBE_MODE", "feed")
MARGIN = float(os.environ.get("PROBE_MARGIN_MS", "20")) / 1000


def one(reader, primary, n, totals, deadline):
    seq, tokens, metas = snapshot(primary)
    began = time.time()
    while MODE != "commit":
        _, pos, _ = post(reader, "{ __typename }", timeout=5)
        if pos is not None and pos.lstrip("-").isdigit() and int(pos) > seq:
            break
        if time.time() - began > 10 or time.time() > deadline:
            totals.add(timeouts=1)
            return
        time.sleep(0.005)
    if MODE == "commit":
        time.sleep(MARGIN)
    totals.add(wait_ms=(time.time() - began) * 1000)
    # Sometimes at once (the standby has most likely not replayed the newest write yet: the read
    # must go to the primary), sometimes a little later (it has: the read may go to the standby).
    time.sleep(random.choice((0, 0, 0.005, 0.02, 0.05)))
    sent = time.time()
    status, pos, text = post(reader, QUERY % n)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = {}
    if status != 200 or doc.get("errors") or not doc.get("data"):
        totals.add(probes=1, errors=1, case={"kind": "error", "status": status,
                                             "body": text[:300], "sent": sent})
        return
    got = {(s["network"], s["address"]): s for s in doc["data"]["p%d" % n]}
    problems = []
    for key, want in tokens.items():
        have = got.get(key)
        if have is None:
            problems.append(f"{key[1]}: missing")
            continue
        values = {
            "rowsSynced": int(have["rowsSynced"]),
            "newestHour": micros(have["newestHour"]) // 1000000 if have["newestHour"] else -1,
            "lastAttemptAt": micros(have["lastAttemptAt"]),
            "lastSuccessAt": micros(have["lastSuccessAt"]),
        }
        for field, v in values.items():
            if v < want[field]:
                problems.append(f"{key[1][:10]} {field} {v} < {want[field]}")
        block = metas.get(key[0])
        if block is not None and (have["upstreamBlock"] is None or int(have["upstreamBlock"]) < block):
            problems.append(f"{key[1][:10]} upstreamBlock {have['upstreamBlock']} < {block}")
    if problems:
        totals.add(probes=1, stale=1, case={"kind": "stale", "snapshot_seq": seq,
                                            "snapshot_done": began,
                                            "answer_position": pos, "sent": sent,
                                            "problems": problems[:6]})
    else:
        totals.add(probes=1)


def worker(k, reader, primary, stop_file, totals, deadline, errors):
    n = k * 1000000
    while not os.path.exists(stop_file) and time.time() < deadline:
        n += 1
        try:
            one(reader, primary, n, totals, deadline)
        except Exception as e:  # a failed request or psql: counted, the loop goes on
            errors.append(f"{type(e).__name__}: {e}")
            totals.add(probes=1, errors=1, case={"kind": "exception", "error": str(e)[:300],
                                                 "sent": time.time()})
            time.sleep(0.05)


def main():
    if len(sys.argv) not in (5, 6, 7):
        sys.exit(__doc__)
    reader, primary, stop_file, out_path = sys.argv[1:5]
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    deadline = time.time() + (float(sys.argv[6]) if len(sys.argv) > 6 else 3600)
    reader = reader.rstrip("/") + "/graphql"
    totals, errors = Totals(), []
    ts = [threading.Thread(target=worker, args=(k, reader, primary, stop_file, totals, deadline,
                                                errors), daemon=True) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    waits = sorted(totals.waits_ms)
    result = {
        "probes": totals.probes,
        "stale": totals.stale,
        "errors": totals.errors,
        "timeouts": totals.timeouts,
        "wait_p50_ms": round(waits[len(waits) // 2], 1) if waits else None,
        "wait_max_ms": round(waits[-1], 1) if waits else None,
        "cases": totals.cases,
    }
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
    print(f"probes={result['probes']} stale={result['stale']} errors={result['errors']} "
          f"timeouts={result['timeouts']} wait_p50_ms={result['wait_p50_ms']} "
          f"wait_max_ms={result['wait_max_ms']}")


if __name__ == "__main__":
    main()
