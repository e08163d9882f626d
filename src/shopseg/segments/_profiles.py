"""Profiles of behavioural segments, and names a marketer can act on.

A segment is named from its medians compared with all customers':

- value: "High-value" when the median spend is in the top quarter of all
  customers' spend, "Low-value" when in the bottom quarter;
- frequency: "one-time buyers" when the median customer has one order,
  "regulars" with at least five, "occasional buyers" in between;
- recency: "lapsed" when the median customer last bought more than 180 days
  before the observation end;
- basket: "big baskets" when the median order value is in the top quarter of
  all customers', "small baskets" in the bottom quarter.

Two segments that would share a name are told apart by their main country or
product category.
"""

import numpy as np
import pandas as pd


def profile_segments(customers, labels):
    """Profile segments: size, revenue share, median RFM, top categories.

    Parameters
    ----------
    customers : pandas.DataFrame
        Customer features (see :func:`shopseg.features.customer_features`).
    labels : array-like
        Segment of each customer.

    Returns
    -------
    pandas.DataFrame
        One row per segment, with its ``name``.
    """
    frame = customers.assign(segment=np.asarray(labels))
    shares = [c for c in frame.columns if c.startswith("share_")]
    total_spend = frame.spend.sum()
    rows = []
    for segment, group in frame.groupby("segment", sort=True):
        top_categories = (
            group[shares].mean().sort_values(ascending=False).head(2).index
            if shares else []
        )
        countries = group.country.value_counts(normalize=True).head(2)
        rows.append({
            "segment": int(segment),
            "customers": len(group),
            "customer_share": len(group) / len(frame),
            "revenue_share": group.spend.sum() / total_spend,
            "median_recency_days": group.recency_days.median(),
            "median_orders": group.orders.median(),
            "median_spend": group.spend.median(),
            "median_order_value": group.mean_order_value.median(),
            "top_categories": ", ".join(_category_name(c) for c in top_categories),
            "top_countries": ", ".join(
                f"{country} ({share:.0%})" for country, share in countries.items()
            ),
        })
    profiles = pd.DataFrame(rows)
    profiles["name"] = _names(profiles, customers)
    return profiles


def _category_name(column):
    if column == "share_uncategorised":
        return "uncategorised"
    return " ".join(column.split("_")[2:]) or column


def _names(profiles, customers):
    spend_q1, spend_q3 = customers.spend.quantile([0.25, 0.75])
    basket_q1, basket_q3 = customers.mean_order_value.quantile([0.25, 0.75])
    names = []
    for row in profiles.itertuples():
        if row.median_orders <= 1:
            kind = "one-time buyers"
        elif row.median_orders >= 5:
            kind = "regulars"
        else:
            kind = "occasional buyers"
        value = ""
        if row.median_spend >= spend_q3:
            value = "High-value "
        elif row.median_spend <= spend_q1:
            value = "Low-value "
        basket = ""
        if row.median_order_value >= basket_q3:
            basket = ", big baskets"
        elif row.median_order_value <= basket_q1:
            basket = ", small baskets"
        lapsed = "lapsed " if row.median_recency_days > 180 else ""
        name = f"{value}{lapsed}{kind}{basket}"
        names.append(name[0].upper() + name[1:])

    counts = pd.Series(names).value_counts()
    for i, row in enumerate(profiles.itertuples()):
        if counts[names[i]] > 1:
            country = row.top_countries.split(" (")[0]
            category = row.top_categories.split(", ")[0]
            detail = ", ".join(part for part in (country, category) if part)
            names[i] = f"{names[i]} ({detail or f'segment {row.segment}'})"
    counts = pd.Series(names).value_counts()
    return [
        f"{name} #{segment}" if counts[name] > 1 else name
        for name, segment in zip(names, profiles.segment)
    ]
