"""API keys of the service: where they come from and how they are checked."""

import hmac
import os
import re
from pathlib import Path

from ..exceptions import InputFileError, ShopsegError

#: Environment variable holding comma-separated keys.
KEYS_ENV = "SHOPSEG_API_KEYS"

#: Header a client sends its key in (``Authorization: Bearer KEY`` works too).
KEY_HEADER = "X-API-Key"

#: Fewest characters of a key.
MIN_KEY_LENGTH = 16

_KEY = re.compile(r"[\x21-\x2b\x2d-\x7e]+")  # printable ASCII, no comma or space
_FIX = (
    "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
)


def load_api_keys(path=None, environ=None):
    """Return the API keys the service accepts, or None to accept any client.

    Parameters
    ----------
    path : str or Path, default=None
        A file with one key a line; blank lines and lines starting with
        ``#`` are skipped. Takes precedence over the environment.
    environ : mapping, default=None
        Where :data:`KEYS_ENV` (comma-separated keys) is looked up;
        ``os.environ`` when None.

    Returns
    -------
    tuple of str or None

    Raises
    ------
    ShopsegError
        When the file cannot be read, or the file or variable holds no key
        or a key that is too short or has spaces or non-ASCII characters.

    Examples
    --------
    >>> load_api_keys(environ={KEYS_ENV: "k1-0123456789abcdef,k2-0123456789abcdef"})
    ('k1-0123456789abcdef', 'k2-0123456789abcdef')
    >>> load_api_keys(environ={}) is None
    True
    """
    environ = os.environ if environ is None else environ
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputFileError(
                f"{path}: the API key file cannot be read ({exc}); give a "
                "UTF-8 text file with one key a line"
            ) from None
        keys = [
            line.strip() for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
        source = f"{path}"
    elif KEYS_ENV in environ:
        keys = [key.strip() for key in environ[KEYS_ENV].split(",") if key.strip()]
        source = f"${KEYS_ENV}"
    else:
        return None
    if not keys:
        raise ShopsegError(
            f"{source} holds no API key; add one, or remove it to serve "
            "without authentication"
        )
    for number, key in enumerate(keys, start=1):
        if len(key) < MIN_KEY_LENGTH or not _KEY.fullmatch(key):
            raise ShopsegError(
                f"{source}: key {number} should be at least {MIN_KEY_LENGTH} "
                "printable ASCII characters without spaces or commas; " + _FIX
            )
    return tuple(keys)


def presented_key(headers):
    """The key a request presents, from ``X-API-Key`` or a bearer token.

    Parameters
    ----------
    headers : list of (bytes, bytes)
        The ASGI request headers.
    """
    header = KEY_HEADER.lower().encode()
    for name, value in headers:
        if name == header:
            return value
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return token.strip()
    return None


def is_valid(presented, keys):
    """Whether ``presented`` is one of ``keys``, in time independent of which.

    >>> is_valid(b"k1-0123456789abcdef", ("k1-0123456789abcdef",))
    True
    >>> is_valid(None, ("k1-0123456789abcdef",))
    False
    """
    if presented is None:
        return False
    found = False
    for key in keys:
        found |= hmac.compare_digest(presented, key.encode())
    return found
