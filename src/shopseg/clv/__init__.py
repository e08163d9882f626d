"""Customer-lifetime-value models fitted by maximum likelihood.

:class:`BGNBD` forecasts how many purchases each customer will make,
:class:`GammaGamma` how much they spend per purchase, and
:func:`customer_lifetime_value` combines both into a discounted value.
Inputs are per-customer summaries checked by :func:`check_summary`.
"""

from shopseg.clv._bgnbd import BGNBD
from shopseg.clv._gamma_gamma import GammaGamma, customer_lifetime_value
from shopseg.clv._validation import TIME_UNITS, check_summary, days_per_unit

__all__ = [
    "BGNBD",
    "TIME_UNITS",
    "GammaGamma",
    "check_summary",
    "customer_lifetime_value",
    "days_per_unit",
]
