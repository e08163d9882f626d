"""Request and response bodies of the scoring service.

An order line has the columns of a batch file (see
:data:`shopseg.read.COLUMNS`), with constraints that name the field when a
value breaks them. The request models are built by :func:`request_models`
because the limit on lines is a setting of the service and belongs in its
OpenAPI document.
"""

import datetime
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

#: Text without control characters.
TEXT = r"^[^\x00-\x1f\x7f]*$"

#: An identifier: text without control characters and not blank.
IDENTIFIER = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"

#: A timestamp without UTC offset, ISO 8601: the shop's local time, in the
#: years 1900 to 2100 (the day of the month is checked after the pattern).
TIMESTAMP = (
    r"^(19\d\d|20\d\d|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$"
)

#: Years an invoice date may fall in.
YEARS = (1900, 2100)

#: Largest absolute quantity and unit price of a line.
MAX_QUANTITY = 1_000_000
MAX_PRICE = 1_000_000.0

# Values the reader takes as "no customer" (after trimming and dropping a
# trailing '.0'): such a line would be left out of a batch as well.
_NO_CUSTOMER = frozenset({"", "nan", "none", "null"})


def _timestamp(value):
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a date and time; write e.g. '2011-03-01T09:30:00'"
        ) from None
    if not YEARS[0] <= parsed.year <= YEARS[1]:
        raise ValueError(
            f"{value!r} is outside the years {YEARS[0]} to {YEARS[1]}"
        )
    return parsed


def _customer(value):
    if re.sub(r"\.0+$", "", value.strip()).lower() in _NO_CUSTOMER:
        raise ValueError(
            f"{value!r} reads as no customer; give the customer's identifier"
        )
    return value


def _identifier(description, max_length=64):
    return Field(
        min_length=1, max_length=max_length, pattern=IDENTIFIER,
        description=description,
    )


class OrderLine(BaseModel):
    """One line of an order, as the shop's order system exports it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{
                "invoice": "536365",
                "stock_code": "85123A",
                "description": "WHITE HANGING HEART T-LIGHT HOLDER",
                "quantity": 6,
                "invoice_date": "2010-12-01T08:26:00",
                "price": 2.55,
                "customer_id": "17850",
                "country": "United Kingdom",
            }]
        },
    )

    invoice: Annotated[str, _identifier(
        "Invoice number; one starting with 'C' is a cancellation."
    )]
    stock_code: Annotated[str, _identifier("Product code.")]
    description: Annotated[str | None, Field(
        default=None, max_length=500, pattern=TEXT,
        description="Product name; categorises products the model has not seen.",
    )] = None
    quantity: Annotated[int, Field(
        ge=-MAX_QUANTITY, le=MAX_QUANTITY,
        description="Units; negative on a cancellation.",
    )]
    invoice_date: Annotated[str, Field(
        pattern=TIMESTAMP,
        description="Local date and time of the invoice, without UTC offset, "
        "e.g. '2010-12-01T08:26:00'.",
    ), AfterValidator(_timestamp)]
    price: Annotated[float, Field(
        ge=-MAX_PRICE, le=MAX_PRICE, allow_inf_nan=False,
        description="Unit price in the shop's currency.",
    )]
    customer_id: Annotated[str, _identifier(
        "The customer's identifier."
    ), AfterValidator(_customer)]
    country: Annotated[str | None, Field(
        default=None, max_length=100, pattern=TEXT,
        description="The customer's country.",
    )] = None


def request_models(max_lines, max_batch_lines):
    """Return the request models (one order, a batch) for the given limits.

    Parameters
    ----------
    max_lines : int
        Most lines of one order.
    max_batch_lines : int
        Most lines of a batch.

    Returns
    -------
    tuple of type
        ``(Order, OrderBatch)``.
    """

    class Order(BaseModel):
        """The lines of one customer's first order (or first purchase day)."""

        model_config = ConfigDict(extra="forbid")

        lines: Annotated[list[OrderLine], Field(
            min_length=1, max_length=max_lines,
            description=f"At most {max_lines:,} lines, all of one customer. "
            "Lines after the first purchase day are counted, not used.",
        )]

        @model_validator(mode="after")
        def _one_customer(self):
            first = self.lines[0].customer_id.strip()
            for i, line in enumerate(self.lines):
                if line.customer_id.strip() != first:
                    raise ValueError(
                        f"lines[{i}].customer_id is {line.customer_id!r} but "
                        f"lines[0].customer_id is {first!r}: an order belongs "
                        "to one customer; score several customers with "
                        "/v1/score/batch"
                    )
            return self

    class OrderBatch(BaseModel):
        """Order lines of many customers, as in a batch file."""

        model_config = ConfigDict(extra="forbid")

        lines: Annotated[list[OrderLine], Field(
            min_length=1, max_length=max_batch_lines,
            description=f"At most {max_batch_lines:,} lines of any customers.",
        )]

    return Order, OrderBatch


class Forecast(BaseModel):
    """A new customer's forecast over the model's horizon."""

    customer_id: str
    first_purchase_day: datetime.date
    predicted_spend: float = Field(
        description="Expected spend over the horizon after the first day."
    )
    spend_lower: float | None = Field(description="Lower end of the interval.")
    spend_upper: float | None = Field(description="Upper end of the interval.")
    interval_level: float | None = Field(
        description="Nominal coverage of the interval, e.g. 0.9."
    )
    repeat_probability: float = Field(
        description="Probability of any purchase over the horizon."
    )
    next_year_segment: int | None = Field(
        description="Most likely segment of the customer's first year, among "
        "those the model learned from its training customers' first years "
        "(not the behavioural segments of all customers in customers.csv)."
    )
    next_year_segment_name: str | None
    horizon_days: int
    later_lines: int = Field(
        description="Lines after the first purchase day, which were not used."
    )
    model_version: str


class BatchForecast(BaseModel):
    """Forecasts of every customer with a purchase, sorted by customer."""

    model_version: str
    forecasts: list[Forecast]


class FieldError(BaseModel):
    """One invalid value: where it is and what is wrong with it."""

    field: str
    message: str


class Problem(BaseModel):
    """An error: one paragraph, and the invalid fields if any."""

    detail: str
    errors: list[FieldError] = []


class Health(BaseModel):
    """Liveness or readiness, and the model the process has loaded."""

    status: str = Field(description="'alive', 'ready' or 'not ready'.")
    model_version: str = Field(
        description="Short digest of the model card, as in every forecast."
    )
    model_created_at: str | None = Field(
        description="When the model was trained; null if its card does not say."
    )
