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
from pathlib import Path

import warnings

import pandas as pd

from . import store
from ._version import __version__, library_versions
from .clean import NON_MERCHANDISE_CODES, clean_lines
from .clv import clv_stage
from .exceptions import (
    DegenerateDataWarning,
    EmptyResultError,
    EngineError,
    ModelInputError,
)
from .features import customer_features
from .predict import predict_stage
from .products import ProductCategorizer
from .read import check_file, read_files
from .report import load_metrics, write_report
from .segments import CustomerSegmenter, profile_segments, rfm_scores


@dataclasses.dataclass
class Options:
    """Options of a run; every field is stored in the ``runs`` table."""

    column_map: dict = dataclasses.field(default_factory=dict)
    date_format: str = "auto"
    non_merchandise: tuple = NON_MERCHANDISE_CODES
    observation_end: str | None = None
    burn_in_days: int = 90
    horizon_days: int = 365
    random_state: int = 0
    engine: str = "duckdb"
    spark_master: str | None = None


#: Engines that can run reading, cleaning and the customer features.
ENGINES = ("duckdb", "spark")

#: Folder of the output folder where the Spark engine's tables land as Parquet.
SPARK_FOLDER = "spark"


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
    spark: object = None  # a SparkConnection with --engine spark

    @property
    def engine_con(self):
        """Where reading, cleaning and the features run: Spark or the store."""
        return self.con if self.spark is None else self.spark

    def bring_back(self):
        """Copy the tables the Spark engine made into the store, and write
        them as Parquet in ``spark/``; nothing with the DuckDB engine."""
        if self.spark is not None:
            self.spark.copy_to(self.con, self.staging / SPARK_FOLDER)


@dataclasses.dataclass
class StageEvent:
    """A stage starting (``seconds`` is None) or finishing."""

    stage: str
    seconds: float | None = None
    summary: str = ""


def _read(ctx):
    reader = read_files
    if ctx.spark is not None:
        from .engine import read_files as reader
    ctx.inputs = reader(
        ctx.files, ctx.engine_con, ctx.options.column_map, ctx.options.date_format
    )
    ctx.bring_back()
    store.save_inputs(ctx.con, ctx.inputs)
    lines = sum(info.lines for info in ctx.inputs)
    return f"{lines:,} lines from {len(ctx.inputs)} source(s)"


def _clean(ctx):
    ctx.ledger = clean_lines(ctx.engine_con, ctx.options.non_merchandise)
    ctx.bring_back()
    kept = int(ctx.ledger.loc[ctx.ledger.bucket == "kept", "lines"].sum())
    return f"{kept:,} of {int(ctx.ledger.lines.sum()):,} lines kept"


def _products(ctx):
    products = ctx.con.execute(
        """
        SELECT stock_code,
            first(description ORDER BY lines DESC, description)
                FILTER (WHERE description IS NOT NULL) AS description,
            sum(revenue) AS revenue
        FROM (
            SELECT stock_code, description, count(*) AS lines,
                sum(amount) AS revenue
            FROM clean_lines
            GROUP BY ALL
        )
        GROUP BY stock_code
        ORDER BY stock_code
        """
    ).df()
    try:
        model = ProductCategorizer(random_state=ctx.options.random_state)
        model.fit(products)
    except (EmptyResultError, ModelInputError) as exc:
        # Too few or too alike descriptions to group: the later stages still
        # run, with every product uncategorised.
        warnings.warn(
            f"products are left uncategorised: {exc}",
            DegenerateDataWarning,
            stacklevel=2,
        )
        return _uncategorised(ctx, products)
    assigned = model.assign(products)
    ctx.con.register("_assigned", assigned)
    ctx.con.execute(
        """
        CREATE OR REPLACE TABLE product_categories AS
        SELECT stock_code, description, revenue, category, category_label
        FROM _assigned
        """
    )
    ctx.con.unregister("_assigned")
    _save_frame(ctx.con, "categories", model.categories_)
    _save_frame(ctx.con, "category_scan", model.scan_)
    ctx.results["categorizer"] = model
    return (
        f"{len(products):,} products in {model.n_categories_} categories "
        f"(silhouette {model.silhouette_:.3f})"
    )


def _uncategorised(ctx, products):
    assigned = products.assign(category=-1, category_label="Uncategorised")
    categories = pd.DataFrame({
        "category": [-1],
        "label": ["Uncategorised"],
        "top_terms": [""],
        "n_products": [len(products)],
        "share": [1.0],
        "revenue": [products.revenue.sum()],
        "revenue_share": [1.0],
    })
    scan = pd.DataFrame({
        "k": pd.Series([], dtype="int64"),
        "silhouette": pd.Series([], dtype="float64"),
        "chosen": pd.Series([], dtype="bool"),
    })
    _save_frame(ctx.con, "product_categories", assigned[[
        "stock_code", "description", "revenue", "category", "category_label",
    ]])
    _save_frame(ctx.con, "categories", categories)
    _save_frame(ctx.con, "category_scan", scan)
    return f"{len(products):,} products, too few to categorise"


