"""Stage 5: customer features and the BG/NBD summary, computed in DuckDB."""

from ._customers import SHARES, SKEWED, customer_features, share_column
from ._exact import exact_sum
from ._summary import TIME_UNITS, days_per_unit, observation_end_of, summary_data

__all__ = [
    "SHARES",
    "SKEWED",
    "TIME_UNITS",
    "customer_features",
    "days_per_unit",
    "exact_sum",
    "observation_end_of",
    "share_column",
    "summary_data",
]
