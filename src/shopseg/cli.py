"""The ``shopseg`` command line. It owns the terminal: progress, tables, colour.

Every error a user can cause (:class:`~shopseg.exceptions.ShopsegError`) is
printed as one paragraph with the fix, and the command exits with status 2.
"""

import contextlib
import json
import numbers
import os
import signal
import sys
import warnings
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import pipeline, store
from ._version import __version__
from .clean import NON_MERCHANDISE_CODES
from .clv import holdout_table
from .exceptions import InputFileError, ShopsegError
from .predict import load_model, score_files
from .read import locate_default_data, parse_column_map

#: Width of the output written into a file or a pipe, where no terminal
#: sets one (Rich would take 80 columns and cut the wider tables short).
FILE_WIDTH = 132


def output_width(stream, environ=os.environ):
    """Return the width to print at: None (the terminal's, or ``$COLUMNS``)
    on a terminal or where ``$COLUMNS`` is set, else :data:`FILE_WIDTH`."""
    if stream.isatty() or "COLUMNS" in environ:
        return None
    return FILE_WIDTH


console = Console(stderr=False, highlight=False, width=output_width(sys.stdout))
errors = Console(stderr=True, highlight=False, width=output_width(sys.stderr))


def _read_options(command):
    """The options of reading a file: column names and date format."""
    command = click.option(
        "--column",
        "columns",
        multiple=True,
        metavar="NAME=HEADER",
        help="Map a column of the file to a shopseg column, e.g. "
        "customer_id=ClientRef. Repeatable.",
    )(command)
    command = click.option(
        "--date-format",
        type=click.Choice(["auto", "day-first", "month-first", "iso", "excel-serial"]),
        default="auto",
        show_default=True,
        help="How dates are written; auto infers one format per column.",
    )(command)
    return command


def _input_options(command):
    """The options of reading and cleaning a file."""
    command = _read_options(command)
    command = click.option(
        "--non-merchandise",
        metavar="CODES",
        default=",".join(NON_MERCHANDISE_CODES),
        show_default=True,
        help="Comma-separated stock codes (globs) that are not merchandise.",
    )(command)
    return command


def _random_state_option(command):
    return click.option(
        "--random-state", default=0, show_default=True, type=int,
        help="Seed of every random step; the same input and seed give the "
        "same output.",
    )(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shopseg")
def cli():
    """Clean shop transaction exports, segment customers, forecast spend."""


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Output folder for the store and the files written.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the default data set is looked for or downloaded to, when no "
    "FILE is given (default: $SHOPSEG_DATA, else the user cache).",
)
@click.option(
    "--burn-in-days", default=90, show_default=True, type=click.IntRange(0),
    help="Days at the start of the data whose first purchases are not counted "
    "as new customers (they may be old customers with missing history).",
)
@click.option(
    "--horizon-days", default=365, show_default=True, type=click.IntRange(1),
    help="Days after a first purchase over which next spend is forecast.",
)
@_random_state_option
@click.option(
    "--engine", type=click.Choice(pipeline.ENGINES), default="duckdb",
    show_default=True,
    help="Where reading, cleaning and customer features run: DuckDB on this "
    "machine, or Apache Spark (needs pip install 'shopseg[spark]' and Java 17+).",
)
@click.option(
    "--spark-master", metavar="URL", default=None,
    help="Spark master with --engine spark, e.g. spark://host:7077 or local[4] "
    "(default: spark-submit's, else local[*]).",
)
@_input_options
def run(files, out_dir, data_dir, burn_in_days, horizon_days, random_state,
        engine, spark_master, columns, date_format, non_merchandise):
    """Run every stage on FILES (default: two years of UCI data).

    Reads and cleans the files into a store in --out, then segments,
    forecasts and reports.
    """
    if spark_master and engine != "spark":
        raise click.UsageError("--spark-master needs --engine spark")
    if not files:
        files = _default_files(data_dir)
    options = pipeline.Options(
        column_map=parse_column_map(columns),
        date_format=date_format,
        non_merchandise=tuple(c.strip() for c in non_merchandise.split(",") if c),
        burn_in_days=burn_in_days,
        horizon_days=horizon_days,
        random_state=random_state,
        engine=engine,
        spark_master=spark_master,
    )
    ctx = _run_with_progress(files, out_dir, options, pipeline.ALL_STAGES)
    _print_inputs(ctx.inputs)
    _print_ledger(ctx.ledger)
    _print_summary(ctx, out_dir)
    _print_segments(out_dir)
    _print_clv(out_dir)
    _print_predictions(out_dir)
    if engine == "spark":
        console.print(
            f"Tables made on Spark, as Parquet: {Path(out_dir) / pipeline.SPARK_FOLDER}"
        )
    console.print(f"Report: {Path(out_dir) / 'report.html'}")


