"""Synthetic transaction data with known parameters, in the Online Retail schema.

:func:`make_transactions` returns a frame of lines for small sizes,
:func:`write_transactions` writes any number of lines to Parquet or CSV in
chunks; :func:`make_customers` returns the latent draws behind the same
lines and :func:`make_catalogue` the products they name.
"""

from ._generate import (
    BGNBD_PARAMS,
    BLOCK_CUSTOMERS,
    COLUMNS,
    GAMMA_GAMMA_PARAMS,
    NOISE_RATES,
    make_catalogue,
    make_customers,
    make_transactions,
    write_transactions,
)

__all__ = [
    "BGNBD_PARAMS",
    "BLOCK_CUSTOMERS",
    "COLUMNS",
    "GAMMA_GAMMA_PARAMS",
    "NOISE_RATES",
    "make_catalogue",
    "make_customers",
    "make_transactions",
    "write_transactions",
]
