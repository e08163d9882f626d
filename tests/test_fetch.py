"""Tests of shopseg.read._fetch: finding and downloading the default data.

Everything runs offline: downloads come from a server on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import http.server
import io
import os
import socket
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shopseg.exceptions import DataDownloadError
from shopseg.read import _fetch
from shopseg.read._fetch import CSV_FILES, HEADER, WORKBOOK_NAME, locate_default_data

openpyxl = pytest.importorskip("openpyxl")

SHEETS = ("Year 2009-2010", "Year 2010-2011")


# ---------------------------------------------------------------- helpers


@contextmanager
def _dead_port() -> Iterator[int]:
    """Yield a loopback port that is bound but not listening (refuses)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def dead_url() -> Iterator[str]:
    """A URL on loopback where nothing listens."""
    with _dead_port() as port:
        yield f"http://127.0.0.1:{port}/online+retail+ii.zip"


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Keep every test away from the user cache and the real UCI site."""
    monkeypatch.delenv("SHOPSEG_DATA", raising=False)
    cache = tmp_path / "user-cache"
    monkeypatch.setattr(_fetch.platformdirs, "user_cache_dir", lambda _: str(cache))
    with _dead_port() as port:
        url = f"http://127.0.0.1:{port}/never-used.zip"
        monkeypatch.setenv("SHOPSEG_DATA_URL", url)
        yield


def _workbook_bytes(
    sheets: tuple[str, ...] = SHEETS, header: tuple[str, ...] = HEADER
) -> bytes:
    """Return a small xlsx with `sheets`, each with `header` and two rows."""
    book = openpyxl.Workbook(write_only=True)
    for name in sheets:
        sheet = book.create_sheet(name)
        sheet.append(list(header))
        when = dt.datetime(2010, 1, 4, 10, 30)
        sheet.append(["489434", "85048", "LED LIGHT", 12, when, 6.95, 13085.0, "UK"])
        sheet.append(["C489449", "22087", "PAPER", -12, when, 0.85, None, "France"])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    """Return a zip archive holding `members` (name -> content)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


class _Server:
    """A loopback HTTP server answering every GET with a fixed body."""

    def __init__(self, body: bytes, status: int = 200) -> None:
        self.body = body
        self.status = status
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                self.send_response(server.status)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/online+retail+ii.zip"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data folder (not created yet)."""
    return tmp_path / "data"


# ------------------------------------------------------------- local files


def _touch_csvs(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in CSV_FILES]
    for path in paths:
        path.touch()
    return paths


def test_finds_csv_files_given_as_argument(tmp_path: Path) -> None:
    _touch_csvs(tmp_path)
    found = locate_default_data(tmp_path, download=False)
    assert found == [
        tmp_path / "online_retail_ii_year_2009_2010.csv.gz",
        tmp_path / "online_retail.csv.gz",
    ]


def test_finds_csv_files_in_env_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _touch_csvs(tmp_path / "env")
    monkeypatch.setenv("SHOPSEG_DATA", str(tmp_path / "env"))
    assert locate_default_data(download=False) == expected


def test_argument_wins_over_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _touch_csvs(tmp_path / "env")
    expected = _touch_csvs(tmp_path / "arg")
    monkeypatch.setenv("SHOPSEG_DATA", str(tmp_path / "env"))
    assert locate_default_data(tmp_path / "arg", download=False) == expected


def test_default_folder_is_user_cache(tmp_path: Path) -> None:
    expected = _touch_csvs(tmp_path / "user-cache")
    assert locate_default_data(download=False) == expected


def test_finds_workbook(tmp_path: Path) -> None:
    (tmp_path / WORKBOOK_NAME).touch()
    assert locate_default_data(str(tmp_path)) == [tmp_path / WORKBOOK_NAME]


def test_csv_pair_preferred_over_workbook(tmp_path: Path) -> None:
    expected = _touch_csvs(tmp_path)
    (tmp_path / WORKBOOK_NAME).touch()
    assert locate_default_data(tmp_path) == expected


