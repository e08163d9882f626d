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
    :func:`shopseg.clean_lines`, timed after an untimed read in the same
    process (its peak memory is that of reading and cleaning);
shopseg run
    the whole command, ``python -m shopseg run FILE ... --out DIR``, timed
    from outside (interpreter start-up and imports included).

All steps write to a DuckDB file in a scratch folder, as ``shopseg run`` does,
and end with a CHECKPOINT so that their tables are on disk. The seconds (and
the CPU seconds, which suffer less from other work on the machine) of the
first three are timed inside the child around the work alone; the peak memory
includes the interpreter and its imports (``import shopseg`` alone takes some
240 MB, as it loads the libraries of the later stages too). The goal: read +
clean within 2x of the raw read, under 1 GB.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _shared import shared_data_dir

GOAL_RATIO = 2.0
GOAL_MB = 1024


def default_file():
    """Return the shared Online Retail file, where the tests look for it."""
    return shared_data_dir() / "online_retail.csv.gz"


# --- the steps, each run in a child process -----------------------------------


def cpu_seconds():
    """CPU time of this process so far, all its threads (DuckDB's too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def step_raw(files, database):
    import duckdb

    con = duckdb.connect(database)
    tick, cpu = time.perf_counter(), cpu_seconds()
    for i, path in enumerate(files):
        quoted = str(path).replace("'", "''")
        con.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_csv('{quoted}')")
    con.execute("CHECKPOINT")  # the tables on disk, as for the steps below
    return time.perf_counter() - tick, cpu_seconds() - cpu


def step_read(files, database):
    import duckdb

    import shopseg

    con = duckdb.connect(database)
    tick, cpu = time.perf_counter(), cpu_seconds()
    shopseg.read_files(files, con)
    con.execute("CHECKPOINT")
    return time.perf_counter() - tick, cpu_seconds() - cpu


def step_clean(files, database):
    """Read (not timed), then clean (timed), in one process as ``run`` does,
    so the peak memory is that of reading and cleaning together."""
    import duckdb

    import shopseg

    con = duckdb.connect(database)
    shopseg.read_files(files, con)
    con.execute("CHECKPOINT")
    tick, cpu = time.perf_counter(), cpu_seconds()
    shopseg.clean_lines(con)
    con.execute("CHECKPOINT")
    return time.perf_counter() - tick, cpu_seconds() - cpu


STEPS = {"raw": step_raw, "read": step_read, "clean": step_clean}


def child_main(step, database, files):
    """Run one step and print its seconds as JSON (the parent reads it)."""
    seconds, cpu = STEPS[step](files, database)
    print(json.dumps({"seconds": seconds, "cpu": cpu}))


# --- the parent: one fresh process per measurement ------------------------------


class StepFailed(Exception):
    """A measured command exited with an error."""


def measure(command):
    """Run ``command``; return (wall seconds, stdout, peak MB, CPU seconds)."""
    tick = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Read the pipes before reaping, or a chatty child blocks on a full pipe.
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - tick
    if proc.returncode != 0:
        raise StepFailed(f"{' '.join(map(str, command))} failed:\n{err.decode()}")
    cpu = usage.ru_utime + usage.ru_stime
    return wall, out.decode(), usage.ru_maxrss / 1024, cpu  # Linux: KiB


def measure_step(step, database, files):
    command = [sys.executable, __file__, "--step", step, "--database", database]
    _, out, peak, _ = measure(command + [str(f) for f in files])
    times = json.loads(out.strip().splitlines()[-1])
    return times["seconds"], times["cpu"], peak


def run_all(files, scratch):
    rows = {}
    rows["raw read (DuckDB)"] = measure_step("raw", str(scratch / "raw.duckdb"), files)
    rows["shopseg read"] = measure_step("read", str(scratch / "read.duckdb"), files)
    rows["shopseg clean"] = measure_step("clean", str(scratch / "clean.duckdb"), files)
    command = [sys.executable, "-m", "shopseg", "run", *map(str, files)]
    try:
        wall, _, peak, cpu = measure(command + ["--out", str(scratch / "out")])
        rows["shopseg run (whole command)"] = (wall, cpu, peak)
    except StepFailed as exc:
        # The later stages are not this benchmark's subject: report and go on.
        print(str(exc).strip().splitlines()[-1], file=sys.stderr)
        rows["shopseg run (whole command)"] = None
    return rows


def print_table(files, rows):
    print("files: " + ", ".join(Path(f).name for f in files))
    print(f"{'step':<30}{'seconds':>9}{'CPU s':>8}{'peak MB':>9}")
    for name, row in rows.items():
        if row is None:
            print(f"{name:<30}{'failed (see above)':>26}")
            continue
        seconds, cpu, peak = row
        print(f"{name:<30}{seconds:>9.2f}{cpu:>8.2f}{peak:>9.0f}")
    raw = rows["raw read (DuckDB)"]
    read, clean = rows["shopseg read"], rows["shopseg clean"]
    ratio = (read[0] + clean[0]) / raw[0]
    cpu_ratio = (read[1] + clean[1]) / raw[1]
    peak = max(read[2], clean[2])
    print(
        f"(read + clean) / raw read: {ratio:.2f}x in seconds, {cpu_ratio:.2f}x in "
        f"CPU time (goal <= {GOAL_RATIO:.0f}x: "
        f"{'met' if ratio <= GOAL_RATIO else 'NOT met'}); peak {peak:.0f} MB "
        f"(goal < {GOAL_MB} MB: {'met' if peak < GOAL_MB else 'NOT met'})"
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
    except StepFailed as exc:
        sys.exit(str(exc))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
