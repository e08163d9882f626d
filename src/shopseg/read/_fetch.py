"""Find the default UCI Online Retail data on disk, downloading it when missing.

``shopseg run`` without input files works on two years of the UCI Online
Retail data (2009-12-01 to 2011-12-09).  :func:`locate_default_data` looks
for the data in a data directory and, when they are not there, downloads the
official Online Retail II archive from the UCI Machine Learning Repository,
checks it and unpacks the workbook next to where it looked.

The module never prints: a caller that wants a progress bar passes a
``progress`` callable.
"""

from __future__ import annotations

import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import platformdirs
import python_calamine

from shopseg.exceptions import DataDownloadError

__all__ = [
    "CSV_FILES",
    "DEFAULT_URL",
    "ENV_DATA_DIR",
    "ENV_DATA_URL",
    "WORKBOOK_NAME",
    "locate_default_data",
]

DEFAULT_URL = "https://archive.ics.uci.edu/static/public/502/online+retail+ii.zip"
"""Where the UCI repository serves the Online Retail II archive."""

ENV_DATA_DIR = "SHOPSEG_DATA"
"""Environment variable naming the folder that holds the default data."""

ENV_DATA_URL = "SHOPSEG_DATA_URL"
"""Environment variable overriding :data:`DEFAULT_URL`."""

CSV_FILES = ("online_retail_ii_year_2009_2010.csv.gz", "online_retail.csv.gz")
"""The two CSV files that together cover 2009-12-01 to 2011-12-09."""

WORKBOOK_NAME = "online_retail_II.xlsx"
"""The Online Retail II workbook, inside the archive and in the data dir."""

SHEETS = ("Year 2009-2010", "Year 2010-2011")
"""The sheets the workbook must hold."""

HEADER = (
    "Invoice",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price",
    "Customer ID",
    "Country",
)
"""The header row of each sheet."""

TIMEOUT = 30.0
"""Seconds to wait for the server to connect or to send more bytes."""

_CHUNK = 1 << 20

Progress = Callable[[int, int | None], None]
"""Type of the download progress callback."""


def locate_default_data(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    url: str | None = DEFAULT_URL,
    download: bool = True,
    progress: Progress | None = None,
) -> list[Path]:
    """Return the files of the default data set, downloading them if needed.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Folder to look in and to download into.  Defaults to the environment
        variable ``SHOPSEG_DATA`` and, when that is unset or empty, to the
        per-user cache folder ``platformdirs.user_cache_dir("shopseg")``.
    url : str, optional
        Where to download the Online Retail II zip archive from.  When left
        at :data:`DEFAULT_URL` (or None), the environment variable
        ``SHOPSEG_DATA_URL`` overrides it if set.
    download : bool, default True
        Whether to download the data when the folder does not hold them.
    progress : callable, optional
        Called as ``progress(bytes_done, bytes_total)`` while downloading;
        ``bytes_total`` is None when the server does not send the size.

    Returns
    -------
    list of pathlib.Path
        Either the two CSV files (``online_retail_ii_year_2009_2010.csv.gz``
        first, then ``online_retail.csv.gz``) or the single workbook
        ``online_retail_II.xlsx``.

    Raises
    ------
    DataDownloadError
        If the data are not on disk and cannot be downloaded, or the
        downloaded file is not the Online Retail II archive.  No partial file
        is left behind.
    """
    folder = _resolve_data_dir(data_dir)
    found = _find_local(folder)
    if found:
        return found
    if not download:
        raise DataDownloadError(
            f"The default data set is not in {folder} and downloading is "
            f"turned off. {_offline_hint(folder)}"
        )
    return [_download_workbook(_resolve_url(url), folder, progress)]


def _resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """Return the data folder: the argument, else ``SHOPSEG_DATA``, else cache.

    Parameters
    ----------
    data_dir : str or os.PathLike or None
        The folder the caller asked for, if any.

    Returns
    -------
    pathlib.Path
        The folder, with ``~`` expanded; it need not exist.
    """
    if data_dir is None:
        data_dir = os.environ.get(ENV_DATA_DIR) or platformdirs.user_cache_dir(
            "shopseg"
        )
    return Path(data_dir).expanduser()


def _resolve_url(url: str | None) -> str:
    """Return the download URL: the argument, else ``SHOPSEG_DATA_URL``.

    Parameters
    ----------
    url : str or None
        The URL the caller passed; :data:`DEFAULT_URL` and None both mean
        "not given".

    Returns
    -------
    str
        The URL to download from.
    """
    if url is None or url == DEFAULT_URL:
        return os.environ.get(ENV_DATA_URL) or DEFAULT_URL
    return url


