"""Detect how a text export is written: compression, encoding and delimiter."""

import codecs
import gzip
import shutil

from ..exceptions import InputFileError

DELIMITERS = (",", ";", "\t", "|")

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


def is_gzip(path):
    """Return whether the file starts with the gzip magic number."""
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def open_binary(path):
    """Open a plain or gzip-compressed file for reading bytes."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def detect_encoding(path):
    """Return ``'utf-8-sig'``, ``'utf-8'`` or ``'cp1252'`` for a text file.

    The whole file is decoded as UTF-8; the first byte that is not valid UTF-8
    means the file is cp1252, the single-byte Windows encoding in which the
    widely circulated copy of the UCI data writes '£' as the byte 0xA3.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open_binary(path) as f:
        head = f.read(_CHUNK)
        encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
        chunk = head
        try:
            while chunk:
                decoder.decode(chunk)
                chunk = f.read(_CHUNK)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
        except (OSError, EOFError) as exc:
            raise InputFileError(
                f"{path}: cannot be read ({exc}); check that the file is complete "
                "(a gzip file cut short cannot be decompressed)"
            ) from None
    return encoding


def transcode_to_utf8(path, encoding, target):
    """Write a UTF-8 copy of a text file so that DuckDB can read it."""
    with open_binary(path) as src, open(target, "wb") as dst:
        reader = codecs.getreader(encoding)(src, errors="strict")
        writer = codecs.getwriter("utf-8")(dst)
        shutil.copyfileobj(reader, writer, _CHUNK)


def read_header_line(path, encoding):
    """Return the first line of a text file, decoded."""
    with open_binary(path) as f:
        raw = f.readline(_CHUNK)
    text = raw.decode(encoding, errors="replace")
    return text.lstrip("\ufeff").rstrip("\r\n")


def detect_delimiter(header_line, source):
    """Return the delimiter that splits the header line into the most fields.

    >>> detect_delimiter("InvoiceNo;StockCode;Quantity", "a.csv")
    ';'
    """
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    if counts[best] == 0:
        raise InputFileError(
            f"{source}: the first line {header_line[:80]!r} has no delimiter "
            f"({', '.join(repr(d) for d in DELIMITERS)}); the file must start with "
            "a header row naming the columns"
        )
    return best