def _out_option(command):
    return click.option(
        "--out", "out_dir", type=click.Path(path_type=Path), default=Path("out"),
        show_default=True, help="Output folder holding the store.",
    )(command)


@cli.command()
@_out_option
@click.option(
    "--observation-end", default=None, metavar="DATE",
    help="Day the features are computed for (default: the last purchase day).",
)
@_random_state_option
def segment(out_dir, observation_end, random_state):
    """Products, customer features and segments of an existing store.

    The customers table is rewritten: run 'shopseg clv' and 'shopseg report'
    after it to bring lifetime values and the report up to date.
    """
    options = pipeline.Options(
        observation_end=observation_end, random_state=random_state
    )
    _run_with_progress([], out_dir, options, pipeline.SEGMENT_STAGES, "segment")
    _print_segments(out_dir)


@cli.command()
@_out_option
def report(out_dir):
    """Write DIR/report.html again from the store in --out.

    No stage is run again.
    """
    _run_with_progress([], out_dir, pipeline.Options(), pipeline.REPORT_STAGES,
                       "report")
    console.print(f"Report: {Path(out_dir) / 'report.html'}")


@cli.command()
@_out_option
def ledger(out_dir):
    """Print the ledger of the run stored in --out."""
    con = store.connect(store.database_path(out_dir), read_only=True)
    try:
        _print_ledger(con.execute("SELECT * FROM ledger").df())
    finally:
        con.close()


@cli.command()
@click.option("--customers", "n_customers", required=True, type=click.IntRange(1),
              help="Number of customers with a customer number.")
@click.option("--out", "out_file", required=True, type=click.Path(path_type=Path),
              help="File to write: .parquet, .csv or .csv.gz.")
@click.option("--format", "file_format", type=click.Choice(["parquet", "csv"]),
              default=None, help="File format (default: from the file name).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Random seed; the same seed writes the same lines.")
@click.option("--start", default="2010-12-01", show_default=True, metavar="DATE",
              help="First day of the window.")
@click.option("--end", default="2011-12-09", show_default=True, metavar="DATE",
              help="Last day of the window.")
def generate(n_customers, out_file, file_format, seed, start, end):
    """Write synthetic lines in the Online Retail schema.

    Purchases follow BG/NBD and spend Gamma-Gamma, with known parameters.
    """
    from .datasets import write_transactions

    with console.status(f"writing {out_file} ..."):
        lines = write_transactions(
            out_file, n_customers, start, end, format=file_format, random_state=seed
        )
    console.print(f"Wrote {lines:,} lines of {n_customers:,} customers to {out_file}.")

def _default_files(data_dir):
    def progress(done, total):
        if total:
            console.print(f"  downloading: {done / total:6.1%}", end="\r")

    console.print("No FILE given: using UCI Online Retail (2009-12 to 2011-12).")
    files = locate_default_data(data_dir, progress=progress)
    for path in files:
        console.print(f"  {path}")
    return files


def _run_with_progress(files, out_dir, options, stages, command="run"):
    status = console.status("")

    with _warnings_printed() as print_warnings:

        def on_event(event):
            if event.seconds is None:
                status.update(f"[bold]{event.stage}[/] ...")
                status.start()
                return
            status.stop()
            console.print(
                f"[green]done[/] {event.stage:<10} {event.seconds:6.1f} s  "
                f"{event.summary}"
            )
            print_warnings()  # under the stage that raised them

        try:
            return pipeline.run(files, out_dir, options, on_event, stages, command)
        finally:
            status.stop()


