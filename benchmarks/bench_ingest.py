"""Time shopseg's read and clean stages against DuckDB reading the raw file.

Run from the repository root (with shopseg installed, or PYTHONPATH=src)::

    python benchmarks/bench_ingest.py [FILE ...]

FILE defaults to ``online_retail.csv.gz`` in $SHOPSEG_SHARED_DATA, else in the
``shared/data`` folder beside the repository. Every measurement runs in a fresh
Python process, so its peak memory (the child's maximum resident set size,
from ``os.wait4``) is its own and no cache of an earlier step helps it:

raw read
    DuckDB alone: ``CREATE TABLE t AS SELECT * FROM read_csv(FILE)``, one
    table per file;
shopseg read
    :func:`shopseg.read_files` (detection, parse checks, ``lines_raw`` and
    ``lines_parsed``);
shopseg clean
    :func:`shopseg.clean_lines` on a database the read step left on disk;
shopseg run
    the whole command, ``python -m shopseg run FILE ... --out DIR``, timed
    from outside (interpreter start-up and imports included).

All steps write to a DuckDB file in a scratch folder, as ``shopseg run`` does.
The seconds of the first three are timed inside the child around the work
alone; the peak memory includes the interpreter and its imports (about 100 MB
for shopseg). The goal: read + clean within 2x of the raw read, under 1 GB.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_RATIO = 2.0
GOAL_MB = 1024


def default_file():
    """Return the shared Online Retail file, where the tests look for it."""
    shared = os.environ.get("SHOPSEG_SHARED_DATA")
    folder = Path(shared) if shared else Path(__file__).resolve().parents[2] / "shared" / "data"
    return folder / "online_retail.csv.gz"


# --- the steps, each run in a child process -----------------------------------


def step_raw(files, database):
    import duckdb

    con = duckdb.connect(database)
    tick = time.perf_counter()
    for i, path in enumerate(files):
        quoted = str(path).replace("'", "''")
        con.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_csv('{quoted}')")
    seconds = time.perf_counter() - tick
    con.close()
    return seconds


def step_read(files, database):
    import duckdb

    import shopseg

    con = duckdb.connect(database)
    tick = time.perf_counter()
    shopseg.read_files(files, con)
    seconds = time.perf_counter() - tick
    con.close()
    return seconds


def step_clean(files, database):
    import duckdb

    import shopseg

    con = duckdb.connect(database)
    tick = time.perf_counter()
    shopseg.clean_lines(con)
    seconds = time.perf_counter() - tick
    con.close()
    return seconds


STEPS = {"raw": step_raw, "read": step_read, "clean": step_clean}


def child_main(step, database, files):
    """Run one step and print its seconds as JSON (the parent reads it)."""
    seconds = STEPS[step](files, database)
    print(json.dumps({"seconds": seconds}))


# --- the parent: one fresh process per measurement ------------------------------


def measure(command):
    """Run ``command``; return (wall seconds, its stdout, peak MB of the child)."""
    tick = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Read the pipes before reaping, or a chatty child blocks on a full pipe.
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - tick
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed:\n{err.decode()}")
    return wall, out.decode(), usage.ru_maxrss / 1024  # Linux: KiB


def measure_step(step, database, files):
    command = [sys.executable, __file__, "--step", step, "--database", database]
    _, out, peak = measure(command + [str(f) for f in files])
    return json.loads(out.strip().splitlines()[-1])["seconds"], peak


def run_all(files, scratch):
    rows = {}
    rows["raw read (DuckDB)"] = measure_step("raw", str(scratch / "raw.duckdb"), files)
    database = str(scratch / "shopseg.duckdb")
    rows["shopseg read"] = measure_step("read", database, files)
    rows["shopseg clean"] = measure_step("clean", database, files)
    command = [sys.executable, "-m", "shopseg", "run", *map(str, files)]
    wall, _, peak = measure(command + ["--out", str(scratch / "out")])
    rows["shopseg run (whole command)"] = (wall, peak)
    return rows


def print_table(files, rows):
    print("files: " + ", ".join(Path(f).name for f in files))
    print(f"{'step':<30}{'seconds':>10}{'peak MB':>10}")
    for name, (seconds, peak) in rows.items():
        print(f"{name:<30}{seconds:>10.2f}{peak:>10.0f}")
    raw = rows["raw read (DuckDB)"][0]
    ingest = rows["shopseg read"][0] + rows["shopseg clean"][0]
    peak = max(rows[k][1] for k in ("shopseg read", "shopseg clean"))
    ratio = ingest / raw
    print(
        f"(read + clean) / raw read = {ingest:.2f} / {raw:.2f} = {ratio:.2f}x "
        f"(goal <= {GOAL_RATIO:.0f}x: {'met' if ratio <= GOAL_RATIO else 'NOT met'}); "
        f"peak {peak:.0f} MB (goal < {GOAL_MB} MB: "
        f"{'met' if peak < GOAL_MB else 'NOT met'})"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    files = args.files or [default_file()]
    if args.step:
        child_main(args.step, args.database, files)
        return
    missing = [f for f in files if not f.is_file()]
    if missing:
        sys.exit(f"not found: {', '.join(map(str, missing))}")
    scratch = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        print_table(files, run_all(files, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
