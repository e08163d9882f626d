"""RFM scores 1 to 5 and the named RFM segments.

Scores come from ranks, not from quantile edges: a customer's score is
``1 + floor(5 * b / n)`` where ``b`` is the number of the ``n`` customers with
a strictly worse value. Tied customers share ``b`` and so a score; heavy ties
(most customers have one order) never produce duplicate bin edges, and nobody
is left unscored: the many one-order customers all score F = 1. For recency,
fewer days since the last order is better.

The segments follow the usual grid of recency score (R) against frequency
score (F); the monetary score is reported but does not name a segment:

=====================  ==========  ==========
segment                R           F
=====================  ==========  ==========
Champions              5           4-5
Loyal                  3-4         4-5
Potential loyalists    4-5         2-3
New                    5           1
Promising              4           1
Need attention         3           3
About to sleep         3           1-2
At risk                1-2         3-4
Cannot lose them       1-2         5
Hibernating            2           1-2
Lost                   1           1-2
=====================  ==========  ==========
"""

import numpy as np
import pandas as pd

#: (segment, recency scores, frequency scores), checked in this order.
RFM_SEGMENTS = (
    ("Champions", (5,), (4, 5)),
    ("Loyal", (3, 4), (4, 5)),
    ("Potential loyalists", (4, 5), (2, 3)),
    ("New", (5,), (1,)),
    ("Promising", (4,), (1,)),
    ("Need attention", (3,), (3,)),
    ("About to sleep", (3,), (1, 2)),
    ("At risk", (1, 2), (3, 4)),
    ("Cannot lose them", (1, 2), (5,)),
    ("Hibernating", (2,), (1, 2)),
    ("Lost", (1,), (1, 2)),
)


def rank_scores(values, higher_is_better=True, n_scores=5):
    """Score values 1..n_scores by the share of worse values; ties share a score.

    >>> rank_scores(pd.Series([1, 1, 1, 1, 2, 5, 9]))
    array([1, 1, 1, 1, 3, 4, 5])
    """
    values = pd.Series(values, dtype=float)
    if not higher_is_better:
        values = -values
    worse = values.rank(method="min").to_numpy() - 1
    scores = 1 + np.floor(n_scores * worse / len(values)).astype(int)
    return np.clip(scores, 1, n_scores)


def rfm_scores(customers):
    """Return R, F and M scores and the RFM segment of each customer.

    Parameters
    ----------
    customers : pandas.DataFrame
        With ``recency_days``, ``orders`` and ``spend``.

    Returns
    -------
    pandas.DataFrame
        ``r_score``, ``f_score``, ``m_score``, ``rfm_score`` (e.g. "545") and
        ``rfm_segment``, on the index of ``customers``.
    """
    scores = pd.DataFrame(index=customers.index)
    scores["r_score"] = rank_scores(customers["recency_days"], higher_is_better=False)
    scores["f_score"] = rank_scores(customers["orders"])
    scores["m_score"] = rank_scores(customers["spend"])
    scores["rfm_score"] = (
        scores.r_score.astype(str) + scores.f_score.astype(str)
        + scores.m_score.astype(str)
    )
    scores["rfm_segment"] = [
        rfm_segment(r, f) for r, f in zip(scores.r_score, scores.f_score)
    ]
    return scores


def rfm_segment(r_score, f_score):
    """Name the RFM segment of a recency and a frequency score.

    >>> rfm_segment(5, 1)
    'New'
    """
    for name, recency, frequency in RFM_SEGMENTS:
        if r_score in recency and f_score in frequency:
            return name
    raise ValueError(f"scores must be 1 to 5, got R={r_score}, F={f_score}")
