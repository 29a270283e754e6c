#!/usr/bin/env python3
"""Runs minyi's ClickHouse SQL on a current ClickHouse release.

The tests run against Debian's ClickHouse 18.16; deployments (docker-compose.yml)
run a current one, where the SQL must work and answer alike. This script takes a
18.16 server started with `scripts/clickhouse-server DIR PORT --log-queries`
after minyi has worked on it, applies pipelines/clickhouse/*.sql (gated for a
current release) to an in-process current ClickHouse (chdb, from PyPI), copies
the items, work-order events, order states, incidents, the insert blocks and state over (the
materialized views rebuild the rollups), then runs every SELECT of 18.16's query_log on both and compares the
answers. Exit status 1 when a query fails on the current release or answers
differently.

    python scripts/replay-on-current-clickhouse.py http://127.0.0.1:PORT DATABASE

With `--time ROUNDS` it compares speed instead of answers: each SELECT runs
ROUNDS times on both releases, and its p50/p95 are printed by search (the
literals of `position(search, …)`) and kind (list, daily series, the rest:
the summary's queries, whose p95s are summed — an upper bound of the
summary's p95). Used after `examples/search_latency` on 18.16 to measure
the searches on the release deployments run (docker-compose.yml).
"""
import atexit
import glob
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request

import chdb.session

url, db = sys.argv[1].rstrip("/") + "/", sys.argv[2]
rounds = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--time" else 0
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def old(sql, into=None):
    """The answer of 18.16, or with `into` (a path) the answer written there
    as it comes (a table of millions of rows is never held in memory)."""
    req = urllib.request.Request(f"{url}?database={db}", data=sql.encode(), method="POST")
    try:
        with urllib.request.urlopen(req) as r:
            if into is None:
                return r.read().decode()
            with open(into, "wb") as f:
                shutil.copyfileobj(r, f, 1 << 20)
    except urllib.error.HTTPError as e:
        sys.exit(f"ClickHouse 18.16 refused: {e.read().decode()[:500]}\n{sql[:500]}")


# Marks this script's own queries on 18.16, so the replay leaves them out.
MINE = "/* replay */"

work = tempfile.mkdtemp(prefix="minyi-chdb-")
atexit.register(shutil.rmtree, work, True)
new = chdb.session.Session(os.path.join(work, "db"))
version = new.query("SELECT version()", "TSV").bytes().decode().strip()
new.query(f"CREATE DATABASE {db}")
new.query(f"USE {db}")
# The schema as `minyi migrate` renders it for a release of 19.9 or later.
for path in sorted(glob.glob(os.path.join(root, "pipelines/clickhouse/*.sql"))):
    text = open(path).read().replace("{{lc}}", "LowCardinality(String)")
    text = "\n".join(l for l in text.splitlines() if not l.strip().startswith("--"))
    for statement in (s.strip() for s in text.split(";")):
        if statement:
            try:
                new.query(statement)
            except Exception as e:
                sys.exit(f"{os.path.basename(path)} fails on ClickHouse {version}: {e}\n{statement}")
