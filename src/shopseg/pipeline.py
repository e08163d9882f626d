"""The whole job: read -> clean -> store -> later stages, with timings.

:func:`run` is what ``shopseg run`` calls. Each stage is a function of a
:class:`Context`; it adds tables to the store and returns a few counts for the
progress line. The library reports progress through a callback and never
prints; the command line decides how to show it.
"""

import dataclasses
import datetime
import time
import uuid
from importlib import metadata
from pathlib import Path

from . import store
from ._version import __version__
from .clean import NON_MERCHANDISE_CODES, clean_lines
from .read import read_files


@dataclasses.dataclass
class Options:
    """Options of a run; every field is stored in the ``runs`` table."""

    column_map: dict = dataclasses.field(default_factory=dict)
    date_format: str = "auto"
    non_merchandise: tuple = NON_MERCHANDISE_CODES
    random_state: int = 0


@dataclasses.dataclass
class Context:
    """What the stages of one run share."""

    con: object
    out_dir: Path
    staging: Path
    files: list
    options: Options
    inputs: list = dataclasses.field(default_factory=list)
    ledger: object = None
    results: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class StageEvent:
    """A stage starting (``seconds`` is None) or finishing."""

    stage: str
    seconds: float | None = None
    summary: str = ""


def _read(ctx):
    ctx.inputs = read_files(
        ctx.files, ctx.con, ctx.options.column_map, ctx.options.date_format
    )
    store.save_inputs(ctx.con, ctx.inputs)
    lines = sum(info.lines for info in ctx.inputs)
    return f"{lines:,} lines from {len(ctx.inputs)} source(s)"


def _clean(ctx):
    ctx.ledger = clean_lines(ctx.con, ctx.options.non_merchandise)
    kept = int(ctx.ledger.loc[ctx.ledger.bucket == "kept", "lines"].sum())
    return f"{kept:,} of {int(ctx.ledger.lines.sum()):,} lines kept"


INGEST_STAGES = (("read", _read), ("clean", _clean))


def run(files, out_dir, options=None, on_event=None, stages=INGEST_STAGES):
    """Run the stages on ``files`` and store the results in ``out_dir``.

    Parameters
    ----------
    files : list of str or Path
        Transaction exports to read.
    out_dir : str or Path
        Output folder; its store is replaced only if every stage succeeds.
    options : Options, default=None
        Run options; defaults when None.
    on_event : callable, default=None
        Called with a :class:`StageEvent` as each stage starts and ends.
    stages : sequence of (name, function), default=INGEST_STAGES
        The stages to run, in order.

    Returns
    -------
    Context
        With the inputs found, the ledger and each stage's results.
    """
    options = options or Options()
    on_event = on_event or (lambda event: None)
    started = datetime.datetime.now()
    clock = time.perf_counter()
    timings = []
    with store.staged_outputs(out_dir) as staging:
        con = store.connect(staging / store.DATABASE)
        try:
            ctx = Context(con, Path(out_dir), staging, list(files), options)
            for name, stage in stages:
                on_event(StageEvent(name))
                tick = time.perf_counter()
                summary = stage(ctx)
                seconds = time.perf_counter() - tick
                timings.append({"stage": name, "seconds": round(seconds, 3)})
                on_event(StageEvent(name, seconds, summary))
            store.record_run(
                con,
                {
                    "run_id": uuid.uuid4().hex,
                    "command": "run",
                    "started_at": started,
                    "seconds": time.perf_counter() - clock,
                    "shopseg_version": __version__,
                    "options": dataclasses.asdict(options),
                    "inputs": [info.as_dict() for info in ctx.inputs],
                    "stages": timings,
                    "versions": library_versions(),
                },
            )
            ctx.results["timings"] = timings
        finally:
            con.close()
    return ctx


def library_versions():
    """Return the versions of the libraries whose results a run depends on."""
    names = ("duckdb", "numpy", "pandas", "scikit-learn", "scipy")
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
