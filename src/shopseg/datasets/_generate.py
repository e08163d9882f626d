"""Synthetic transaction lines in the UCI Online Retail schema, with known truth.

Customers arrive over the observation window, more of them before Christmas.
From their first purchase on, each buys and drops out as the BG/NBD model
says (Fader, Hardie and Lee 2005): purchases follow a Poisson process of rate
lambda ~ Gamma(r, alpha) per day, and after each repeat purchase the customer
drops out for good with probability p ~ Beta(a, b). Each purchase is worth
z ~ Gamma(p, nu), with nu ~ Gamma(q, gamma) per customer (the Gamma-Gamma
model of Fader, Hardie and Lee 2005, "The Gamma-Gamma model of monetary
value"). A purchase becomes one invoice of catalogue products whose
quantity x price adds up to about z.

Around the customers' purchases come the lines a real export holds (rates in
:data:`NOISE_RATES`, measured on the UCI Online Retail file): orders without a
customer, exact duplicate lines, cancellations ('C' invoices) of earlier
purchase lines, postage, fees and other non-merchandise lines, lines at price
zero, stock write-offs and, rarely, accounting entries ('A' invoices).

Times are continuous in the model and booked to the minute; the shop books
no invoice on a Saturday (none is in the real file), so Saturday purchases
go on Sunday. A summary that counts purchase days, as BG/NBD summaries do,
therefore sees two purchases on one day as one: about 2.6% of purchases with
the default parameters, which biases a fitted alpha up by about 10%.
:func:`make_customers` gives the purchases as the model made them.

Randomness comes in blocks of :data:`BLOCK_CUSTOMERS` customers, each with its
own stream spawned from one :class:`numpy.random.SeedSequence`. A block's lines
depend only on the seed and the block, so files written in chunks of any size
hold the same lines as one frame made at once.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..exceptions import ShopsegError

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

#: Columns of the UCI Online Retail export, in its order.
COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)

#: BG/NBD parameters used by default; ``alpha`` is in days (lambda per day).
BGNBD_PARAMS: Mapping[str, float] = MappingProxyType(
    {"r": 0.8, "alpha": 30.0, "a": 0.6, "b": 3.5}
)

#: Gamma-Gamma parameters used by default: mean spend p * gamma / (q - 1) = 396.
GAMMA_GAMMA_PARAMS: Mapping[str, float] = MappingProxyType(
    {"p": 2.2, "q": 3.5, "gamma": 450.0}
)

#: Share of all lines that each kind of noise makes up by default, as measured
#: by the ledger of ``shopseg run`` on the UCI Online Retail file (541,909
#: lines). The purchase lines of customers make up the rest.
NOISE_RATES: Mapping[str, float] = MappingProxyType(
    {
        "no_customer": 0.243,  # orders placed without a customer number
        "duplicate": 0.0097,  # exact copies of a line
        "cancellation": 0.0138,  # cancelled lines of a customer's purchase
        "cancellation_unmatched": 0.0019,  # returns of pre-window purchases
        "non_merchandise": 0.0054,  # postage, fees, discounts, manual lines
        "zero_price": 0.0021,  # lines at price 0
        "write_off": 0.0025,  # negative quantity, price 0, no customer
        "accounting_entry": 6e-06,  # 'A' invoices (adjust bad debt)
    }
)

#: Customers per random stream; chunks are rounded up to whole blocks.
BLOCK_CUSTOMERS = 1000

_FIRST_INVOICE = 536365
_FIRST_CUSTOMER_ID = 12346
_LINE_VALUE = 19.0  # pounds per line: 21 lines per order, as in the real file
_AFFINITY = 0.4  # share of lines from the customer's favourite category
_CANCEL_EXTRA_LINES = 0.08  # chance each other line of a cancelled order goes too
_CANCEL_WHOLE_LINE = 0.3  # chance a cancelled line is cancelled in full
_CANCEL_DELAY_DAYS = 7.0  # mean time from purchase to cancellation
_HOLIDAY_DAY = 320  # day of the year of the peak in new customers (16 November)
_HOLIDAY_WIDTH = 25.0  # its standard deviation in days

# (country, customers in the real file): customers and guests come from these.
_COUNTRIES = (
    ("United Kingdom", 3950), ("Germany", 95), ("France", 87), ("Spain", 31),
    ("Belgium", 25), ("Switzerland", 21), ("Portugal", 19), ("Italy", 15),
    ("Finland", 12), ("Austria", 11), ("Norway", 10), ("Netherlands", 9),
    ("Australia", 9), ("Channel Islands", 9), ("Denmark", 9), ("Cyprus", 8),
    ("Sweden", 8), ("Japan", 8), ("Poland", 6), ("Unspecified", 4),
    ("Israel", 4), ("USA", 4), ("Canada", 4), ("Greece", 4), ("EIRE", 3),
    ("Bahrain", 2), ("Malta", 2), ("United Arab Emirates", 2),
    ("Singapore", 1), ("Iceland", 1), ("European Community", 1), ("RSA", 1),
    ("Lebanon", 1), ("Lithuania", 1), ("Brazil", 1), ("Czech Republic", 1),
    ("Saudi Arabia", 1),
)

# Lines of the real file by hour of the day, 6:00 to 20:00.
_HOURS = np.arange(6, 21)
_HOUR_LINES = np.array(
    [41, 383, 8909, 34332, 49037, 57674, 78709, 72259, 67471, 77519, 54516,
     28509, 7974, 3705, 871],
    dtype=float,
)

# Pack sizes quantities are rounded to (the real file's common quantities).
_PACKS = np.array(
    [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 25, 30, 36, 48, 50, 60, 72, 96,
     100, 120, 144, 200, 240, 288, 400, 480, 576, 720, 960],
    dtype=float,
)

# (category, median price, share of products, what the products are).
_CATEGORIES = (
    ("bags and storage", 1.65, 0.10, (
        "LUNCH BAG", "JUMBO BAG", "SHOPPER BAG", "STORAGE TIN", "CHARLOTTE BAG",
        "WASHBAG", "STORAGE BOX", "WICKER BASKET", "TOTE BAG", "PICNIC BASKET",
    )),
    ("kitchen and baking", 2.10, 0.14, (
        "CAKE CASES", "CAKE STAND", "TEACUP AND SAUCER", "MUG", "BAKING SET",
        "APRON", "TEA TOWEL", "JAM JAR", "CHOPPING BOARD", "CEREAL BOWL",
        "DINNER PLATE", "RECIPE BOX", "LUNCH BOX", "MILK JUG", "EGG CUP",
    )),
    ("candles and lights", 2.55, 0.10, (
        "T-LIGHT HOLDER", "SCENTED CANDLE", "LANTERN", "LIGHT CHAIN",
        "NIGHT LIGHT", "TEALIGHTS", "CANDLE POT", "CANDLESTICK", "LAMP",
        "STRING LIGHTS",
    )),
    ("christmas", 1.25, 0.10, (
        "CHRISTMAS BAUBLE", "ADVENT CALENDAR", "CHRISTMAS STOCKING",
        "CHRISTMAS TREE DECORATION", "CHRISTMAS WREATH", "SANTA FIGURE",
        "REINDEER ORNAMENT", "CHRISTMAS CRACKERS", "SNOWFLAKE DECORATION",
        "NATIVITY SET",
    )),
    ("stationery and cards", 0.85, 0.12, (
        "GREETING CARD", "WRAPPING PAPER", "NOTEBOOK", "PENCILS",
        "STICKER SHEET", "GIFT TAGS", "ENVELOPES", "PARTY INVITES",
        "PHOTO ALBUM", "ERASER", "MEMO BOARD", "NAPKINS",
    )),
    ("toys and party", 1.65, 0.11, (
        "PARTY BUNTING", "PAPER CHAIN KIT", "JIGSAW PUZZLE", "SKIPPING ROPE",
        "DOMINOES", "PLAYING CARDS", "SPINNING TOP", "RAG DOLL", "TOY CAR",
        "PARTY BAG", "BALLOONS", "PAINT SET",
    )),
    ("home decor", 3.75, 0.13, (
        "HANGING HEART", "WALL SIGN", "DOORMAT", "PHOTO FRAME", "WALL CLOCK",
        "MIRROR", "CUSHION COVER", "DOORSTOP", "COAT HANGER", "METAL SIGN",
        "KEY HOOK", "VASE",
    )),
    ("garden", 3.25, 0.07, (
        "PLANT POT", "BIRD HOUSE", "WATERING CAN", "GARDEN MARKER",
        "BIRD FEEDER", "PLANTER", "GARDEN KNEELER", "WIND CHIME",
    )),
    ("jewellery and accessories", 1.25, 0.08, (
        "NECKLACE", "BRACELET", "EARRINGS", "HAIR CLIP", "HAND WARMER",
        "PURSE", "UMBRELLA", "RING", "HAIR BAND", "BROOCH",
    )),
    ("furniture", 12.75, 0.05, (
        "CABINET", "SIDEBOARD", "SHELF", "TROLLEY", "CHAIR", "SIDE TABLE",
        "DRAWER UNIT", "BENCH",
    )),
)
_STYLES = (
    "RED RETROSPOT", "PINK POLKADOT", "BLUE POLKADOT", "VINTAGE PAISLEY",
    "REGENCY", "WHITE", "IVORY", "HEART", "SKULL", "JAM MAKING", "DOLLY GIRL",
    "SPACEBOY", "WOODLAND", "VINTAGE DOILY", "ROSE", "STRAWBERRY",
    "ENGLISH ROSE", "FRENCH", "PANTRY", "RETRO", "BIRDS", "BLACK", "GREEN",
    "SILVER", "ZINC", "GLASS", "ENAMEL", "WOODEN", "FELT", "CERAMIC",
)
_SIZES = ("", "SMALL ", "LARGE ", "JUMBO ", "MINI ", "SET OF 3 ", "SET OF 6 ",
          "PACK OF 12 ")

# (code, description, weight, median price, placement). Weights are the
# lines of each code in the real file. Placement: "order" adds the line to a
# customer's order, "guest" to an order without customer, "credit" makes it a
# credit note of its own ('C' invoice, quantity -1).
_NON_MERCHANDISE = (
    ("POST", "POSTAGE", 1256, 18.0, "order"),
    ("DOT", "DOTCOM POSTAGE", 710, 120.0, "guest"),
    ("M", "Manual", 571, 2.5, "order"),
    ("C2", "CARRIAGE", 144, 50.0, "order"),
    ("D", "Discount", 77, 15.0, "credit"),
    ("S", "SAMPLES", 63, 30.0, "credit"),
    ("BANK CHARGES", "Bank Charges", 37, 15.0, "credit"),
    ("AMAZONFEE", "AMAZON FEE", 34, 300.0, "credit"),
    ("CRUK", "CRUK Commission", 16, 20.0, "credit"),
    ("gift_0001_10", "Dotcomgiftshop Gift Voucher £10.00", 9, 8.33, "guest"),
    ("gift_0001_20", "Dotcomgiftshop Gift Voucher £20.00", 10, 16.67, "guest"),
    ("gift_0001_30", "Dotcomgiftshop Gift Voucher £30.00", 8, 25.0, "guest"),
)
_BAD_DEBT = ("B", "Adjust bad debt")
# What the warehouse wrote on zero-price lines and write-offs.
_NOTES = ("damaged", "check", "?", "wet damaged", "found", "thrown away",
          "missing", "sold as set on dotcom", "adjustment")


# --------------------------------------------------------------- parameters


def _merged(name, given, defaults):
    """Return `defaults` updated with `given`, refusing unknown or bad keys."""
    values = dict(defaults)
    for key, value in dict(given or {}).items():
        if key not in defaults:
            raise ShopsegError(
                f"{name} has no key {key!r}; the keys are "
                f"{', '.join(map(repr, defaults))}"
            )
        values[key] = float(value)
    return values


def _check_params(bgnbd_params, gamma_gamma_params, noise_rates, holiday_peak):
    """Validate the generator's parameters in one place; return them merged."""
    bgnbd = _merged("bgnbd_params", bgnbd_params, BGNBD_PARAMS)
    gamma_gamma = _merged("gamma_gamma_params", gamma_gamma_params,
                          GAMMA_GAMMA_PARAMS)
    noise = _merged("noise_rates", noise_rates, NOISE_RATES)
    for name, params in (("bgnbd_params", bgnbd),
                         ("gamma_gamma_params", gamma_gamma)):
        for key, value in params.items():
            if not (math.isfinite(value) and value > 0):
                raise ShopsegError(
                    f"{name}[{key!r}]={value!r} must be a finite number > 0"
                )
    for key, value in noise.items():
        if not (math.isfinite(value) and 0 <= value < 1):
            raise ShopsegError(
                f"noise_rates[{key!r}]={value!r} must be a share in [0, 1)"
            )
    total = sum(noise.values())
    if total > 0.9:
        raise ShopsegError(
            f"noise_rates add up to {total:.3g}, leaving almost no purchase "
            "lines of customers; keep their sum <= 0.9"
        )
    holiday_peak = float(holiday_peak)
    if not (math.isfinite(holiday_peak) and holiday_peak >= 0):
        raise ShopsegError(
            f"holiday_peak={holiday_peak!r} must be a finite number >= 0 "
            "(0 for no peak)"
        )
    return bgnbd, gamma_gamma, noise, holiday_peak


