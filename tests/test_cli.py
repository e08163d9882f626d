"""The command line: exit status, one-paragraph errors, the store it leaves."""

import gzip
import os
import random
import re
import signal
import subprocess
import sys
import time

import duckdb
import pandas as pd
import pytest


HEADER = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,"
    "Country"
)
LINE = "536365,85123A,WHITE HANGING HEART,6,12/13/2010 8:26,2.55,17850,UK"

STORE_TABLES = {"lines", "clean_lines", "ledger", "inputs", "runs"}


def synthetic_export(customers=40, seed=7):
    """A small export: 40 customers buying 12 products through 2011."""
    rng = random.Random(seed)
    products = []
    for colour in ("RED", "BLUE", "PINK", "GREEN"):
        for thing in ("HEART MUG", "STAR LANTERN", "RETRO CLOCK"):
            n = len(products)
            products.append((f"{20000 + n}", f"{colour} {thing}", 0.85 + 0.4 * n))
    lines = [HEADER]
    invoice = 540000
    for customer in range(12000, 12000 + customers):
        for _ in range(rng.randint(1, 6)):
            invoice += 1
            when = (
                f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/2011 "
                f"{rng.randint(8, 17)}:{rng.randint(0, 59):02d}"
            )
            for code, description, price in rng.sample(products, rng.randint(1, 4)):
                lines.append(
                    f"{invoice},{code},{description},{rng.randint(1, 24)},{when},"
                    f"{price:.2f},{customer},United Kingdom"
                )
    return "\n".join(lines) + "\n"


def assert_one_paragraph_error(out, err):
    assert "Traceback" not in out + err
    message = err.strip()
    assert message.startswith("error: ")
    assert "\n\n" not in message  # one paragraph


def store_tables(out_dir):
    con = duckdb.connect(str(out_dir / "shopseg.duckdb"), read_only=True)
    try:
        tables = {name for (name,) in con.execute("SHOW TABLES").fetchall()}
        ledger = con.execute("SELECT bucket, lines FROM ledger ORDER BY ALL").fetchall()
    finally:
        con.close()
    return tables, ledger