def _find_local(folder: Path) -> list[Path]:
    """Return the data files already in `folder`, or an empty list.

    Parameters
    ----------
    folder : pathlib.Path
        The data folder.

    Returns
    -------
    list of pathlib.Path
        The two CSV files if both exist, else the workbook if it exists,
        else nothing.
    """
    csvs = [folder / name for name in CSV_FILES]
    if all(path.is_file() for path in csvs):
        return csvs
    workbook = folder / WORKBOOK_NAME
    return [workbook] if workbook.is_file() else []


def _offline_hint(folder: Path) -> str:
    """Return the sentence telling the user how to run without a download.

    Parameters
    ----------
    folder : pathlib.Path
        The data folder that was searched.

    Returns
    -------
    str
        The hint, ready to end an error message.
    """
    return (
        f"To run offline, put either {CSV_FILES[1]} and {CSV_FILES[0]}, or "
        f"{WORKBOOK_NAME}, into {folder} (or set {ENV_DATA_DIR} to a folder "
        "holding them), or pass files to `shopseg run FILE ...`."
    )


def _download_workbook(url: str, folder: Path, progress: Progress | None) -> Path:
    """Download the archive, check it and unpack the workbook into `folder`.

    Parameters
    ----------
    url : str
        Where to download the zip archive from.
    folder : pathlib.Path
        The data folder; created if missing.
    progress : callable or None
        Download progress callback, see :func:`locate_default_data`.

    Returns
    -------
    pathlib.Path
        The path of the unpacked workbook.

    Raises
    ------
    DataDownloadError
        If the download or the check fails.
    """
    target = folder / WORKBOOK_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _temp_file(folder, ".zip.part") as archive:
            _download(url, archive, folder, progress)
            with _temp_file(folder, ".xlsx.part") as workbook:
                _extract_workbook(archive, workbook, url, folder)
                _check_workbook(workbook, url, folder)
                os.replace(workbook, target)
    except OSError as exc:  # the folder is not writable, the disk is full...
        raise DataDownloadError(
            f"Cannot write the default data set into {folder} ({exc}). "
            f"{_offline_hint(folder)}"
        ) from exc
    return target


@contextmanager
def _temp_file(folder: Path, suffix: str) -> Iterator[Path]:
    """Yield a fresh temporary file in `folder`, removed on leaving if present.

    Parameters
    ----------
    folder : pathlib.Path
        Where to create the file, so that :func:`os.replace` stays atomic.
    suffix : str
        End of the file name.

    Yields
    ------
    pathlib.Path
        The path of the (empty) temporary file.
    """
    fd, name = tempfile.mkstemp(prefix=".shopseg-", suffix=suffix, dir=folder)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _download(url: str, dest: Path, folder: Path, progress: Progress | None) -> None:
    """Download `url` into `dest` with one request.

    Parameters
    ----------
    url : str
        What to download.
    dest : pathlib.Path
        File to write to; overwritten.
    folder : pathlib.Path
        The data folder, named in error messages.
    progress : callable or None
        Called with ``(bytes_done, bytes_total_or_None)`` after each chunk.

    Raises
    ------
    DataDownloadError
        If the server cannot be reached, answers with an error, stops early
        or times out.
    """
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            total = _content_length(response)
            done = _copy(response, dest, total, progress)
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} {exc.reason}"
        raise _unreachable(url, reason, folder) from exc
    except urllib.error.URLError as exc:
        raise _unreachable(url, str(exc.reason), folder) from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # OSError covers timeouts and resets, ValueError a malformed URL.
        reason = str(exc) or type(exc).__name__
        raise _unreachable(url, reason, folder) from exc
    if total is not None and done != total:
        reason = f"the transfer stopped after {done} of {total} bytes"
        raise _unreachable(url, reason, folder)


def _content_length(response: http.client.HTTPResponse) -> int | None:
    """Return the size the server announced, or None.

    Parameters
    ----------
    response : http.client.HTTPResponse
        The open response.

    Returns
    -------
    int or None
        The ``Content-Length`` header as a number, if valid.
    """
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _copy(
    response: http.client.HTTPResponse,
    dest: Path,
    total: int | None,
    progress: Progress | None,
) -> int:
    """Copy the body of `response` into `dest`, reporting progress.

    Parameters
    ----------
    response : http.client.HTTPResponse
        The open response.
    dest : pathlib.Path
        File to write to.
    total : int or None
        Announced size, passed on to `progress`.
    progress : callable or None
        Progress callback.

    Returns
    -------
    int
        Number of bytes written.
    """
    done = 0
    if progress is not None:
        progress(done, total)
    with open(dest, "wb") as out:
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return done


