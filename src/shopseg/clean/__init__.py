"""Stage 2: clean the lines, accounting for every one in a ledger."""

from ._rules import BUCKETS, NON_MERCHANDISE_CODES, clean_lines

__all__ = ["BUCKETS", "NON_MERCHANDISE_CODES", "clean_lines"]
