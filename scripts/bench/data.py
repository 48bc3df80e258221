#!/usr/bin/env python3
"""The benchmark's data set, for scripts/bench-api.

  data.py generate DIR      write DIR/hours.csv, DIR/metadata.csv and DIR/tokens.txt
  data.py load-sqlite DIR DB   insert them into a migrated SQLite database (one transaction)

20 tokens x one year of hourly rows ending at T = 2026-06-01T00:00:00Z (8,760 hours each), about
20% of the hours missing in runs (a two-state Markov chain: a present hour is followed by a gap
with probability 1/12, a gap ends with probability 1/3, so gaps last 3 hours on average), like
the real subgraph, which has no row for an hour without swaps. Every decimal is canonical plain
notation (no exponent, no trailing zeros, "0" for zero) with 6 to 34 significant digits: the
form tokenmirror accepts when reading, and the form PostgreSQL's NUMERIC gives back unchanged.
The generator is seeded, so every run (and both backends) gets the very same rows.
"""

import csv
import hashlib
import math
import os
import random
import sqlite3
import sys
from decimal import Decimal, Context, ROUND_HALF_EVEN

NETWORK = "sim"
TOKENS = 20
T_END = 1_780_272_000  # 2026-06-01T00:00:00Z
HOURS = 365 * 24
T_START = T_END - HOURS * 3600  # 2025-06-01T00:00:00Z
P_GAP_START = 1 / 12
P_GAP_END = 1 / 3
SIG_CHOICES = (6, 12, 18, 25, 30, 34, 34, 34)
STAMP_PG = "2026-06-01 00:00:00+00"
STAMP_SQLITE = "2026-06-01 00:00:00+00:00"

HOUR_COLUMNS = [
    "network", "address", "period_start_unix", "id",
    "open", "high", "low", "close", "price_usd", "volume", "volume_usd",
    "untracked_volume_usd", "fees_usd", "total_value_locked", "total_value_locked_usd",
]
META_COLUMNS = [
    "network", "address", "symbol", "name", "decimals", "total_supply", "tx_count",
    "pool_count", "volume", "volume_usd", "untracked_volume_usd", "fees_usd",
    "total_value_locked", "total_value_locked_usd", "total_value_locked_usd_untracked",
    "derived_eth",
]

CONTEXTS = {s: Context(prec=s, rounding=ROUND_HALF_EVEN) for s in range(1, 35)}


def address(i):
    return "0x" + hashlib.sha1(f"tokenmirror-bench-token-{i}".encode()).hexdigest()


def canonical(x, sig):
    """x (a float) rounded to `sig` significant digits, in canonical plain notation."""
    d = CONTEXTS[sig].plus(Decimal(x))
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    if s in ("-0", ""):
        s = "0"
    return s


def generate(out_dir):
    rng = random.Random(20260601)
    os.makedirs(out_dir, exist_ok=True)
    tokens = [address(i) for i in range(TOKENS)]
    rows = 0
    with open(os.path.join(out_dir, "hours.csv.tmp"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HOUR_COLUMNS)
        for i, addr in enumerate(tokens):
            price = 10 ** rng.uniform(-4, 4)
            tvl = 10 ** rng.uniform(5, 9)
            base_volume = tvl * rng.uniform(0.001, 0.02)
            sig = rng.choice(SIG_CHOICES)
            present = True
            for h in range(HOURS):
                if h > 0:
                    if present and rng.random() < P_GAP_START:
                        present = False
                    elif not present and rng.random() < P_GAP_END:
                        present = True
                open_ = price
                price = price * math.exp(rng.gauss(0, 0.01))
                tvl = tvl * math.exp(rng.gauss(0, 0.002))
                if not present:
                    continue
                close = price
                high = max(open_, close) * (1 + abs(rng.gauss(0, 0.004)))
                low = min(open_, close) * (1 - abs(rng.gauss(0, 0.004)))
                volume_usd = base_volume * math.exp(rng.gauss(0, 1))
                untracked = volume_usd * rng.uniform(1, 1.2)
                start = T_START + h * 3600
                w.writerow([
                    NETWORK, addr, start, f"{addr}-{start // 3600}",
                    canonical(open_, sig), canonical(high, sig), canonical(low, sig),
                    canonical(close, sig), canonical(close, sig),
                    canonical(volume_usd / close, sig), canonical(volume_usd, sig),
                    canonical(untracked, sig), canonical(volume_usd * 0.003, sig),
                    canonical(tvl / close, sig), canonical(tvl, sig),
                ])
                rows += 1
    os.replace(os.path.join(out_dir, "hours.csv.tmp"), os.path.join(out_dir, "hours.csv"))
    with open(os.path.join(out_dir, "metadata.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(META_COLUMNS)
        for i, addr in enumerate(tokens):
            w.writerow([
                NETWORK, addr, f"TK{i:02d}", f"Bench token {i}", "18",
                str(10 ** 24 + i), str(123456 + i), str(7 + i),
                "123456.789", "9876543.21", "9999999.5", "29629.63", "42000.125",
                "31415926.5358979323846264338327950", "31415926.6", "0.000123456789",
            ])
    with open(os.path.join(out_dir, "tokens.txt"), "w") as f:
        f.write("\n".join(tokens) + "\n")
    print(f"    {rows} hourly rows for {TOKENS} tokens "
          f"({rows / (TOKENS * HOURS):.1%} of the year's hours)")


def load_sqlite(data_dir, db_path):
    con = sqlite3.connect(db_path)
    with open(os.path.join(data_dir, "hours.csv"), newline="") as f:
        r = csv.reader(f)
        header = next(r)
        assert header == HOUR_COLUMNS, header
        rows = [row[:2] + [int(row[2])] + row[3:] for row in r]
    with open(os.path.join(data_dir, "metadata.csv"), newline="") as f:
        r = csv.reader(f)
        assert next(r) == META_COLUMNS
        meta = list(r)
    with con:
        con.execute("DELETE FROM token_hour_data")
        con.execute("DELETE FROM token_metadata")
        con.execute("DELETE FROM tracked_token")
        con.executemany(
            f"INSERT INTO token_hour_data ({', '.join(HOUR_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(HOUR_COLUMNS))})", rows)
        con.executemany(
            f"INSERT INTO token_metadata ({', '.join(META_COLUMNS)}, updated_at) "
            f"VALUES ({', '.join('?' * len(META_COLUMNS))}, ?)",
            [m + [STAMP_SQLITE] for m in meta])
        con.executemany(
            "INSERT INTO tracked_token (network, address, active, added_at) VALUES (?, ?, 1, ?)",
            [(m[0], m[1], STAMP_SQLITE) for m in meta])
    con.execute("ANALYZE")
    con.close()
    print(f"    SQLite: {len(rows)} hourly rows, {len(meta)} tokens")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "generate":
        generate(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "load-sqlite":
        load_sqlite(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