def _check_count(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ShopsegError(f"{name} must be an integer, not {value!r}")
    if value < minimum:
        raise ShopsegError(f"{name}={value} should be >= {minimum}")
    return int(value)


def _root_seed(random_state):
    if random_state is None:
        return np.random.SeedSequence()
    if isinstance(random_state, bool) or not isinstance(
        random_state, (int, np.integer)
    ) or random_state < 0:
        raise ShopsegError(
            f"random_state must be a non-negative integer or None, not "
            f"{random_state!r}"
        )
    return np.random.SeedSequence(int(random_state))


# ------------------------------------------------------------------ catalogue


def make_catalogue(n_products=4000, random_state=0):
    """Make a product catalogue: stock codes, descriptions, prices, categories.

    Descriptions combine a size, a style and a kind of product ("SMALL RED
    RETROSPOT LUNCH BAG"); the kind decides the category. Prices are
    log-normal around a median per category. Popularity falls off like
    1 / (rank + 40), so a few products make many lines, as in the real file.

    Parameters
    ----------
    n_products : int, default=4000
        Number of products (the real file has 4,070 stock codes).
    random_state : int or None, default=0
        Seed; :func:`make_transactions` with the same seed uses this catalogue.

    Returns
    -------
    pandas.DataFrame
        ``stock_code``, ``description``, ``unit_price``, ``category`` and
        ``popularity`` (the share of product lines, adding up to 1), sorted
        by category.

    Examples
    --------
    >>> catalogue = make_catalogue(200, random_state=0)
    >>> list(catalogue.columns)
    ['stock_code', 'description', 'unit_price', 'category', 'popularity']
    >>> bool(catalogue.stock_code.is_unique)
    True
    >>> round(float(catalogue.popularity.sum()), 6)
    1.0
    """
    n_products = _check_count("n_products", n_products, minimum=len(_CATEGORIES))
    seed = _root_seed(random_state).spawn(2)[0]
    return _catalogue(n_products, np.random.default_rng(seed))


def _catalogue(n_products, rng):
    shares = np.array([c[2] for c in _CATEGORIES])
    counts = np.maximum(1, np.floor(shares / shares.sum() * n_products)).astype(int)
    counts[np.argmax(counts)] += n_products - counts.sum()

    frames = []
    for (name, median, _, kinds), count in zip(_CATEGORIES, counts, strict=True):
        combos = len(_SIZES) * len(_STYLES) * len(kinds)
        pick = rng.choice(combos, size=count, replace=count > combos)
        size, rest = np.divmod(pick, len(_STYLES) * len(kinds))
        style, kind = np.divmod(rest, len(kinds))
        text = [
            f"{_SIZES[s]}{_STYLES[t]} {kinds[k]}"
            for s, t, k in zip(size, style, kind, strict=True)
        ]
        # A few descriptions in the real file carry a comma or a trailing
        # space; they exercise a reader's quoting and trimming.
        quirk = rng.random(count)
        text = [
            f"{kinds[k]}, {_STYLES[t]}" if u < 0.02 else d + " " if u < 0.05 else d
            for d, k, t, u in zip(text, kind, style, quirk, strict=True)
        ]
        price = median * rng.lognormal(0.0, 0.55, count)
        price = np.where(price < 1, np.round(price, 2), np.round(price * 20) / 20)
        frames.append(pd.DataFrame({
            "description": text,
            "unit_price": np.maximum(price, 0.04),
            "category": name,
        }))
    catalogue = pd.concat(frames, ignore_index=True)

    base = rng.choice(np.arange(10002, 90000), size=n_products, replace=False)
    suffix = np.where(rng.random(n_products) < 0.15,
                      rng.choice(list("ABCDEF"), n_products), "")
    codes = [f"{b}{s}" for b, s in zip(base, suffix, strict=True)]
    weight = 1.0 / (rng.permutation(n_products) + 40.0)
    catalogue.insert(0, "stock_code", codes)
    catalogue["popularity"] = weight / weight.sum()
    return catalogue


@dataclasses.dataclass
class _Items:
    """Everything a line can name: catalogue products, then special items."""

    codes: pa.Array
    descriptions: pa.Array
    price: np.ndarray  # catalogue prices
    popularity_cdf: np.ndarray  # over all products
    category_cdf: np.ndarray  # category number + cumulative share within it
    n_categories: int
    n_products: int
    special: dict  # code -> item number of the special items
    notes: np.ndarray  # description numbers of the warehouse notes


def _items(catalogue):
    n = len(catalogue)
    codes = list(catalogue.stock_code)
    descriptions = list(catalogue.description)
    special = {}
    for code, text, *_ in _NON_MERCHANDISE + (_BAD_DEBT,):
        special[code] = len(codes)
        codes.append(code)
        descriptions.append(text)
    notes = np.arange(len(descriptions), len(descriptions) + len(_NOTES))
    descriptions.extend(_NOTES)

    category = pd.factorize(catalogue.category)[0]
    popularity = catalogue.popularity.to_numpy()
    cdf = np.cumsum(popularity) / popularity.sum()
    cdf[-1] = 1.0
    within = np.zeros(n)
    for c in range(category.max() + 1):
        member = category == c
        share = np.cumsum(popularity[member])
        within[member] = share / share[-1]
        within[np.flatnonzero(member)[-1]] = 1.0
    return _Items(
        codes=pa.array(codes, pa.string()),
        descriptions=pa.array(descriptions, pa.string()),
        price=catalogue.unit_price.to_numpy(dtype=float),
        popularity_cdf=cdf,
        category_cdf=category + within,
        n_categories=int(category.max()) + 1,
        n_products=n,
        special=special,
        notes=notes,
    )


# --------------------------------------------------------------------- time


@dataclasses.dataclass
class _Window:
    """The observation window: days, arrival intensity, calendar strings."""

    start: pd.Timestamp
    days: int
    arrival_cdf: np.ndarray
    open_day: np.ndarray  # day -> the day the shop books it (no Saturdays)
    day_text: pa.Array  # "M/D/YYYY " per day
    clock_text: pa.Array  # "H:MM" per minute of the day

    def sample_times(self, rng, n):
        """Continuous times in days since the start, from the arrival density."""
        day = np.searchsorted(self.arrival_cdf, rng.random(n), side="right")
        return day + rng.random(n)

    def book(self, t):
        """Day numbers of continuous times, Saturdays moved to an open day."""
        day = np.minimum(np.floor(t).astype(np.int64), self.days - 1)
        return self.open_day[day]


def _day(name, value):
    try:
        return pd.Timestamp(value).normalize()
    except (TypeError, ValueError):
        raise ShopsegError(
            f"{name}={value!r} is not a date; write it as YYYY-MM-DD"
        ) from None


def _window(start, end, holiday_peak):
    start, end = _day("start", start), _day("end", end)
    if end < start:
        raise ShopsegError(
            f"end={end:%Y-%m-%d} is before start={start:%Y-%m-%d}; the window "
            "needs end >= start"
        )
    dates = pd.date_range(start, end, freq="D")
    days = len(dates)

    # New customers and guest orders peak before Christmas.
    distance = np.abs(dates.day_of_year.to_numpy() - _HOLIDAY_DAY)
    distance = np.minimum(distance, 365 - distance)
    density = 1.0 + holiday_peak * np.exp(-0.5 * (distance / _HOLIDAY_WIDTH) ** 2)
    cdf = np.cumsum(density) / density.sum()
    cdf[-1] = 1.0

    # The real file has no Saturday: the shop books them on Sunday (on
    # Friday when the window ends on a Saturday).
    open_day = np.arange(days)
    saturday = np.flatnonzero(dates.day_of_week.to_numpy() == 5)
    open_day[saturday] = np.where(saturday + 1 < days, saturday + 1,
                                  np.maximum(saturday - 1, 0))
    day_text = pa.array(
        [f"{d.month}/{d.day}/{d.year} " for d in dates], pa.string()
    )
    clock_text = pa.array(
        [f"{m // 60}:{m % 60:02d}" for m in range(1440)], pa.string()
    )
    return _Window(start, days, cdf, open_day, day_text, clock_text)


def _clock(rng, n):
    """Minutes of the day, drawn from the real file's lines by hour."""
    hour = rng.choice(_HOURS, size=n, p=_HOUR_LINES / _HOUR_LINES.sum())
    return hour * 60 + rng.integers(0, 60, size=n)


# ---------------------------------------------------------------- customers


@dataclasses.dataclass
class _Customers:
    """One block of customers: latent draws and their purchases."""

    customer_id: np.ndarray
    country: np.ndarray
    favourite: np.ndarray
    arrival: np.ndarray  # days since the window start
    age: np.ndarray  # days from arrival to the window end (BG/NBD T)
    purchase_rate: np.ndarray  # lambda, per day
    dropout: np.ndarray  # p
    spend_rate: np.ndarray  # nu
    frequency: np.ndarray  # repeat purchases in the window
    owner: np.ndarray  # per purchase: customer number in the block
    time: np.ndarray  # per purchase: days since the window start
    value: np.ndarray  # per purchase: spend


def _simulate_customers(rng, first, n, window, bgnbd, gamma_gamma, n_categories):
    """Draw a block of customers and their purchases (BG/NBD, Gamma-Gamma)."""
    rate = rng.gamma(bgnbd["r"], 1.0 / bgnbd["alpha"], n)
    # p = 0 underflows from Beta draws with small a; it means "never drops out".
    dropout = np.clip(rng.beta(bgnbd["a"], bgnbd["b"], n), 1e-12, 1.0)
    spend_rate = rng.gamma(gamma_gamma["q"], 1.0 / gamma_gamma["gamma"], n)
    arrival = window.sample_times(rng, n)
    age = window.days - arrival
    weights = np.array([c[1] for c in _COUNTRIES], dtype=float)
    country = rng.choice(len(_COUNTRIES), size=n, p=weights / weights.sum())
    favourite = rng.integers(0, n_categories, size=n)

    # Repeat purchases: a Poisson process on (0, T] stopped by the drop-out
    # after the K-th repeat purchase, K ~ Geometric(p). Given its count, a
    # Poisson process's times are sorted uniforms, so the first x of the
    # unstopped process's N uniforms are the purchases made while alive.
    unstopped = rng.poisson(rate * age)
    frequency = np.minimum(unstopped, rng.geometric(dropout))
    owner = np.repeat(np.arange(n), unstopped)
    key = owner + rng.random(owner.size)
    key.sort()
    rank = np.arange(owner.size) - np.repeat(np.cumsum(unstopped) - unstopped,
                                             unstopped)
    alive = rank < frequency[owner]
    repeat_owner = owner[alive]
    repeat_time = arrival[repeat_owner] + (key[alive] - repeat_owner) * age[
        repeat_owner
    ]

    buyer = np.concatenate([np.arange(n), repeat_owner])
    time = np.concatenate([arrival, repeat_time])
    value = rng.gamma(gamma_gamma["p"], 1.0 / spend_rate[buyer])
    return _Customers(
        customer_id=np.arange(n, dtype=np.int64) + _FIRST_CUSTOMER_ID + first,
        country=country,
        favourite=favourite,
        arrival=arrival,
        age=age,
        purchase_rate=rate,
        dropout=dropout,
        spend_rate=spend_rate,
        frequency=frequency,
        owner=buyer,
        time=time,
        value=value,
    )


# -------------------------------------------------------------------- lines


def _snap(raw):
    """Round raw quantities to the nearest pack size (in ratio), at least 1."""
    bounds = np.sqrt(_PACKS[1:] * _PACKS[:-1])
    snapped = _PACKS[np.searchsorted(bounds, raw)]
    return np.where(raw > _PACKS[-1], np.round(raw), snapped).astype(np.int64)


def _baskets(rng, value, favourite, items):
    """Turn invoice values into lines: (invoice number, product, quantity).

    The number of lines grows with the value (about one per 22 pounds), the
    value is split over the lines at random, and each line's quantity is its
    share of the value over the product's price, rounded to a pack size. A
    product drawn twice for one invoice becomes one line.
    """
    n = value.size
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    lines = np.maximum(value / _LINE_VALUE * rng.gamma(4.0, 0.25, n), 1.0)
    count = 1 + rng.poisson(lines - 1.0)
    invoice = np.repeat(np.arange(n), count)
    size = invoice.size

    u = rng.random(size)
    from_favourite = rng.random(size) < _AFFINITY
    product = np.where(
        from_favourite,
        np.searchsorted(items.category_cdf, favourite[invoice] + u, side="right"),
        np.searchsorted(items.popularity_cdf, u, side="right"),
    )
    product = np.minimum(product, items.n_products - 1)

    weight = rng.exponential(size=size)
    weight /= np.bincount(invoice, weight, minlength=n)[invoice]
    quantity = _snap(value[invoice] * weight / items.price[product])

    key = invoice.astype(np.int64) * items.n_products + product
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    merged = np.bincount(inverse, quantity).astype(np.int64)
    order = np.argsort(first, kind="stable")
    first = first[order]
    invoice, product, quantity = invoice[first], product[first], merged[order]

    # Rounding to packs moves an invoice's total by some 10%; the invoice's
    # largest line takes up the difference, so the total stays within about
    # half that line's price of the value drawn.
    price = items.price[product]
    amount = quantity * price
    gap = value - np.bincount(invoice, amount, minlength=n)
    largest = np.lexsort((amount, invoice))
    largest = largest[np.r_[invoice[largest][1:] != invoice[largest][:-1], True]]
    fixed = np.round(quantity[largest] + gap / price[largest])
    quantity[largest] = np.maximum(fixed, 1).astype(np.int64)
    return invoice, product, quantity


@dataclasses.dataclass
class _Invoices:
    """Invoices of a block under construction, and their lines."""

    kind: list = dataclasses.field(default_factory=list)  # 0 sale, 1 'C', 2 'A'
    day: list = dataclasses.field(default_factory=list)
    minute: list = dataclasses.field(default_factory=list)
    customer: list = dataclasses.field(default_factory=list)  # -1: none
    country: list = dataclasses.field(default_factory=list)
    count: int = 0
    # lines
    invoice: list = dataclasses.field(default_factory=list)
    item: list = dataclasses.field(default_factory=list)
    text: list = dataclasses.field(default_factory=list)  # -1: no description
    quantity: list = dataclasses.field(default_factory=list)
    price: list = dataclasses.field(default_factory=list)

    def add_invoices(self, kind, day, minute, customer, country):
        first = self.count
        n = len(day)
        self.kind.append(np.full(n, kind, dtype=np.int8))
        self.day.append(np.asarray(day, dtype=np.int64))
        self.minute.append(np.asarray(minute, dtype=np.int64))
        self.customer.append(np.broadcast_to(np.asarray(customer, np.int64), n))
        self.country.append(np.broadcast_to(np.asarray(country, np.int64), n))
        self.count += n
        return first

    def add_lines(self, invoice, item, text, quantity, price):
        n = len(invoice)
        self.invoice.append(np.asarray(invoice, dtype=np.int64))
        self.item.append(np.broadcast_to(np.asarray(item, np.int64), n))
        self.text.append(np.broadcast_to(np.asarray(text, np.int64), n))
        self.quantity.append(np.broadcast_to(np.asarray(quantity, np.int64), n))
        self.price.append(np.broadcast_to(np.asarray(price, float), n))


def _block_lines(rng, customers, items, window, noise, gamma_gamma, first_invoice):
    """Make the lines of one block of customers; return (table, invoices)."""
    book = _Invoices()
    countries = np.array([c[1] for c in _COUNTRIES], dtype=float)
    countries /= countries.sum()

    # Purchases of customers.
    n_sales = customers.time.size
    sale_day = window.book(customers.time)
    sale_minute = _clock(rng, n_sales)
    first = book.add_invoices(
        0, sale_day, sale_minute, customers.customer_id[customers.owner],
        customers.country[customers.owner],
    )
    inv, product, quantity = _baskets(
        rng, customers.value, customers.favourite[customers.owner], items
    )
    book.add_lines(first + inv, product, product, quantity, items.price[product])
    sale_lines = (first + inv, product, quantity)
    n_lines = inv.size

    # Everything else is sized against the purchase lines of customers.
    total = n_lines / (1.0 - sum(noise.values()))
    expected = {key: rate * total for key, rate in noise.items()}

    # Orders without a customer, from the same spend distribution.
    n_guest = rng.poisson(expected["no_customer"] * n_sales / n_lines)
    guest_value = rng.gamma(
        gamma_gamma["p"],
        1.0 / rng.gamma(gamma_gamma["q"], 1.0 / gamma_gamma["gamma"], n_guest),
    )
    guest_time = window.sample_times(rng, n_guest)
    first_guest = book.add_invoices(
        0, window.book(guest_time), _clock(rng, n_guest), -1,
        rng.choice(len(_COUNTRIES), size=n_guest, p=countries),
    )
    g_inv, g_product, g_quantity = _baskets(
        rng, guest_value, rng.integers(0, items.n_categories, n_guest), items
    )
    book.add_lines(first_guest + g_inv, g_product, g_product, g_quantity,
                   items.price[g_product])

    _cancellations(rng, book, customers, sale_lines, sale_day, sale_minute,
                   items, window, expected["cancellation"])
    _unmatched_cancellations(rng, book, customers, sale_day, sale_minute, items,
                             expected["cancellation_unmatched"])
    _non_merchandise(rng, book, first, n_sales, first_guest, n_guest,
                     sale_day, sale_minute, customers, items,
                     expected["non_merchandise"])
    _stock_lines(rng, book, items, window, expected)

    return _assemble(rng, book, items, window, first_invoice,
                     expected["duplicate"])


def _cancellations(rng, book, customers, sale_lines, sale_day, sale_minute,
                   items, window, expected):
    """Credit notes that cancel lines of customers' earlier purchases."""
    line_invoice, product, quantity = sale_lines
    if expected <= 0 or line_invoice.size == 0:
        return
    n_sales = sale_day.size
    local = line_invoice - line_invoice.min()  # sales are numbered 0, 1, ...
    per_invoice = np.bincount(local, minlength=n_sales)
    # Choose orders, then one line of each for sure and others at a low rate.
    lines_if_chosen = 1.0 + _CANCEL_EXTRA_LINES * (per_invoice - 1)
    chance = min(1.0, expected / lines_if_chosen.sum())
    chosen = rng.random(n_sales) < chance
    anchor = np.floor(rng.random(n_sales) * per_invoice).astype(np.int64)
    start = np.cumsum(per_invoice) - per_invoice
    position = np.arange(local.size) - start[local]
    pick = chosen[local] & (
        (position == anchor[local]) | (rng.random(local.size) < _CANCEL_EXTRA_LINES)
    )

    delay = rng.exponential(_CANCEL_DELAY_DAYS, n_sales)
    when = customers.time + delay
    inside = when < window.days
    credit = np.flatnonzero(chosen & inside)
    if credit.size == 0:
        return
    day = window.book(when[credit])
    later = np.minimum(sale_minute[credit] + rng.integers(1, 121, credit.size),
                       1439)
    minute = np.where(day == sale_day[credit], later, _clock(rng, credit.size))
    owner = customers.owner[credit]
    first = book.add_invoices(1, day, minute, customers.customer_id[owner],
                              customers.country[owner])
    number = np.full(n_sales, -1, dtype=np.int64)
    number[credit] = first + np.arange(credit.size)

    pick &= number[local] >= 0
    bought = quantity[pick]
    whole = (rng.random(bought.size) < _CANCEL_WHOLE_LINE) | (bought == 1)
    part = 1 + np.floor(rng.random(bought.size) * np.maximum(bought - 1, 1))
    units = np.where(whole, bought, part.astype(np.int64))
    item = product[pick]
    book.add_lines(number[local[pick]], item, item, -units, items.price[item])


def _unmatched_cancellations(rng, book, customers, sale_day, sale_minute, items,
                             expected):
    """Credit notes for products the customer did not buy in the window."""
    n = rng.poisson(expected)
    if n == 0 or sale_day.size == 0:
        return
    sale = rng.integers(0, sale_day.size, n)
    owner = customers.owner[sale]
    first = book.add_invoices(
        1, sale_day[sale], np.minimum(sale_minute[sale] + 1, 1439),
        customers.customer_id[owner], customers.country[owner],
    )
    item = np.searchsorted(items.popularity_cdf, rng.random(n), side="right")
    item = np.minimum(item, items.n_products - 1)
    units = _snap(rng.lognormal(1.0, 1.0, n))
    book.add_lines(first + np.arange(n), item, item, -units, items.price[item])


def _non_merchandise(rng, book, first_sale, n_sales, first_guest, n_guest,
                     sale_day, sale_minute, customers, items, expected):
    """Postage, fees, discounts and vouchers, on orders or as credit notes."""
    n = rng.poisson(expected)
    if n == 0 or n_sales == 0:
        return
    weight = np.array([c[2] for c in _NON_MERCHANDISE], dtype=float)
    which = rng.choice(len(_NON_MERCHANDISE), size=n, p=weight / weight.sum())
    median = np.array([c[3] for c in _NON_MERCHANDISE])[which]
    price = np.round(median * rng.lognormal(0.0, 0.5, n), 2)
    gift = np.array([c[0].startswith("gift") for c in _NON_MERCHANDISE])[which]
    price = np.where(gift, median, price)
    item = np.array([items.special[c[0]] for c in _NON_MERCHANDISE])[which]
    placement = np.array([c[4] for c in _NON_MERCHANDISE])[which]

    sale = rng.integers(0, n_sales, n)
    on_guest = (placement == "guest") & (n_guest > 0)
    target = np.where(on_guest, first_guest + rng.integers(0, max(n_guest, 1), n),
                      first_sale + sale)
    on_order = placement != "credit"
    units = np.where(item == items.special["POST"], rng.integers(1, 4, n), 1)
    book.add_lines(target[on_order], item[on_order], item[on_order],
                   units[on_order], price[on_order])

    credit = ~on_order
    if credit.any():
        owner = customers.owner[sale[credit]]
        fee = item[credit] == items.special["AMAZONFEE"]
        first = book.add_invoices(
            1, sale_day[sale[credit]],
            np.minimum(sale_minute[sale[credit]] + 1, 1439),
            np.where(fee, -1, customers.customer_id[owner]),
            customers.country[owner],
        )
        book.add_lines(first + np.arange(credit.sum()), item[credit],
                       item[credit], -1, price[credit])


def _stock_lines(rng, book, items, window, expected):
    """Zero-price lines, write-offs and accounting entries, without customer."""
    for kind, sign in (("zero_price", 1), ("write_off", -1)):
        n = rng.poisson(expected[kind])
        if n == 0:
            continue
        time = window.sample_times(rng, n)
        first = book.add_invoices(0, window.book(time), _clock(rng, n), -1, 0)
        item = np.searchsorted(items.popularity_cdf, rng.random(n), side="right")
        item = np.minimum(item, items.n_products - 1)
        u = rng.random(n)
        text = np.where(u < 0.5, -1, np.where(
            u < 0.75, items.notes[rng.integers(0, items.notes.size, n)], item
        ))
        units = sign * _snap(rng.lognormal(2.0, 1.0, n))
        book.add_lines(first + np.arange(n), item, text, units, 0.0)

    n = rng.poisson(expected["accounting_entry"])
    if n:
        time = window.sample_times(rng, n)
        first = book.add_invoices(2, window.book(time), _clock(rng, n), -1, 0)
        item = items.special[_BAD_DEBT[0]]
        price = np.round(rng.lognormal(np.log(5000.0), 1.0, n), 2)
        book.add_lines(first + np.arange(n), item, item, 1, price)


def _assemble(rng, book, items, window, first_invoice, expected_duplicates):
    """Number the invoices in time order, copy duplicates, build the table."""
    kind = np.concatenate(book.kind)
    day = np.concatenate(book.day)
    minute = np.concatenate(book.minute)
    customer = np.concatenate(book.customer)
    country = np.concatenate(book.country)
    order = np.lexsort((rng.random(kind.size), minute, day))
    number = np.empty(kind.size, dtype=np.int64)
    number[order] = first_invoice + np.arange(kind.size)

    invoice = np.concatenate(book.invoice)
    item = np.concatenate(book.item)
    text = np.concatenate(book.text)
    quantity = np.concatenate(book.quantity)
    price = np.concatenate(book.price)

    # Exact copies of lines, placed right after the line they copy.
    n_dup = min(rng.poisson(expected_duplicates), invoice.size)
    copied = np.sort(rng.choice(invoice.size, size=n_dup, replace=False))
    rows = np.concatenate([np.arange(invoice.size), copied])
    rows = rows[np.lexsort((rows, number[invoice[rows]]))]

    inv = invoice[rows]
    prefix = pa.array(["", "C", "A"]).take(pa.array(kind[inv]))
    digits = pa.array(number[inv]).cast(pa.string())
    when = day[inv] * 1440 + minute[inv]
    text_rows = text[rows]
    has_text = text_rows >= 0
    descriptions = items.descriptions.take(
        pa.array(np.where(has_text, text_rows, 0), mask=~has_text)
    )
    who = customer[inv]
    names = pa.array([c[0] for c in _COUNTRIES], pa.string())
    table = pa.table(
        {
            "InvoiceNo": pc.binary_join_element_wise(prefix, digits, ""),
            "StockCode": items.codes.take(pa.array(item[rows])),
            "Description": descriptions,
            "Quantity": pa.array(quantity[rows], pa.int64()),
            "_minute": pa.array(when, pa.int64()),
            "UnitPrice": pa.array(price[rows], pa.float64()),
            "CustomerID": pa.array(who, pa.int64(), mask=who < 0),
            "Country": names.take(pa.array(country[inv])),
        }
    )
    return table, kind.size


# ------------------------------------------------------------------ blocks


@dataclasses.dataclass
class _Plan:
    """What every block needs: parameters, seeds, catalogue and window."""

    n_customers: int
    bgnbd: dict
    gamma_gamma: dict
    noise: dict
    window: _Window
    items: _Items
    blocks: list  # one SeedSequence per block


def _plan(n_customers, start, end, bgnbd_params, gamma_gamma_params,
          noise_rates, holiday_peak, n_products, random_state):
    n_customers = _check_count("n_customers", n_customers)
    n_products = _check_count("n_products", n_products, minimum=len(_CATEGORIES))
    bgnbd, gamma_gamma, noise, holiday_peak = _check_params(
        bgnbd_params, gamma_gamma_params, noise_rates, holiday_peak
    )
    catalogue_seed, customers_seed = _root_seed(random_state).spawn(2)
    catalogue = _catalogue(n_products, np.random.default_rng(catalogue_seed))
    n_blocks = -(-n_customers // BLOCK_CUSTOMERS)
    return _Plan(
        n_customers=n_customers,
        bgnbd=bgnbd,
        gamma_gamma=gamma_gamma,
        noise=noise,
        window=_window(start, end, holiday_peak),
        items=_items(catalogue),
        blocks=customers_seed.spawn(n_blocks),
    )


def _block_customers(plan, b):
    """Customers of block `b`, from the first of the block's two streams."""
    people, _ = plan.blocks[b].spawn(2)
    first = b * BLOCK_CUSTOMERS
    n = min(BLOCK_CUSTOMERS, plan.n_customers - first)
    return _simulate_customers(
        np.random.default_rng(people), first, n, plan.window, plan.bgnbd,
        plan.gamma_gamma, plan.items.n_categories,
    )


def _tables(plan, blocks_per_chunk=1) -> Iterator[pa.Table]:
    """Yield the lines, a chunk of whole blocks at a time."""
    first_invoice = _FIRST_INVOICE
    pending = []
    for b in range(len(plan.blocks)):
        customers = _block_customers(plan, b)
        _, lines = plan.blocks[b].spawn(2)
        table, n_invoices = _block_lines(
            np.random.default_rng(lines), customers, plan.items, plan.window,
            plan.noise, plan.gamma_gamma, first_invoice,
        )
        first_invoice += n_invoices
        pending.append(table)
        if len(pending) == blocks_per_chunk:
            yield pa.concat_tables(pending)
            pending = []
    if pending:
        yield pa.concat_tables(pending)


def _for_parquet(table, window):
    minutes = pc.multiply(table["_minute"], 60_000_000)
    start = int(window.start.value // 1000)  # microseconds since the epoch
    stamp = pc.add(minutes, start).cast(pa.timestamp("us"))
    index = table.schema.get_field_index("_minute")
    return table.set_column(index, "InvoiceDate", stamp)


def _csv_bytes(table, window, rows_per_slice=250_000):
    """Format lines as CSV in the export's style; return the bytes.

    Slices keep each formatted text column well under the 2 GiB that a
    32-bit-offset string array holds.
    """
    parts = []
    for first in range(0, table.num_rows, rows_per_slice):
        part = table.slice(first, rows_per_slice).combine_chunks()
        day, clock = np.divmod(part["_minute"].to_numpy(), 1440)
        date = pc.binary_join_element_wise(
            window.day_text.take(pa.array(day)),
            window.clock_text.take(pa.array(clock)),
            "",
        )
        text = part["Description"]
        needs_quotes = pc.or_(pc.match_substring(text, ","),
                              pc.match_substring(text, '"'))
        quoted = pc.binary_join_element_wise(
            '"', pc.replace_substring(text, '"', '""'), '"', ""
        )
        fields = [
            part["InvoiceNo"],
            part["StockCode"],
            pc.if_else(needs_quotes, quoted, text),
            part["Quantity"].cast(pa.string()),
            date,
            part["UnitPrice"].cast(pa.string()),
            part["CustomerID"].cast(pa.string()),
            part["Country"],
        ]
        row = pc.binary_join_element_wise(
            *fields, ",", null_handling="replace", null_replacement=""
        )
        row = pc.binary_join_element_wise(row, "\n", "").combine_chunks()
        # The rows' characters lie back to back in the data buffer.
        offsets = np.frombuffer(row.buffers()[1], dtype=np.int32)
        lo, hi = offsets[row.offset], offsets[row.offset + len(row)]
        parts.append(row.buffers()[2].to_pybytes()[lo:hi])
    return b"".join(parts)


# ---------------------------------------------------------------- public API


def make_customers(
    n_customers,
    start="2010-12-01",
    end="2011-12-09",
    *,
    bgnbd_params=None,
    gamma_gamma_params=None,
    holiday_peak=1.5,
    random_state=0,
):
    """Return the latent draws of the customers :func:`make_transactions` makes.

    The same arguments give the same customers as :func:`make_transactions`:
    their parameters, and their purchases as the model made them, before any
    line, rounding or noise. Fitting BG/NBD and Gamma-Gamma on ``frequency``,
    ``recency``, ``T`` and ``monetary_value`` recovers the generating
    parameters up to sampling error.

    Parameters
    ----------
    n_customers : int
        Number of customers.
    start, end : date-like, default="2010-12-01", "2011-12-09"
        First and last day of the window (the real file's).
    bgnbd_params : mapping, default=None
        Any of ``r``, ``alpha`` (in days), ``a``, ``b``; the others from
        :data:`BGNBD_PARAMS`.
    gamma_gamma_params : mapping, default=None
        Any of ``p``, ``q``, ``gamma``; the others from
        :data:`GAMMA_GAMMA_PARAMS`.
    holiday_peak : float, default=1.5
        Extra new customers at the peak in mid-November, as a multiple of an
        ordinary day's (1.5: 2.5 times as many; 0: no peak).
    random_state : int or None, default=0
        Seed.

    Returns
    -------
    pandas.DataFrame
        One row per customer: ``customer_id``, ``country``,
        ``first_purchase`` (timestamp), ``purchase_rate`` (lambda, per day),
        ``dropout_probability`` (p), ``mean_spend`` (p / nu, the customer's
        expected spend per purchase), and the true BG/NBD summary in
        continuous days: ``frequency``, ``recency``, ``T`` and
        ``monetary_value`` (mean value of the repeat purchases, 0 without).

    Examples
    --------
    >>> customers = make_customers(50, random_state=1)
    >>> customers.shape
    (50, 10)
    >>> bool((customers.recency <= customers["T"]).all())
    True
    """
    plan = _plan(n_customers, start, end, bgnbd_params, gamma_gamma_params,
                 None, holiday_peak, 4000, random_state)
    frames = []
    for b in range(len(plan.blocks)):
        c = _block_customers(plan, b)
        n = c.customer_id.size
        repeat = np.arange(c.owner.size) >= n
        last = np.zeros(n)
        np.maximum.at(last, c.owner, c.time - c.arrival[c.owner])
        spend = np.bincount(c.owner[repeat], c.value[repeat], minlength=n)
        frames.append(pd.DataFrame({
            "customer_id": c.customer_id,
            "country": np.array([x[0] for x in _COUNTRIES])[c.country],
            "first_purchase": plan.window.start
            + pd.to_timedelta(c.arrival, unit="D"),
            "purchase_rate": c.purchase_rate,
            "dropout_probability": c.dropout,
            "mean_spend": plan.gamma_gamma["p"] / c.spend_rate,
            "frequency": c.frequency,
            "recency": last,
            "T": c.age,
            "monetary_value": np.divide(spend, c.frequency,
                                        out=np.zeros(n), where=c.frequency > 0),
        }))
    return pd.concat(frames, ignore_index=True)


def make_transactions(
    n_customers,
    start="2010-12-01",
    end="2011-12-09",
    *,
    bgnbd_params=None,
    gamma_gamma_params=None,
    noise_rates=None,
    holiday_peak=1.5,
    n_products=4000,
    random_state=0,
):
    """Make transaction lines in the UCI Online Retail schema.

    Parameters
    ----------
    n_customers : int
        Number of customers with a customer number. With the default
        parameters each brings about 100 lines, guests' lines included.
    start, end : date-like, default="2010-12-01", "2011-12-09"
        First and last day of the window (the real file's).
    bgnbd_params : mapping, default=None
        Any of ``r``, ``alpha`` (in days), ``a``, ``b``; the others from
        :data:`BGNBD_PARAMS`.
    gamma_gamma_params : mapping, default=None
        Any of ``p``, ``q``, ``gamma``; the others from
        :data:`GAMMA_GAMMA_PARAMS`.
    noise_rates : mapping, default=None
        Shares of all lines for any of the keys of :data:`NOISE_RATES`; the
        others keep their defaults. ``{k: 0 for k in NOISE_RATES}`` gives
        purchase lines of customers only.
    holiday_peak : float, default=1.5
        Extra new customers and guest orders at the peak in mid-November, as
        a multiple of an ordinary day's (1.5: 2.5 times as many; 0: no peak).
    n_products : int, default=4000
        Size of the catalogue (see :func:`make_catalogue`).
    random_state : int or None, default=0
        Seed. The same seed gives the same lines, whatever the chunking.

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`COLUMNS`: ``InvoiceNo`` (text, 'C' for
        cancellations, 'A' for accounting entries), ``StockCode``,
        ``Description`` (missing on some stock lines), ``Quantity``
        (int64), ``InvoiceDate`` (datetime, to the minute), ``UnitPrice``
        (float), ``CustomerID`` (nullable Int64) and ``Country``.

    See Also
    --------
    write_transactions : the same lines, written in chunks to a file.
    make_customers : the customers' latent parameters and true summary.

    Notes
    -----
    Lines come block by block (:data:`BLOCK_CUSTOMERS` customers each, with
    their share of guest orders and noise), ordered by invoice number within
    a block; invoice numbers rise with time within a block and carry on
    from block to block. No invoice falls on a Saturday, as in the real file.

    Examples
    --------
    >>> lines = make_transactions(20, random_state=0)
    >>> list(lines.columns) == list(COLUMNS)
    True
    >>> bool(lines.InvoiceNo.str.startswith("C").any())
    True
    """
    plan = _plan(n_customers, start, end, bgnbd_params, gamma_gamma_params,
                 noise_rates, holiday_peak, n_products, random_state)
    table = pa.concat_tables(list(_tables(plan, blocks_per_chunk=len(plan.blocks))))
    table = _for_parquet(table, plan.window)
    frame = table.to_pandas()
    frame["CustomerID"] = frame["CustomerID"].astype("Int64")
    frame["InvoiceDate"] = frame["InvoiceDate"].astype("datetime64[ns]")
    return frame


def write_transactions(
    path,
    n_customers,
    start="2010-12-01",
    end="2011-12-09",
    *,
    format=None,
    chunk_customers=10_000,
    bgnbd_params=None,
    gamma_gamma_params=None,
    noise_rates=None,
    holiday_peak=1.5,
    n_products=4000,
    random_state=0,
):
    """Write the lines of :func:`make_transactions` to a Parquet or CSV file.

    Lines are made and written a chunk of customers at a time, so memory
    stays flat however many lines the file gets. A CSV file is written as the
    UCI export is: header ``InvoiceNo,StockCode,...``, dates ``M/D/YYYY H:MM``,
    prices in their shortest form, missing customers empty, descriptions
    quoted only when they hold a comma or a quote; a name ending in ``.gz``
    is gzip-compressed. Parquet keeps types: ``InvoiceDate`` is a timestamp,
    ``CustomerID`` a nullable int64.

    Parameters
    ----------
    path : str or Path
        File to write (replaced if it exists).
    n_customers : int
        Number of customers with a customer number.
    start, end : date-like, default="2010-12-01", "2011-12-09"
        First and last day of the window.
    format : {"parquet", "csv"}, default=None
        From the file name when None: ``.parquet`` or ``.pq`` for Parquet,
        ``.csv`` or ``.csv.gz`` for CSV.
    chunk_customers : int, default=10_000
        Customers made and written at a time, rounded up to whole blocks of
        :data:`BLOCK_CUSTOMERS`. It changes memory use, not the lines.
    bgnbd_params, gamma_gamma_params, noise_rates : mapping, default=None
        As for :func:`make_transactions`.
    holiday_peak, n_products, random_state
        As for :func:`make_transactions`.

    Returns
    -------
    int
        Number of lines written (header excluded).
    """
    path = Path(path)
    format = _file_format(path, format)
    chunk_customers = _check_count("chunk_customers", chunk_customers)
    plan = _plan(n_customers, start, end, bgnbd_params, gamma_gamma_params,
                 noise_rates, holiday_peak, n_products, random_state)
    per_chunk = -(-chunk_customers // BLOCK_CUSTOMERS)
    written = 0
    if format == "parquet":
        writer = None
        try:
            for table in _tables(plan, per_chunk):
                table = _for_parquet(table, plan.window)
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
                written += table.num_rows
        finally:
            if writer is not None:
                writer.close()
        return written

    compressed = path.name.lower().endswith(".gz")
    # mtime=0: the same lines give the same bytes, whenever they are written.
    with (
        gzip.GzipFile(path, "wb", compresslevel=6, mtime=0)
        if compressed
        else open(path, "wb")
    ) as sink:
        sink.write((",".join(COLUMNS) + "\n").encode("utf-8"))
        for table in _tables(plan, per_chunk):
            sink.write(_csv_bytes(table, plan.window))
            written += table.num_rows
    return written


def _file_format(path, format):
    name = path.name.lower()
    inferred = (
        "parquet" if name.endswith((".parquet", ".pq"))
        else "csv" if name.endswith((".csv", ".csv.gz"))
        else None
    )
    if format is None:
        if inferred is None:
            raise ShopsegError(
                f"{path.name}: cannot tell the format from the name; end it in "
                "'.parquet', '.csv' or '.csv.gz', or give the format (parquet "
                "or csv)"
            )
        return inferred
    if format not in ("parquet", "csv"):
        raise ShopsegError(f"format={format!r} should be 'parquet' or 'csv'")
    return format