@contextlib.contextmanager
def _warnings_printed():
    """Print the warnings raised inside, as one line each, even when what
    raised them then failed (an ambiguous date can explain the error).

    Yields a function that prints those raised so far, for a caller that
    shows them as they come.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        printed = set()

        def print_warnings():
            for warning in caught:
                message = str(warning.message)
                if message not in printed:  # two steps can meet one issue
                    printed.add(message)
                    errors.print(f"[yellow]warning:[/] {escape(message)}")
            caught.clear()

        try:
            yield print_warnings
        finally:
            print_warnings()


def _print_inputs(inputs):
    table = Table(title="Inputs", title_justify="left")
    for column in ("source", "lines", "format", "encoding", "delimiter", "dates"):
        table.add_column(column, justify="right" if column == "lines" else "left")
    for info in inputs:
        table.add_row(
            info.name,
            f"{info.lines:,}",
            info.format,
            info.encoding or "-",
            repr(info.delimiter) if info.delimiter else "-",
            info.date_format,
        )
    console.print(table)


def _print_ledger(ledger):
    table = Table(title="Ledger: where every line read went", title_justify="left")
    table.add_column("bucket")
    table.add_column("lines", justify="right")
    table.add_column("share", justify="right")
    table.add_column("value as read (£)", justify="right")
    table.add_column("meaning")
    total = int(ledger.lines.sum())
    for row in ledger.itertuples():
        table.add_row(
            row.bucket,
            f"{int(row.lines):,}",
            f"{row.lines / total:.1%}" if total else "-",
            f"{row.value:,.2f}",
            row.meaning,
        )
    table.add_section()
    table.add_row("lines read", f"{total:,}", "100.0%", "", "the buckets add up to it")
    console.print(table)


def _print_summary(ctx, out_dir):
    con = store.connect(store.database_path(out_dir), read_only=True)
    try:
        customers, invoices, first, last, revenue = con.execute(
            """
            SELECT count(DISTINCT customer_id), count(DISTINCT invoice),
                min(invoice_date), max(invoice_date), sum(amount)
            FROM clean_lines
            """
        ).fetchone()
    finally:
        con.close()
    console.print(
        f"Kept {customers:,} customers, {invoices:,} invoices, "
        f"£{revenue:,.2f} of merchandise from {first:%Y-%m-%d} to {last:%Y-%m-%d}."
    )
    console.print(f"Store: {store.database_path(out_dir)}")


@cli.command()
@_out_option
@click.option(
    "--observation-end", default=None, metavar="DATE",
    help="Day the values are computed for (default: that of the customers "
    "table, the last purchase day unless 'segment' was given one).",
)
@_random_state_option
def clv(out_dir, observation_end, random_state):
    """Lifetime value by BG/NBD and Gamma-Gamma, checked on a holdout."""
    options = pipeline.Options(
        observation_end=observation_end, random_state=random_state
    )
    _run_with_progress([], out_dir, options, pipeline.CLV_STAGES, "clv")
    _print_clv(out_dir)


def _print_clv(out_dir):
    skipped = _metrics(out_dir).get("clv", {}).get("skipped")
    if skipped:
        console.print(f"Lifetime value: not forecast ({skipped}).")
        return
    con = store.connect(store.database_path(out_dir), read_only=True)
    try:
        table = holdout_table(con)
    except ShopsegError as exc:
        console.print(f"Lifetime value: no holdout check ({exc}).")
        return
    finally:
        con.close()
    _print_frame(table, "Lifetime value: forecasts against a 90-day holdout")


def _number(value):
    """Counts and values of 100 or more in whole numbers, smaller values to
    three decimals, so the columns stay narrow enough to read."""
    if isinstance(value, numbers.Integral) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.3f}"


def _print_frame(frame, title):
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        numeric = frame[column].dtype.kind in "fiu"
        table.add_column(
            str(column).replace("_", " "),
            justify="right" if numeric else "left",
        )
    relative = [str(column).endswith("rel_error") for column in frame.columns]
    for row in frame.itertuples(index=False):
        table.add_row(*(
            f"{value:+.1%}" if is_relative
            else _number(value) if isinstance(value, numbers.Real)
            else str(value).replace("_", " ")
            for value, is_relative in zip(row, relative)
        ))
    console.print(table)


def _print_segments(out_dir):
    con = store.connect(store.database_path(out_dir), read_only=True)
    try:
        categories = con.execute(
            "SELECT k, silhouette, chosen FROM category_scan ORDER BY k"
        ).df()
        scan = con.execute("SELECT * FROM segment_scan ORDER BY k").df()
        stability = con.execute("SELECT * FROM segment_stability").df().iloc[0]
        profiles = con.execute("SELECT * FROM segments ORDER BY segment").df()
    finally:
        con.close()
    if categories.chosen.any():
        chosen = categories[categories.chosen].iloc[0]
        console.print(
            f"Product categories: k={int(chosen.k)} of {int(categories.k.min())}.."
            f"{int(categories.k.max())} by highest cosine silhouette "
            f"({chosen.silhouette:.3f})."
        )
    else:
        console.print("Product categories: too few products to categorise.")
    console.print(
        "Customer segments: silhouette by k "
        + ", ".join(f"{int(r.k)}: {r.silhouette:.3f}" for r in scan.itertuples())
    )
    table = Table(
        title=f"Behavioural segments (k={int(stability.k)}, silhouette "
        f"{stability.silhouette:.3f}, stability ARI {stability.ari_mean:.2f} "
        f"over {int(stability.seeds)} seeds)",
        title_justify="left",
    )
    for column in ("segment", "name", "customers", "revenue", "median orders",
                   "median spend (£)"):
        table.add_column(column, justify="left" if column == "name" else "right")
    for row in profiles.itertuples():
        table.add_row(
            str(row.segment), row.name, f"{row.customers:,}",
            f"{row.revenue_share:.1%}", f"{row.median_orders:g}",
            f"{row.median_spend:,.0f}",
        )
    console.print(table)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--model", "model_dir", type=click.Path(path_type=Path), default=Path("out"),
    show_default=True,
    help="Model folder, or the output folder of 'shopseg run' holding it.",
)
@click.option(
    "--output", type=click.Path(path_type=Path), default=Path("predictions.csv"),
    show_default=True, help="CSV file written, one row per customer.",
)
@_read_options
def predict(files, model_dir, output, columns, date_format):
    """Forecast new customers' next year from their first orders."""
    if not output.parent.is_dir():
        raise InputFileError(
            f"{output}: the folder {str(output.parent)!r} does not exist; "
            "create it or choose another --output"
        )
    saved = load_model(model_dir)
    with _warnings_printed():
        scored = score_files(
            saved, files, column_map=parse_column_map(columns),
            date_format=date_format,
        )
    scored.to_csv(output, index=False)
    horizon = saved.card["window"]["horizon_days"]
    level = saved.card.get("interval_level")
    console.print(
        f"Scored {len(scored):,} customers with the model of "
        f"{saved.card['created_at']} ({saved.card['spend_model']}): spend over "
        f"the {horizon} days after the first purchase day, "
        f"{level:.0%} interval, repeat probability, likely segment."
    )
    table = Table(
        title=f"First {min(len(scored), 10)} of {len(scored):,} customers",
        title_justify="left",
    )
    for column in ("customer", "first day", "spend (£)", f"{level:.0%} up to (£)",
                   "P(repeat)", "likely segment"):
        right = column not in ("customer", "first day", "likely segment")
        table.add_column(column, justify="right" if right else "left")
    for row in scored.head(10).itertuples():
        table.add_row(
            str(row.customer_id), str(row.first_purchase_day),
            f"{row.predicted_spend:,.0f}", f"{row.spend_upper:,.0f}",
            f"{row.repeat_probability:.2f}", row.next_year_segment_name,
        )
    console.print(table)
    later = int((scored.later_lines > 0).sum())
    if later:
        console.print(
            f"{later:,} customers have lines after their first purchase day; "
            "only the first day was used."
        )
    console.print(f"Predictions: {output}")



