"""Sums of money that do not depend on the order of the lines.

DuckDB adds floating-point values in whatever order its threads meet them,
so a sum over many lines can differ in its last bits from one run to the
next, and a model split on such a value can change. :func:`exact_sum`
rounds each value to :data:`SUM_SCALE` decimals (far below a penny) and
adds the decimals exactly: whole-number arithmetic, whose result is the
same in every order, on every thread, and on Spark.
"""

#: Decimals kept of each value before the exact sum.
SUM_SCALE = 10


def exact_sum(expression, where=None):
    """Return SQL for the exact sum of ``expression``, as a DOUBLE.

    Parameters
    ----------
    expression : str
        A SQL expression of the rows summed.
    where : str, default=None
        A condition: only rows meeting it are summed (``FILTER``).

    Unlike a sum ``ORDER BY`` the rows, it holds no row in memory, however
    many there are.

    Examples
    --------
    >>> exact_sum("amount")
    'CAST(sum(CAST(amount AS DECIMAL(38, 10))) AS DOUBLE)'
    >>> exact_sum("amount", "day > first_day").endswith(
    ...     "FILTER (WHERE day > first_day) AS DOUBLE)")
    True
    """
    only = f" FILTER (WHERE {where})" if where else ""
    return (
        f"CAST(sum(CAST({expression} AS DECIMAL(38, {SUM_SCALE}))){only} "
        "AS DOUBLE)"
    )
