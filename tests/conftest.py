"""Fixtures shared by the read, clean, command-line and real-data tests."""

import os
import textwrap
from pathlib import Path

import duckdb
import pytest


def shared_data_dir():
    """The shared data folder: $SHOPSEG_SHARED_DATA, else shared/data beside
    the repository, else $SHOPSEG_DATA (which CI points at the same folder)."""
    configured = os.environ.get("SHOPSEG_SHARED_DATA")
    if configured:
        return Path(configured)
    beside = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not beside.is_dir() and os.environ.get("SHOPSEG_DATA"):
        return Path(os.environ["SHOPSEG_DATA"])
    return beside


@pytest.fixture(scope="session")
def shared_data():
    """The folder holding the real data sets; skips the test when it is missing."""
    folder = shared_data_dir()
    if not folder.is_dir():
        pytest.skip(f"shared data folder {folder} not found (set SHOPSEG_SHARED_DATA)")
    return folder


@pytest.fixture
def run_cli(capsys):
    """A function running ``shopseg ARGS``; it returns (exit status, stdout,
    stderr)."""
    from shopseg.cli import main

    def run(args):
        try:
            main([str(a) for a in args])
            status = 0
        except SystemExit as exc:
            status = exc.code
        out, err = capsys.readouterr()
        return status, out, err

    return run


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

    def write(name, text, encoding="utf-8"):
        path = tmp_path / name
        path.write_bytes(textwrap.dedent(text).lstrip("\n").encode(encoding))
        return path

    return write


@pytest.fixture
def ingest(con):
    """Read and clean files through the Python API on ``con``; returns the
    ledger as a dict of bucket to lines, buckets with no line left out."""
    import shopseg

    def run(paths, **options):
        shopseg.read_files([str(p) for p in paths], con, **options)
        ledger = shopseg.clean_lines(con)
        return {row.bucket: int(row.lines) for row in ledger.itertuples() if row.lines}

    return run
