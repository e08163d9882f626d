"""Detect how a text export is written: compression, encoding and delimiter.

Only the head of a file is looked at here. Whether the rest is valid UTF-8 is
left to DuckDB, which checks every value as it reads the file; when it finds
a byte sequence that is not UTF-8, the reader falls back to cp1252 (see
:func:`transcode_to_utf8`). That keeps the usual UTF-8 file to one pass.
"""

import codecs
import dataclasses
import gzip
import shutil
import zlib

from ..exceptions import InputFileError

DELIMITERS = (",", ";", "\t", "|")

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
#: Bytes read to detect the encoding and find the header line.
HEAD_BYTES = 1 << 16


@dataclasses.dataclass
class Head:
    """What the first bytes of a text export say about it."""

    compression: str  # "gzip" or "none"
    encoding: str  # "utf-8-sig", "utf-8" or "cp1252"
    header_line: str


def is_gzip(path):
    """Return whether the file starts with the gzip magic number."""
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def open_binary(path):
    """Open a plain or gzip-compressed file for reading bytes."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def _incomplete(path, exc):
    return InputFileError(
        f"{path}: cannot be read ({exc}); check that the file is complete (a "
        "gzip file cut short cannot be decompressed)"
    )


def read_head(path):
    """Return the :class:`Head` of a text export, from its first bytes only.

    The encoding is 'utf-8-sig' with a byte-order mark, 'cp1252' when the
    head is not valid UTF-8 (the widely circulated copy of the UCI data writes
    '£' as the cp1252 byte 0xA3), else 'utf-8' until DuckDB finds otherwise.
    """
    compression = "gzip" if is_gzip(path) else "none"
    try:
        with open_binary(path) as f:
            head = f.read(HEAD_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise _incomplete(path, exc) from None
    if b"\x00" in head:
        raise InputFileError(
            f"{path}: holds NUL bytes, so it is not a text export (CSV) but a "
            "binary file, or text in UTF-16; export the data as CSV in UTF-8"
        )
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    else:
        encoding = "utf-8" if _is_utf8_prefix(head) else "cp1252"
    first = head.split(b"\n", 1)[0]
    header_line = first.decode(encoding, errors="replace")
    return Head(compression, encoding, header_line.lstrip("\ufeff").rstrip("\r"))


def _is_utf8_prefix(data):
    """Whether ``data`` is valid UTF-8, allowing a character cut at the end."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def transcode_to_utf8(path, encoding, target):
    """Write a UTF-8 copy of a text file so that DuckDB can read it.

    Raises :class:`InputFileError` when the file is not text in ``encoding``.
    """
    try:
        with open_binary(path) as src, open(target, "wb") as dst:
            reader = codecs.getreader(encoding)(src, errors="strict")
            writer = codecs.getwriter("utf-8")(dst)
            shutil.copyfileobj(reader, writer, _CHUNK)
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{path}: byte 0x{exc.object[exc.start]:02X} is neither UTF-8 nor "
            f"{encoding} text, so this is not a text export (CSV); export the "
            "data again as CSV, in UTF-8"
        ) from None
    except (OSError, EOFError, zlib.error) as exc:
        raise _incomplete(path, exc) from None


def detect_delimiter(header_line, source):
    """Return the delimiter that splits the header line into the most fields.

    >>> detect_delimiter("InvoiceNo;StockCode;Quantity", "a.csv")
    ';'
    """
    if not header_line.strip():
        raise InputFileError(
            f"{source}: the first line is blank, so the file is empty or does "
            "not start with its header row; export the data again with a "
            "header row naming the columns on the first line"
        )
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    if counts[best] == 0:
        raise InputFileError(
            f"{source}: the first line {header_line[:80]!r} has no delimiter "
            f"({', '.join(repr(d) for d in DELIMITERS)}); the file must start with "
            "a header row naming the columns"
        )
    return best
