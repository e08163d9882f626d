"""The ``shopseg`` command line. It owns the terminal: progress, tables, colour.

Every error a user can cause (:class:`~shopseg.exceptions.ShopsegError`) is
printed as one paragraph with the fix, and the command exits with status 2.
"""

import sys
import warnings
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from . import pipeline, store
from ._version import __version__
from .clean import NON_MERCHANDISE_CODES
from .clv import holdout_table
from .exceptions import ShopsegError
from .read import locate_default_data, parse_column_map

console = Console(stderr=False, highlight=False)
errors = Console(stderr=True, highlight=False)


def _input_options(command):
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
    command = click.option(
        "--non-merchandise",
        metavar="CODES",
        default=",".join(NON_MERCHANDISE_CODES),
        show_default=True,
        help="Comma-separated stock codes (globs) that are not merchandise.",
    )(command)
    return command


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
@_input_options
def run(files, out_dir, data_dir, columns, date_format, non_merchandise):
    """Run the whole job on FILES (default: two years of UCI Online Retail)."""
    if not files:
        files = _default_files(data_dir)
    options = pipeline.Options(
        column_map=parse_column_map(columns),
        date_format=date_format,
        non_merchandise=tuple(c.strip() for c in non_merchandise.split(",") if c),
    )
    ctx = _run_with_progress(files, out_dir, options, pipeline.ALL_STAGES)
    _print_inputs(ctx.inputs)
    _print_ledger(ctx.ledger)
    _print_summary(ctx, out_dir)
    _print_segments(out_dir)
    _print_clv(out_dir)


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
@click.option("--random-state", default=0, show_default=True, type=int)
def segment(out_dir, observation_end, random_state):
    """Categorise products, compute customer features and segment customers."""
    options = pipeline.Options(
        observation_end=observation_end, random_state=random_state
    )
    _run_with_progress([], out_dir, options, pipeline.SEGMENT_STAGES, "segment")
    _print_segments(out_dir)


@cli.command()
@_out_option
def ledger(out_dir):
    """Print the ledger of the run stored in --out."""
    con = store.connect(store.database_path(out_dir), read_only=True)
    try:
        _print_ledger(con.execute("SELECT * FROM ledger").df())
    finally:
        con.close()


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

    def on_event(event):
        if event.seconds is None:
            status.update(f"[bold]{event.stage}[/] ...")
            status.start()
            return
        status.stop()
        console.print(
            f"[green]done[/] {event.stage:<10} {event.seconds:6.1f} s  {event.summary}"
        )

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ctx = pipeline.run(files, out_dir, options, on_event, stages, command)
    finally:
        status.stop()
    for warning in caught:
        errors.print(f"[yellow]warning:[/] {warning.message}")
    return ctx


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
    table.add_column("value (£)", justify="right")
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
@click.option("--random-state", default=0, show_default=True, type=int)
def clv(out_dir, random_state):
    """Fit BG/NBD and Gamma-Gamma, forecast lifetime value, check on a holdout."""
    options = pipeline.Options(random_state=random_state)
    _run_with_progress([], out_dir, options, pipeline.CLV_STAGES, "clv")
    _print_clv(out_dir)


def _print_clv(out_dir):
    con = store.connect(store.database_path(out_dir), read_only=True)
    try:
        table = holdout_table(con)
    except ShopsegError as exc:
        console.print(f"Lifetime value: no holdout check ({exc}).")
        return
    finally:
        con.close()
    _print_frame(table, "Lifetime value: forecasts against a 90-day holdout")


def _print_frame(frame, title):
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        numeric = frame[column].dtype.kind in "fiu"
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(
            f"{value:,.3f}" if isinstance(value, float) else str(value)
            for value in row
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
    chosen = categories[categories.chosen].iloc[0]
    console.print(
        f"Product categories: k={int(chosen.k)} of {int(categories.k.min())}.."
        f"{int(categories.k.max())} by highest cosine silhouette "
        f"({chosen.silhouette:.3f})."
    )
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


def main(argv=None):
    """Entry point of the ``shopseg`` console script."""
    try:
        cli.main(args=argv, prog_name="shopseg", standalone_mode=False)
    except ShopsegError as exc:
        errors.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        sys.exit(2)
    except click.exceptions.Abort:
        errors.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
