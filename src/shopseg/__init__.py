"""shopseg: clean shop transaction exports, segment customers, forecast spend.

The pipeline, one subpackage a stage::

    read -> clean -> store -> products -> features -> segments
         -> predict (first purchase) / clv (lifetime value) -> report -> service
"""

from ._version import __version__
from .clean import clean_lines
from .pipeline import Options, run
from .read import locate_default_data, read_files

__all__ = [
    "Options",
    "__version__",
    "clean_lines",
    "locate_default_data",
    "read_files",
    "run",
]