def bad_inputs(tmp_path):
    """Name -> (file, regex the error must match)."""
    random_bytes = tmp_path / "random.csv"
    random_bytes.write_bytes(random.Random(1).randbytes(4000))
    packed = gzip.compress((HEADER + "\n" + f"{LINE}\n" * 1000).encode())
    truncated = tmp_path / "cut.csv.gz"
    truncated.write_bytes(packed[: len(packed) // 2])
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(HEADER.replace("CustomerID", "ClientRef") + f"\n{LINE}\n")
    bad_date = tmp_path / "bad_date.csv"
    bad_date.write_text(f"{HEADER}\n{LINE}\n{LINE.replace('12/13/2010', 'soon')}\n")
    nothing = tmp_path / "nothing.csv"
    nothing.write_text(f"{HEADER}\n{LINE.replace('17850', '')}\n")
    return {
        "missing": (tmp_path / "missing.csv", r"missing\.csv: no such file"),
        "random-bytes": (random_bytes, r"random\.csv: .*not a text export"),
        "truncated-gzip": (truncated, r"cut\.csv\.gz: .*(complete|truncated)"),
        "unknown-columns": (unknown, r"no column found for customer_id.*ClientRef"),
        "unparseable-date": (bad_date, r"line 3: column 'InvoiceDate' has 'soon"),
        "nothing-left": (nothing, r"(?s)no purchase line is left.*no_customer +1"),
    }


BAD = [
    "missing",
    "random-bytes",
    "truncated-gzip",
    "unknown-columns",
    "unparseable-date",
    "nothing-left",
]


@pytest.mark.parametrize("case", BAD, ids=BAD)
def test_bad_input_exits_2_with_one_paragraph(tmp_path, run_cli, case):
    path, message = bad_inputs(tmp_path)[case]
    status, out, err = run_cli(["run", path, "--out", tmp_path / "out"])
    assert status == 2
    assert_one_paragraph_error(out, err)
    assert re.search(message, err)
    assert not any((tmp_path / "out").glob(".staging-*"))


@pytest.mark.parametrize("case", ["random-bytes", "truncated-gzip"],
                         ids=["random-bytes", "truncated-gzip"])
def test_bad_input_in_a_fresh_process(tmp_path, case):
    path, _ = bad_inputs(tmp_path)[case]
    result = subprocess.run(
        [sys.executable, "-m", "shopseg", "run", str(path), "--out",
         str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2, result.stderr
    assert_one_paragraph_error(result.stdout, result.stderr)


def test_unknown_column_option_exits_2(tmp_path, run_cli):
    path = tmp_path / "a.csv"
    path.write_text(f"{HEADER}\n{LINE}\n")
    status, out, err = run_cli(
        ["run", path, "--column", "client=X", "--out", tmp_path / "out"]
    )
    assert status == 2
    assert_one_paragraph_error(out, err)
    assert "not a shopseg column" in err


def test_predict_into_a_missing_folder_exits_2(tmp_path, run_cli):
    path = tmp_path / "orders.csv"
    path.write_text(f"{HEADER}\n{LINE}\n")
    output = tmp_path / "nowhere" / "predictions.csv"
    status, out, err = run_cli(["predict", path, "--output", output])
    assert status == 2
    assert_one_paragraph_error(out, err)
    assert "nowhere' does not exist; create it or choose another --output" in err


def test_ledger_without_a_store_exits_2(tmp_path, run_cli):
    status, out, err = run_cli(["ledger", "--out", tmp_path / "none"])
    assert status == 2
    assert_one_paragraph_error(out, err)
    assert "no shopseg store" in err


@pytest.fixture
def ingest_only(monkeypatch):
    """Make ``shopseg run`` run the read and clean stages only.

    The later stages (segments, predictions, lifetime value, report) have their
    own tests and need more data than a small export; here they and the tables
    they print are left out.
    """
    from shopseg import cli, pipeline

    monkeypatch.setattr(pipeline, "ALL_STAGES", pipeline.INGEST_STAGES)
    for printer in ("_print_segments", "_print_clv", "_print_predictions"):
        monkeypatch.setattr(cli, printer, lambda out_dir: None, raising=False)


@pytest.fixture
def finished_run(tmp_path, run_cli, ingest_only):
    """An output folder holding one successful run of a small export."""
    path = tmp_path / "shop.csv"
    path.write_text(synthetic_export())
    out_dir = tmp_path / "out"
    status, out, err = run_cli(["run", path, "--out", out_dir])
    assert status == 0, err
    assert "Traceback" not in out + err
    return out_dir, out


def test_successful_run_writes_the_store(finished_run):
    out_dir, out = finished_run
    tables, ledger = store_tables(out_dir)
    assert STORE_TABLES <= tables
    assert sum(lines for _, lines in ledger) == len(synthetic_export().splitlines()) - 1
    assert "Ledger" in out and "kept" in out
    assert not any(out_dir.glob(".staging-*"))


def test_failed_run_keeps_the_previous_store(finished_run, tmp_path, run_cli):
    out_dir, _ = finished_run
    before = store_tables(out_dir)
    files_before = sorted(p.name for p in out_dir.iterdir())
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(random.Random(2).randbytes(2000))
    status, out, err = run_cli(["run", garbage, "--out", out_dir])
    assert status == 2
    assert_one_paragraph_error(out, err)
    assert store_tables(out_dir) == before
    assert not any(out_dir.glob(".staging-*"))
    assert sorted(p.name for p in out_dir.iterdir()) == files_before


def test_error_quoting_brackets_is_printed_as_is(tmp_path, run_cli):
    """A value such as '[/x]' is printed, not read as rich markup."""
    path = tmp_path / "brackets.csv"
    path.write_text(f"{HEADER}\n{LINE.replace('12/13/2010 8:26', '[/x]')}\n")
    status, out, err = run_cli(["run", path, "--out", tmp_path / "out"])
    assert status == 2
    assert_one_paragraph_error(out, err)
    assert "has '[/x]'" in err


def test_output_folder_that_is_a_file_exits_2(tmp_path, run_cli):
    path = tmp_path / "a.csv"
    path.write_text(f"{HEADER}\n{LINE}\n")
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    status, out, err = run_cli(["run", path, "--out", blocker])
    assert status == 2
    assert_one_paragraph_error(out, err)
    assert "cannot be written" in err


def test_a_failed_first_run_leaves_no_empty_folder(tmp_path, run_cli):
    path = tmp_path / "header.csv"
    path.write_text(f"{HEADER}\n")
    status, out, err = run_cli(["run", path, "--out", tmp_path / "new" / "out"])
    assert status == 2
    assert_one_paragraph_error(out, err)
    assert "header but no lines" in err
    assert not (tmp_path / "new" / "out").exists()



def test_tables_piped_to_a_file_are_not_cut_short(finished_run):
    out_dir, _ = finished_run
    environ = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    result = subprocess.run(
        [sys.executable, "-m", "shopseg", "ledger", "--out", str(out_dir)],
        capture_output=True, text=True, timeout=120, env=environ,
    )
    assert result.returncode == 0, result.stderr
    assert "purchase_reversed" in result.stdout
    assert "…" not in result.stdout


def test_output_width_follows_the_terminal_or_columns():
    from shopseg.cli import FILE_WIDTH, output_width

    class Stream:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

    assert output_width(Stream(tty=True), {}) is None
    assert output_width(Stream(tty=False), {"COLUMNS": "100"}) is None
    assert output_width(Stream(tty=False), {}) == FILE_WIDTH


@pytest.mark.parametrize("delay", [0.0, 1.0], ids=["at-once", "in-a-query"])
def test_sigterm_leaves_the_previous_outputs_and_no_staging(
    shared_data, tmp_path, delay
):
    """``kill`` stops a run as Ctrl-C does: nothing half-written remains,
    whether the signal comes in Python code or in a DuckDB query."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "report.html").write_text("the previous report")
    command = [sys.executable, "-m", "shopseg", "run",
               str(shared_data / "online_retail.csv.gz"), "--out", str(out_dir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(out_dir.glob(".staging-*")):
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "no staging folder appeared"
            time.sleep(0.05)
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM
    assert "Traceback" not in err
    assert "terminated" in err
    assert not any(out_dir.glob(".staging-*"))
    assert (out_dir / "report.html").read_text() == "the previous report"


def test_csv_files_give_money_to_the_penny(tmp_path):
    """Sums of prices in floating point carry noise in their last digits
    (169.35999999999996); the CSV files beside the store do not show it."""
    import warnings

    from shopseg import pipeline
    from shopseg.exceptions import DegenerateDataWarning

    path = tmp_path / "shop.csv"
    path.write_text(synthetic_export(customers=120))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateDataWarning)  # 12 products
        pipeline.run([path], tmp_path / "out",
                     stages=pipeline.INGEST_STAGES + pipeline.SEGMENT_STAGES)
    customers = pd.read_csv(tmp_path / "out" / "customers.csv", dtype=str)
    assert customers.spend.str.fullmatch(r"\d+(\.\d{1,2})?").all()
    segments = pd.read_csv(tmp_path / "out" / "segments.csv", dtype=str)
    # A median of an even count can fall on a half-penny.
    assert segments.median_spend.str.fullmatch(r"\d+(\.\d{1,3})?").all()


def test_a_warning_is_printed_under_the_stage_that_raised_it(tmp_path):
    export = synthetic_export()
    # Days of 12 or less: every date reads both ways, and reading warns.
    export = re.sub(r"/(\d+)/2011", lambda m: f"/{int(m[1]) % 12 + 1}/2011", export)
    path = tmp_path / "shop.csv"
    path.write_text(export)
    result = subprocess.run(
        [sys.executable, "-m", "shopseg", "run", str(path), "--out",
         str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    output = result.stdout
    warning = output.index("warning:")
    assert "can be read day-first or month-first" in output[warning:]
    assert output.index("done read") < warning < output.index("done clean")
