"""Fixtures shared by the read, clean, command-line and real-data tests."""

import os
import textwrap
from pathlib import Path

import duckdb
import pytest

#: Header of the UCI Online Retail export (M/D/YYYY H:MM dates).
OR_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
#: Header of the UCI Online Retail II export (ISO dates).
ORII_HEADER = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"


def shared_data_dir():
    """The shared data folder: $SHOPSEG_SHARED_DATA, else ../shared/data."""
    configured = os.environ.get("SHOPSEG_SHARED_DATA")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data():
    """The folder holding the real data sets; skips the test when it is missing."""
    folder = shared_data_dir()
    if not folder.is_dir():
        pytest.skip(f"shared data folder {folder} not found (set SHOPSEG_SHARED_DATA)")
    return folder


@pytest.fixture
def con():
    """An in-memory DuckDB connection, closed after the test."""
    connection = duckdb.connect()
    yield connection
    connection.close()


@pytest.fixture
def write_csv(tmp_path):
    """Write a small export given as text; returns its path.

    The text is dedented and stripped of its first newline, so a test can
    write the file's lines as an indented triple-quoted string.
    """

    def write(name, text, encoding="utf-8", delimiter=None):
        body = textwrap.dedent(text).lstrip("\n")
        if delimiter is not None:
            body = body.replace(",", delimiter)
        path = tmp_path / name
        path.write_bytes(body.encode(encoding))
        return path

    return write


@pytest.fixture
def ingest(con):
    """Read and clean files through the Python API on ``con``; returns the ledger
    as a dict of bucket to lines (buckets with no line left out)."""
    import shopseg

    def run(paths, **options):
        shopseg.read_files([str(p) for p in paths], con, **options)
        ledger = shopseg.clean_lines(con)
        return {row.bucket: int(row.lines) for row in ledger.itertuples() if row.lines}

    return run
