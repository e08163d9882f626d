"""Benchmark ladder: ``shopseg run`` on the real file, then on 10x and 100x its lines.

Run from the repository root (with shopseg installed, or PYTHONPATH=src)::

    python benchmarks/bench_ladder.py [--sizes 1,10,100] [--markdown]

The 1x rung is ``online_retail.csv.gz`` (541,909 lines; from $SHOPSEG_SHARED_DATA,
else ``shared/data`` beside the repository). The other rungs are files made by
:func:`shopseg.datasets.write_transactions` in the same format (gzip CSV in the
export's style), with as many customers as give k times the real file's lines.
They are written once into ``--bench-dir`` (untimed) and reused.

Each rung runs ``python -m shopseg run FILE --out DIR`` in a fresh process.
Seconds per stage come from the store's ``runs`` table; the peak memory of
each stage is the largest resident set size of the process sampled (every
0.1 s) between the end of the previous stage and the end of this one, and the
peak of the whole run is the child's maximum resident set size from
``os.wait4``. Goals: 100x the lines in at most 130x the seconds of the 1x run
measured in the same session, and a peak under 4 GB at 100x.

The machine is shared: a rung whose time projected from the rungs before
exceeds ``--max-minutes`` is not run, and a run that goes beyond
``--max-minutes`` or ``--max-gb`` is stopped; either is reported in the table.
Memory is projected too, for information only: DuckDB's memory limit
(``SHOPSEG_MEMORY_LIMIT``, 2 GB by default) bends the line, so a straight
projection overstates the larger rungs. With ``--repeat N`` each rung runs N
times and the fastest run is kept, the one other work disturbed least. With
``--omp-threads 1`` the runs' OpenMP pools (scikit-learn's k-means) get one
thread: on a busy two-core machine their spinning threads made the segments
stage 20x slower than with one thread.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _shared import shared_data_dir

REAL_LINES = 541_909
GOAL_TIME_RATIO = 1.3  # seconds ratio over lines ratio
GOAL_PEAK_MB = 4096


def default_file():
    """Return the shared Online Retail file, where the tests look for it."""
    return shared_data_dir() / "online_retail.csv.gz"


# --- the inputs ----------------------------------------------------------------


def customers_for(lines, seed):
    """Customers whose generated file has about `lines` lines (from a pilot)."""
    from shopseg.datasets import make_transactions

    pilot = 5000
    per_customer = len(make_transactions(pilot, random_state=seed)) / pilot
    return max(1, round(lines / per_customer))


def generated_file(bench_dir, factor, seed):
    """Write (once) the generated file of a rung; return its path."""
    from shopseg.datasets import write_transactions

    n_customers = customers_for(factor * REAL_LINES, seed)
    path = bench_dir / f"generated-{factor}x-{n_customers}c-seed{seed}.csv.gz"
    if path.exists():
        return path
    partial = path.with_name("partial-" + path.name)
    tick = time.perf_counter()
    print(f"writing {path.name} ({n_customers:,} customers) ...", flush=True)
    lines = write_transactions(partial, n_customers, random_state=seed)
    partial.rename(path)
    print(
        f"  {lines:,} lines in {time.perf_counter() - tick:.0f} s "
        f"({path.stat().st_size / 2**20:,.0f} MiB)",
        flush=True,
    )
    return path


# --- one run, watched ------------------------------------------------------------


class Watch(threading.Thread):
    """Sample a process's resident set size; stop it beyond a limit."""

    def __init__(self, proc, limit_mb):
        super().__init__(daemon=True)
        self.proc = proc
        self.limit_mb = limit_mb
        self.lock = threading.Lock()
        self.stage_peak = 0.0
        self.killed = None
        self.done = threading.Event()  # set once the parent has reaped the child

    def rss_mb(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def run(self):
        # Not proc.poll(): it would reap the child before os.wait4 reads its usage.
        while not self.done.is_set():
            rss = self.rss_mb()
            with self.lock:
                self.stage_peak = max(self.stage_peak, rss)
            if rss > self.limit_mb and self.killed is None:
                self.killed = f"stopped at {rss:,.0f} MB (limit {self.limit_mb:,.0f})"
                self.proc.kill()
            self.done.wait(0.1)

    def take(self):
        """Return the peak since the last call, and start a new interval."""
        with self.lock:
            peak, self.stage_peak = self.stage_peak, self.rss_mb()
        return peak


def run_rung(path, out_dir, limit_mb, limit_seconds, omp_threads=None):
    """Run ``shopseg run`` on one file; return a dict of its measurements."""
    command = [sys.executable, "-m", "shopseg", "run", str(path), "--out", str(out_dir)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200")
    if omp_threads:
        env["OMP_NUM_THREADS"] = str(omp_threads)
    tick = time.perf_counter()
    # stderr to a file: a full stderr pipe would block the child while the
    # parent reads stdout.
    with tempfile.TemporaryFile(mode="w+") as errors:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env
        )
        watch = Watch(proc, limit_mb)
        watch.start()
        timer = threading.Timer(limit_seconds, proc.kill)
        timer.start()
        stage_peak = {}
        for line in proc.stdout:  # "done read  4.9 s  541,909 lines ..."
            words = line.split()
            if len(words) > 2 and words[0] == "done":
                stage_peak[words[1]] = watch.take()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        timer.cancel()
        watch.done.set()
        wall = time.perf_counter() - tick
        watch.join()
        errors.seek(0)
        err = errors.read()
    code = proc.returncode
    if code != 0:
        why = watch.killed or (
            f"stopped after {limit_seconds / 60:.0f} min" if wall >= limit_seconds
            else f"failed (exit {code}): {err.strip()[-500:]}"
        )
        return {"error": why, "wall": wall, "peak": usage.ru_maxrss / 1024}

    import duckdb

    con = duckdb.connect(str(Path(out_dir) / "shopseg.duckdb"), read_only=True)
    try:
        stages, inputs = con.execute(
            "SELECT stages, inputs FROM runs ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        customers = con.execute("SELECT count(*) FROM customers").fetchone()[0]
    finally:
        con.close()
    seconds = {s["stage"]: s["seconds"] for s in json.loads(stages)}
    return {
        "lines": sum(i["lines"] for i in json.loads(inputs)),
        "customers": customers,
        "seconds": seconds,
        "stage_peak": stage_peak,
        "wall": wall,
        "peak": usage.ru_maxrss / 1024,  # Linux: KiB
    }


# --- the table ------------------------------------------------------------------


def stages_of(results):
    """Stage names in the order the runs reported them."""
    names = []
    for r in results.values():
        names += [s for s in r.get("seconds", {}) if s not in names]
    return names


def rows_of(results):
    base = results.get(1)
    stages = stages_of(results)
    header = ["rung", "lines", "customers", *stages, "total s", "x 1x time",
              "peak MB"]
    rows = []
    for factor, r in results.items():
        if "error" in r:
            peak = f"{r['peak']:,.0f}" if r.get("peak") else "-"
            rows.append([f"{factor}x", "-", "-", *["-"] * len(stages),
                         r["error"], "-", peak])
            continue
        total = sum(r["seconds"].values())
        cells = [
            f"{r['seconds'].get(s, 0):,.1f} s / {_megabytes(r['stage_peak'].get(s))}"
            for s in stages
        ]
        ratio = "-"
        if base and "error" not in base:
            ratio = f"{total / sum(base['seconds'].values()):.1f}x"
        rows.append([f"{factor}x", f"{r['lines']:,}", f"{r['customers']:,}", *cells,
                     f"{total:,.1f}", ratio, f"{r['peak']:,.0f}"])
    return header, rows


def _megabytes(peak):
    """A stage's peak, or '-' when the process had ended before its line was
    read (the last stages of a run can be read after it exits; their peak
    then counts in the stage read before)."""
    return f"{peak:,.0f} MB" if peak else "- MB"


def print_table(results, markdown):
    header, rows = rows_of(results)
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join(" --- " for _ in header) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        columns = zip(header, *rows, strict=True)
        widths = [max(len(str(c)) for c in column) for column in columns]
        for row in [header, *rows]:
            print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
    print("stage cells: seconds (runs table) / peak resident MB during the stage")


def print_goals(results):
    base = results.get(1)
    if not base or "error" in base:
        return
    base_total = sum(base["seconds"].values())
    for factor, r in results.items():
        if factor == 1 or "error" in r:
            continue
        lines_ratio = r["lines"] / base["lines"]
        time_ratio = sum(r["seconds"].values()) / base_total
        per_line = time_ratio / lines_ratio
        stages = ", ".join(
            f"{s} {r['seconds'].get(s, 0) / max(base['seconds'].get(s, 0), 1e-9):.1f}x"
            for s in stages_of(results)
        )
        print(
            f"{factor}x: {lines_ratio:.1f}x the lines in {time_ratio:.1f}x the time "
            f"({per_line:.2f} per line ratio, goal <= {GOAL_TIME_RATIO}: "
            f"{'met' if per_line <= GOAL_TIME_RATIO else 'NOT met'}); "
            f"peak {r['peak']:,.0f} MB (goal < {GOAL_PEAK_MB:,}: "
            f"{'met' if r['peak'] < GOAL_PEAK_MB else 'NOT met'}); by stage: {stages}"
        )


def projection(results, factor):
    """Project a rung's (seconds, peak MB) from the rungs run so far, or None.

    Seconds grow in proportion to the lines from the largest rung run; the
    peak memory along the line through the smallest and the largest rung
    (in proportion, when only one has run).
    """
    done = sorted((f, r) for f, r in results.items() if "error" not in r)
    if not done:
        return None
    (f0, r0), (f1, r1) = done[0], done[-1]
    lines = factor * REAL_LINES
    seconds = sum(r1["seconds"].values()) * lines / r1["lines"]
    if f1 == f0:
        return seconds, r1["peak"] * lines / r1["lines"]
    slope = (r1["peak"] - r0["peak"]) / (r1["lines"] - r0["lines"])
    return seconds, r1["peak"] + slope * (lines - r1["lines"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100",
                        help="rungs as multiples of the real file (default 1,10,100)")
    parser.add_argument("--data", type=Path, default=None,
                        help="the real file (default: shared online_retail.csv.gz)")
    parser.add_argument("--bench-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "shopseg-bench",
                        help="where generated files are kept and runs write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-minutes", type=float, default=60.0,
                        help="skip or stop a rung projected or running longer")
    parser.add_argument("--max-gb", type=float, default=8.0,
                        help="stop a rung whose process grows beyond this")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per rung; the fastest is kept (shared machine)")
    parser.add_argument("--omp-threads", type=int, default=None,
                        help="set OMP_NUM_THREADS in the runs (k-means threads)")
    parser.add_argument("--markdown", action="store_true",
                        help="print the table in Markdown")
    args = parser.parse_args(argv)
    factors = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    args.bench_dir.mkdir(parents=True, exist_ok=True)

    results = {}
    for factor in factors:
        if factor == 1:
            path = args.data or default_file()
            if not path.is_file():
                sys.exit(f"not found: {path} (set SHOPSEG_SHARED_DATA or --data)")
        else:
            projected = projection(results, factor)
            if projected is not None:
                seconds, peak = projected
                print(
                    f"{factor}x projected: {seconds / 60:,.1f} min, peak "
                    f"{peak / 1024:,.1f} GB",
                    flush=True,
                )
                if seconds > args.max_minutes * 60:
                    results[factor] = {
                        "error": f"not run: projected {seconds / 60:,.0f} min "
                        f"(limit {args.max_minutes:g} min)",
                    }
                    continue
            path = generated_file(args.bench_dir, factor, args.seed)
        out_dir = args.bench_dir / f"out-{factor}x"
        runs = []
        for attempt in range(args.repeat):
            shutil.rmtree(out_dir, ignore_errors=True)
            print(f"running {factor}x ({attempt + 1}/{args.repeat}): {path.name} ...",
                  flush=True)
            runs.append(
                run_rung(path, out_dir, args.max_gb * 1024, args.max_minutes * 60,
                         args.omp_threads)
            )
            shutil.rmtree(out_dir, ignore_errors=True)
            if "error" in runs[-1]:
                break
        results[factor] = min(
            runs, key=lambda r: sum(r.get("seconds", {"": float("inf")}).values())
        )
    print_table(results, args.markdown)
    print_goals(results)


if __name__ == "__main__":
    main()
