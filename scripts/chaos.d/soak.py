#!/usr/bin/env python3
"""Helpers of scripts/chaos's soak.

  soak.py rss PID OUT INTERVAL_S
      Samples the VmRSS of PID every INTERVAL_S seconds (`unix_s rss_kib` lines in OUT) until
      SIGTERM or the process is gone.

  soak.py segment SERVER_LOG TRACE LATENCIES WRK_OUT
      Judges one wrk run of scripts/bench/graphql.lua (BENCH_TRACE_FILE, BENCH_LATENCY_FILE):
      its stale answers, counted by scripts/bench/mixed.py (imported, unchanged: an answer is
      stale when its x-feed-position is below a write that had taken effect in the server before
      the request was sent; the server both syncs and serves, so SERVER_LOG is also the writer's
      log), and its errors from wrk's BENCH line. Prints
      `answers=N stale=N non200=N gql_errors=N socket_errors=N overlaps=N`.

  soak.py rss-report OUT REFERENCE_FROM_S
      The RSS samples from REFERENCE_FROM_S on: the first is the reference (after warm-up);
      prints `reference=KiB min=KiB max=KiB samples=N worst_pct=P`.
"""

import contextlib
import io
import os
import re
import statistics
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))


def rss(pid, out, interval):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    with open(out, "w", buffering=1) as f:
        while not stop:
            try:
                with open(f"/proc/{pid}/status") as s:
                    kb = next(int(l.split()[1]) for l in s if l.startswith("VmRSS:"))
            except (OSError, StopIteration):
                break
            f.write(f"{time.time():.3f} {kb}\n")
            end = time.time() + float(interval)
            while not stop and time.time() < end:
                time.sleep(0.2)


def field(name, line):
    m = re.search(rf"\b{name}=(\d+)", line)
    return int(m.group(1)) if m else -1


def segment(server_log, trace, latencies, wrk_out):
    import mixed  # scripts/bench/mixed.py

    line = next((l for l in open(wrk_out) if l.startswith("BENCH ")), "")
    requests, duration = field("requests", line), field("duration_us", line)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        stale = mixed.report("soak", server_log, server_log, trace, latencies, max(requests, 0),
                             max(duration, 1), 0)
    m = re.search(r"\| (\d+) of ([\d,]+) \|", buf.getvalue())
    answers = int(m.group(2).replace(",", "")) if m else -1
    print(f"answers={answers} stale={stale} non200={field('non200', line)} gql_errors={field('gql_errors', line)} "
          f"socket_errors={field('socket_errors', line)} overlaps={field('overlaps', line)}")


def rss_report(out, ref_from, windows=6):
    """RSS after warm-up, judged by trend, not by single samples: the samples fall into
    `windows` equal windows, and each window's median is compared with the first one's. (A
    single sample moves by ±15% here as the allocator returns memory between bursts; a leak
    moves the medians.)"""
    samples = [(float(a), int(b)) for a, b in (l.split() for l in open(out) if l.strip())]
    after = [kb for t, kb in samples if t >= float(ref_from)]
    if not after:
        print("reference=0 min=0 max=0 samples=0 worst_pct=100 medians=")
        return
    k = max(1, min(windows, len(after)))
    size = len(after) // k
    medians = [statistics.median(after[i * size:(i + 1) * size if i < k - 1 else len(after)])
               for i in range(k)]
    ref = medians[0]
    worst = max(abs(m - ref) / ref * 100 for m in medians)
    print(f"reference={int(ref)} min={min(after)} max={max(after)} samples={len(after)} "
          f"worst_pct={worst:.1f} medians={','.join(str(int(m) // 1024) for m in medians)}")


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "rss":
        rss(a[1], a[2], a[3])
    elif len(a) == 5 and a[0] == "segment":
        segment(*a[1:])
    elif len(a) == 3 and a[0] == "rss-report":
        rss_report(a[1], a[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