def test_one_csv_alone_is_not_enough(tmp_path: Path) -> None:
    (tmp_path / "online_retail.csv.gz").touch()
    with pytest.raises(DataDownloadError, match="downloading is turned off"):
        locate_default_data(tmp_path, download=False)


# --------------------------------------------------------------- download


def test_downloads_checks_and_unpacks_once(data_dir: Path) -> None:
    workbook = _workbook_bytes()
    archive = _zip_bytes({WORKBOOK_NAME: workbook})
    calls: list[tuple[int, int | None]] = []
    with _Server(archive) as server:
        found = locate_default_data(
            data_dir, url=server.url, progress=lambda d, t: calls.append((d, t))
        )
        assert found == [data_dir / WORKBOOK_NAME]
        assert (data_dir / WORKBOOK_NAME).read_bytes() == workbook
        assert os.listdir(data_dir) == [WORKBOOK_NAME]  # zip and temp files gone
        assert calls[0] == (0, len(archive))
        assert calls[-1] == (len(archive), len(archive))

        again = locate_default_data(data_dir, url=server.url)
        assert again == found
        assert server.requests == 1


def test_url_from_env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _zip_bytes({f"online+retail+ii/{WORKBOOK_NAME}": _workbook_bytes()})
    with _Server(archive) as server:
        monkeypatch.setenv("SHOPSEG_DATA_URL", server.url)
        assert locate_default_data(data_dir) == [data_dir / WORKBOOK_NAME]
        assert server.requests == 1


def test_download_off_does_not_download(data_dir: Path) -> None:
    with _Server(_zip_bytes({WORKBOOK_NAME: _workbook_bytes()})) as server:
        with pytest.raises(DataDownloadError, match="turned off"):
            locate_default_data(data_dir, url=server.url, download=False)
        assert server.requests == 0


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (os.urandom(4096), "not a valid zip archive"),
        (_zip_bytes({"readme.txt": b"hello"}), "holds no online_retail_II.xlsx"),
        (
            _zip_bytes({f"__MACOSX/._{WORKBOOK_NAME}": b"junk"}),
            "holds no online_retail_II.xlsx",
        ),
        (_zip_bytes({WORKBOOK_NAME: b"not a workbook"}), "cannot be read"),
        (
            _zip_bytes({WORKBOOK_NAME: _workbook_bytes(sheets=("Sheet1",))}),
            r"has the sheets \['Sheet1'\]",
        ),
        (
            _zip_bytes({WORKBOOK_NAME: _workbook_bytes(header=HEADER[:-1])}),
            "starts with the header",
        ),
    ],
    ids=["random-bytes", "no-workbook", "macos-junk", "bad-xlsx", "sheets", "header"],
)
def test_corrupt_archive_is_rejected(data_dir: Path, body: bytes, match: str) -> None:
    with (
        _Server(body) as server,
        pytest.raises(DataDownloadError, match=match) as info,
    ):
        locate_default_data(data_dir, url=server.url)
    assert "is not the UCI Online Retail II archive" in str(info.value)
    assert os.listdir(data_dir) == []


def test_http_error_is_reported(data_dir: Path) -> None:
    with (
        _Server(b"gone", status=404) as server,
        pytest.raises(DataDownloadError, match="HTTP 404"),
    ):
        locate_default_data(data_dir, url=server.url)
    assert os.listdir(data_dir) == []


def test_unreachable_url_explains_offline_use(data_dir: Path, dead_url: str) -> None:
    with pytest.raises(DataDownloadError) as info:
        locate_default_data(data_dir, url=dead_url)
    message = str(info.value)
    assert "\n" not in message
    assert f"could not be downloaded from {dead_url}" in message
    assert str(data_dir) in message
    for name in (*CSV_FILES, WORKBOOK_NAME, "SHOPSEG_DATA", "shopseg run FILE"):
        assert name in message
    assert os.listdir(data_dir) == []


def test_unwritable_data_dir_is_reported(tmp_path: Path, dead_url: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DataDownloadError, match="Cannot write the default data"):
        locate_default_data(blocker / "data", url=dead_url)
