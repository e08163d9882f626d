"""Where the benchmarks find the shared data, as the tests do.

``$SHOPSEG_SHARED_DATA``, else ``shared/data`` beside the repository, else
``$SHOPSEG_DATA`` (which ``shopseg run`` reads and CI points at the same
folder).
"""

import os
from pathlib import Path


def shared_data_dir():
    """Return the folder of the shared Online Retail exports."""
    if os.environ.get("SHOPSEG_SHARED_DATA"):
        return Path(os.environ["SHOPSEG_SHARED_DATA"])
    beside = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not beside.is_dir() and os.environ.get("SHOPSEG_DATA"):
        return Path(os.environ["SHOPSEG_DATA"])
    return beside