def _features(ctx):
    if ctx.spark is not None:
        # The product categories were made locally; the features need them.
        tables = {row[0] for row in ctx.con.execute("SHOW TABLES").fetchall()}
        ctx.spark.copy_from(
            ctx.con, sorted(tables & {"product_categories", "categories"})
        )
    customers = customer_features(ctx.engine_con, ctx.options.observation_end)
    ctx.bring_back()
    return f"{len(customers):,} customers, {customers.shape[1] - 1} features"


def _segments(ctx):
    con = ctx.con
    customers = con.execute("SELECT * FROM customers").df()
    scores = rfm_scores(customers)
    segmenter = CustomerSegmenter(random_state=ctx.options.random_state)
    segmenter.fit(customers)
    profiles = profile_segments(customers, segmenter.labels_)
    names = dict(zip(profiles.segment, profiles.name))
    customers = pd.concat([customers, scores], axis=1)
    customers["segment"] = segmenter.labels_
    customers["segment_name"] = customers.segment.map(names)
    _save_frame(con, "customers", customers)
    _save_frame(con, "segments", profiles)
    _save_frame(con, "segment_scan", segmenter.scan_)
    _save_frame(
        con,
        "segment_stability",
        pd.DataFrame({
            "k": [segmenter.n_clusters_],
            "silhouette": [segmenter.silhouette_],
            "ari_mean": [segmenter.stability_],
            "ari_min": [segmenter.stability_min_],
            "seeds": [segmenter.n_stability_seeds],
        }),
    )
    customers.to_parquet(ctx.staging / "customers.parquet", index=False)
    for frame, name in ((customers, "customers.csv"), (profiles, "segments.csv")):
        frame.to_csv(ctx.staging / name, index=False,
                     float_format=store.CSV_FLOAT_FORMAT)
    ctx.results["segmenter"] = segmenter
    return (
        f"{segmenter.n_clusters_} segments (silhouette {segmenter.silhouette_:.3f}, "
        f"stability ARI {segmenter.stability_:.2f})"
    )


def _save_frame(con, table, frame):
    con.register("_frame", frame)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _frame")
    con.unregister("_frame")


def _report(ctx):
    # A run that read files is shown as it stands; a command that continues
    # a store (``shopseg report``) shows the last full run the store recorded.
    run = None
    if ctx.inputs:
        run = {
            "command": ctx.results.get("command"),
            "shopseg_version": __version__,
            "options": dataclasses.asdict(ctx.options),
            "stages": list(ctx.results.get("timings", [])),
            "versions": library_versions(),
        }
    path = write_report(
        ctx.con,
        ctx.staging / "report.html",
        run=run,
        metrics=load_metrics(ctx.staging, ctx.out_dir),
    )
    return f"{path.name} ({path.stat().st_size / 1e6:.1f} MB)"


INGEST_STAGES = (("read", _read), ("clean", _clean))
SEGMENT_STAGES = (
    ("products", _products),
    ("features", _features),
    ("segments", _segments),
)
PREDICT_STAGES = (("predict", predict_stage),)
CLV_STAGES = (("clv", clv_stage),)
REPORT_STAGES = (("report", _report),)
# The report stays last: it shows the tables of every stage before it.
ALL_STAGES = (
    INGEST_STAGES + SEGMENT_STAGES + PREDICT_STAGES + CLV_STAGES + REPORT_STAGES
)


def run(
    files, out_dir, options=None, on_event=None, stages=ALL_STAGES, command="run"
):
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
    stages : sequence of (name, function), default=ALL_STAGES
        The stages to run, in order. Without the read stage, they continue
        the store already in ``out_dir``.
    command : str, default="run"
        Name of the command, recorded in the ``runs`` table.

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
    continues = stages[0][0] != "read"
    if not continues:
        for path in files:  # before a Spark session takes its seconds to start
            check_file(path)
    with store.staged_outputs(out_dir, from_existing=continues) as staging:
        con = store.connect(staging / store.DATABASE)
        spark = None
        try:
            spark = _start_engine(options, stages)
            ctx = Context(
                con, Path(out_dir), staging, list(files), options, spark=spark
            )
            # Filled as the stages finish, for the report's time per stage.
            ctx.results.update(timings=timings, command=command)
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
                    "command": command,
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
            if spark is not None:
                spark.close()
            con.close()
    return ctx


def _start_engine(options, stages):
    """Connect to Spark when ``options.engine`` asks for it and a stage that
    runs on it is among ``stages``; None otherwise."""
    if options.engine not in ENGINES:
        raise EngineError(
            f"engine {options.engine!r} is not supported; choose one of "
            f"{', '.join(ENGINES)}"
        )
    on_engine = {"read", "clean", "features"} & {name for name, _ in stages}
    if options.engine == "duckdb" or not on_engine:
        return None
    try:
        from .engine import SparkConnection
    except ImportError as exc:
        raise EngineError(
            f"--engine spark needs {exc.name or 'PySpark'}, which is not "
            "installed; install it with pip install 'shopseg[spark]'"
        ) from None
    return SparkConnection.start(options.spark_master)