def _unreachable(url: str, reason: str, folder: Path) -> DataDownloadError:
    """Return the error for a download that did not complete.

    Parameters
    ----------
    url : str
        The URL tried.
    reason : str
        Why it failed.
    folder : pathlib.Path
        The data folder.

    Returns
    -------
    DataDownloadError
        One paragraph saying what failed and how to run offline.
    """
    return DataDownloadError(
        f"The default data set (UCI Online Retail II) could not be downloaded "
        f"from {url} ({reason}). {_offline_hint(folder)}"
    )


def _not_the_archive(url: str, what: str, folder: Path) -> DataDownloadError:
    """Return the error for a download that is not the expected archive.

    Parameters
    ----------
    url : str
        The URL downloaded.
    what : str
        What is wrong with the file.
    folder : pathlib.Path
        The data folder.

    Returns
    -------
    DataDownloadError
        One paragraph saying what is wrong and how to run offline.
    """
    return DataDownloadError(
        f"The file downloaded from {url} is not the UCI Online Retail II "
        f"archive: {what}; it was deleted. {_offline_hint(folder)}"
    )


def _extract_workbook(archive: Path, dest: Path, url: str, folder: Path) -> None:
    """Copy the workbook member of the zip `archive` into `dest`.

    Parameters
    ----------
    archive : pathlib.Path
        The downloaded zip file.
    dest : pathlib.Path
        File to write the workbook to.
    url, folder
        Named in error messages.

    Raises
    ------
    DataDownloadError
        If `archive` is not a valid zip or holds no ``online_retail_II.xlsx``.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            member = _workbook_member(zf)
            if member is None:
                what = f"the zip archive holds no {WORKBOOK_NAME}"
                raise _not_the_archive(url, what, folder)
            with zf.open(member) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        what = f"it is not a valid zip archive ({exc})"
        raise _not_the_archive(url, what, folder) from exc


def _workbook_member(zf: zipfile.ZipFile) -> zipfile.ZipInfo | None:
    """Return the archive member that is the Online Retail II workbook.

    Parameters
    ----------
    zf : zipfile.ZipFile
        The open archive.

    Returns
    -------
    zipfile.ZipInfo or None
        The first regular member named ``online_retail_II.xlsx`` (in any
        folder except macOS metadata), or None.
    """
    for info in zf.infolist():
        parts = PurePosixPath(info.filename).parts
        if (
            not info.is_dir()
            and parts
            and parts[-1] == WORKBOOK_NAME
            and "__MACOSX" not in parts
        ):
            return info
    return None


def _check_workbook(path: Path, url: str, folder: Path) -> None:
    """Check that `path` is the Online Retail II workbook.

    Parameters
    ----------
    path : pathlib.Path
        The extracted workbook.
    url, folder
        Named in error messages.

    Raises
    ------
    DataDownloadError
        If the workbook cannot be opened or lacks a sheet or the header row.
    """
    try:
        with python_calamine.CalamineWorkbook.from_path(str(path)) as book:
            missing = [name for name in SHEETS if name not in book.sheet_names]
            if missing:
                what = (
                    f"{WORKBOOK_NAME} has the sheets {book.sheet_names}, "
                    f"not {list(SHEETS)}"
                )
                raise _not_the_archive(url, what, folder)
            for name in SHEETS:
                header = _header(book.get_sheet_by_name(name))
                if header != list(HEADER):
                    what = (
                        f"sheet {name!r} of {WORKBOOK_NAME} starts with the "
                        f"header {header}, not {list(HEADER)}"
                    )
                    raise _not_the_archive(url, what, folder)
    except (python_calamine.CalamineError, OSError, ValueError) as exc:
        what = f"{WORKBOOK_NAME} cannot be read as a workbook ({exc})"
        raise _not_the_archive(url, what, folder) from exc


def _header(sheet: python_calamine.CalamineSheet) -> list[str]:
    """Return the first row of `sheet` as stripped text, without empty tail cells.

    Parameters
    ----------
    sheet : python_calamine.CalamineSheet
        A worksheet.

    Returns
    -------
    list of str
        The header cells; empty if the sheet is empty.
    """
    row = next(iter(sheet.iter_rows()), [])
    cells = [str(cell).strip() for cell in row]
    while cells and not cells[-1]:
        cells.pop()
    return cells