@cli.command()
@click.option(
    "--model", "model_dir", type=click.Path(path_type=Path), default=Path("out"),
    show_default=True,
    help="Model folder, or the output folder of 'shopseg run' holding it.",
)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 for every interface.")
@click.option("--port", default=8000, show_default=True,
              type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True,
              type=click.IntRange(1, None),
              help="Worker processes, each with the model loaded.")
@click.option(
    "--api-key-file", type=click.Path(path_type=Path), default=None,
    help="File of API keys, one a line; without it $SHOPSEG_API_KEYS "
    "(comma-separated); without both, no key is required.",
)
def serve(model_dir, host, port, workers, api_key_file):
    """Serve forecasts of new customers' first orders over HTTP."""
    # Imported here: FastAPI and uvicorn are loaded by this command only.
    from .service import serve as serve_model

    def started(info):
        keys = "required" if info["api_keys"] else "not required"
        console.print(
            f"Serving the model {info['model_version']} (trained "
            f"{info['created_at']}) at {info['url']} with {workers} worker(s); "
            f"API keys {keys}. Documents: {info['url']}/docs"
        )
        if not info["api_keys"] and host not in ("127.0.0.1", "localhost", "::1"):
            errors.print(
                f"[yellow]warning:[/] listening on {host} without API keys: "
                "anyone who reaches it can score orders; set --api-key-file "
                "or $SHOPSEG_API_KEYS"
            )

    serve_model(model_dir, host=host, port=port, workers=workers,
                api_key_file=api_key_file, on_start=started)

