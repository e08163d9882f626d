"""The report stage: one self-contained HTML page that opens offline.

The report is built in two steps: :func:`gather_facts` reads the store into
plain data (one small function per section), then :func:`render_report`
draws the figures and fills the template shipped in the package.
:func:`write_report` does both.

>>> import duckdb
>>> from shopseg.report import gather_facts
>>> facts = gather_facts(duckdb.connect())
>>> facts["data"]["waterfall"]["note"]
'The clean stage has not run, so there is no ledger.'
"""

from ._facts import gather_facts, load_metrics
from ._render import render_report, write_report

__all__ = [
    "gather_facts",
    "load_metrics",
    "render_report",
    "write_report",
]