# order_states (and order_items) also hold the states `minyi migrate` folded from the events
# stored before it: copied as they are, over what the view made of the events. So are the insert
# blocks (feedback_batches): the copy inserts the items in blocks of its own.
for table in ["feedback", "workorder_events", "order_states", "order_items", "feedback_incidents",
              "feedback_repeats", "state", "feedback_batches"]:
    new.query(f"TRUNCATE TABLE {table}")
    cols = old(f"{MINE} SELECT name, type FROM system.columns WHERE database = '{db}' AND table = '{table}' FORMAT TSV")
    cols = [line.split("\t") for line in cols.strip().splitlines()]
    names = ", ".join(n for n, _ in cols)
    # Times as numbers: a current release reads 18.16's zero time
    # (0000-00-00 00:00:00) as a date in this year.
    numbers = [(n, "UInt32" if t == "DateTime" else t) for n, t in cols]
    out = ", ".join(f"toUInt32({n})" if t == "DateTime" else n for n, t in cols)
    structure = ", ".join(f"{n} {t}" for n, t in numbers)
    data = os.path.join(work, f"{table}.tsv")
    rows = f"{db}.{table}"
    if table in ("order_states", "order_items"):
        # Net rows: a state and its retraction cancel in sums whatever the
        # order of rows, but the merges of a CollapsingMergeTree rely on
        # the order they were inserted in, which a copy does not keep.
        state = ", ".join(n for n, _ in cols if n != "sign")
        rows = (f"(SELECT {state}, toInt8(if(n > 0, 1, -1)) AS sign FROM"
                f" (SELECT {state}, sum(sign) AS n FROM {rows} GROUP BY {state})"
                f" ARRAY JOIN range(toUInt64(abs(n))) AS copy WHERE n != 0)")
    if table == "state":
        # Versions of a document saved in one second: a current release
        # keeps the last of a block inserted (optimize_on_insert), as the
        # versions were written.
        rows = f"(SELECT * FROM {rows} ORDER BY updated_at, written_us)"
    old(f"{MINE} SELECT {out} FROM {rows} FORMAT TSV", into=data)
    new.query(f"INSERT INTO {table} ({names}) SELECT {names} FROM file('{data}', 'TSV', '{structure}')")
    os.remove(data)

old("SYSTEM FLUSH LOGS")
logged = old(
    "SELECT DISTINCT query FROM system.query_log WHERE type = 2 AND query LIKE 'SELECT%'"
    " AND query NOT LIKE '%system.%' AND query NOT LIKE '%minyi_migrations%'"
    " AND query NOT LIKE 'SELECT version()%' FORMAT JSONEachRow"
)
queries = [json.loads(line)["query"] for line in logged.splitlines()]
# The log keeps the first 100,000 characters of a query (long id lists).
cut = [q for q in queries if len(q) >= 100_000]
queries = [q for q in queries if len(q) < 100_000]


def timed(run, sql):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        run(sql)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.95))]


def kind(sql):
    if "ORDER BY ts DESC" in sql and "LIMIT" in sql:
        return "list"
    if "86400) * 86400" in sql:
        return "daily"
    return "summary"


if rounds:
    groups = {}
    for q in queries:
        body = re.sub(r"\s+FORMAT\s+\w+\s*$", "", q.strip())
        words = sorted(set(re.findall(r"position\(search, '([^']*)'\)", body)))
        label = "q=" + " ".join(words) if words else ("has_text" if "text != ''" in body else "no q")
        before = timed(lambda s: old(f"{s} FORMAT TSV"), body)
        after = timed(lambda s: new.query(f"{s} FORMAT TSV"), body)
        g = groups.setdefault((label, kind(body)), [0, 0, 0, 0, 0])
        for i, v in enumerate(before + after):
            g[i] += v
        g[4] += 1
    print(f"p50 / p95 in ms, {rounds} rounds; 18.16 | {version}")
    for (label, k), g in sorted(groups.items()):
        print(f"{label:<22} {k:<8} {g[4]} queries  18.16 {g[0]:7.0f} / {g[1]:7.0f}"
              f"   {version} {g[2]:7.0f} / {g[3]:7.0f}")
    sys.exit(0)

failed = differ = 0
for q in queries:
    body = re.sub(r"\s+FORMAT\s+\w+\s*$", "", q.strip())
    before = old(f"{body} FORMAT TSV")
    try:
        after = new.query(f"{body} FORMAT TSV").bytes().decode()
    except Exception as e:
        failed += 1
        print(f"fails on {version}: {str(e)[:300]}\n  {body[:500]}\n")
        continue
    if sorted(before.splitlines()) != sorted(after.splitlines()):
        differ += 1
        print(f"answers differently on {version}:\n  {body[:500]}\n  18.16: {before[:300]!r}\n  {version}: {after[:300]!r}\n")
print(f"{len(queries)} distinct SELECTs of minyi replayed on ClickHouse {version}: "
      f"{failed} failed, {differ} answered differently from 18.16 ({len(cut)} cut in the log, not run)")
sys.exit(1 if failed or differ or not queries else 0)