def _metrics(out_dir):
    """``metrics.json`` of an output folder; empty when there is none."""
    path = Path(out_dir) / "metrics.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _print_predictions(out_dir):
    prediction = _metrics(out_dir).get("prediction")
    if not prediction:
        return
    if "skipped" in prediction:
        console.print(f"New customers' spend: not forecast ({prediction['skipped']}).")
        return
    split, window = prediction["split"], prediction["window"]
    train, test = split["train"], split["test"]
    table = Table(
        title=f"New customers' spend over {window['horizon_days']} days: test "
        f"cohort first purchases {test['first_purchase_from']} to "
        f"{test['first_purchase_to']} ({test['customers']:,} customers); trained "
        f"on {train['first_purchase_from']} to {train['first_purchase_to']} "
        f"({train['customers']:,})",
        title_justify="left",
    )
    columns = {
        "normalized_gini": ("Gini", "{:.3f}"),
        "decile_calibration_error": ("decile err", "{:.3f}"),
        "top_decile_capture": ("top 10%", "{:.3f}"),
        "rmse": ("RMSE £", "{:,.0f}"),
        "mae": ("MAE £", "{:,.0f}"),
        "r2": ("R²", "{:.3f}"),
        "spearman": ("Spearman", "{:.3f}"),
        "revenue_ratio": ("pred / actual", "{:.2f}"),
    }
    names = {
        "first_order_model": "ours: " + prediction["spend_model"].replace("_", " "),
        "linear_regression_log": "log-linear regr.",
        "constant_zero": "zero",
        "constant_mean": "mean",
        "constant_median": "median",
    }
    table.add_column("model")
    for label, _ in columns.values():
        table.add_column(label, justify="right")
    for name, metrics in prediction["spend"].items():
        if name in names:
            table.add_row(names[name], *(
                form.format(metrics[key]) for key, (_, form) in columns.items()
            ))
    console.print(table)
    repeat = prediction["repeat"]["first_order_model"]
    constant = prediction["repeat"]["constant_training_rate"]
    segment, interval = prediction["segment"], prediction["interval"]
    console.print(
        f"Repeat purchase: AUC {repeat['auc']:.3f}, Brier {repeat['brier']:.3f} "
        f"(constant rate: {constant['brier']:.3f}); {repeat['base_rate']:.0%} "
        "of the test cohort bought again.\n"
        f"Segment after {window['horizon_days']} days: accuracy "
        f"{segment['accuracy']:.3f}, macro-F1 "
        f"{segment['macro_f1']:.3f}; majority class "
        f"({segment['majority_segment_name']}) {segment['majority_accuracy']:.3f} "
        f"and {segment['majority_macro_f1']:.3f}.\n"
        f"Spend interval ({interval['level']:.0%}, from 0): coverage "
        f"{interval['coverage']:.3f}, mean width £{interval['mean_width']:,.0f}."
    )
    for note in prediction["notes"]:
        console.print(f"Note: {note}")
    console.print(f"Model: {Path(out_dir) / 'model'}")


def _fail(message):
    """Print one paragraph and exit 2. The message is escaped: it quotes file
    names and values, and a '[...]' in them is not rich markup."""
    errors.print(f"[bold red]error:[/] {escape(str(message))}", soft_wrap=True)
    sys.exit(2)


class Terminated(Exception):
    """The process was asked to stop: SIGTERM, as ``kill`` and service
    managers send."""


class _Termination:
    """A SIGTERM handler that raises :class:`Terminated` in the main thread,
    so the command unwinds as on Ctrl-C (its staging folder is removed, the
    previous outputs stay), and remembers that it did: a DuckDB query the
    signal stops raises its own error instead."""

    received = False

    def __call__(self, signum, frame):
        self.received = True
        raise Terminated


def main(argv=None):
    """Entry point of the ``shopseg`` console script."""
    termination = _Termination()
    previous = signal.signal(signal.SIGTERM, termination)
    try:
        try:
            cli.main(args=argv, prog_name="shopseg", standalone_mode=False)
        except Exception:
            if termination.received:
                raise Terminated from None
            raise
    except Terminated:
        errors.print("terminated")
        sys.exit(128 + signal.SIGTERM)
    except ShopsegError as exc:
        _fail(exc)
    except OSError as exc:
        # The system refused a file or folder (permissions, a full disk): the
        # user's to fix, so a paragraph rather than a traceback.
        _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    except click.exceptions.Abort:
        errors.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    finally:
        signal.signal(signal.SIGTERM, previous)
