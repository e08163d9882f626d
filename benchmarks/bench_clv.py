"""Time fit, predict and CLV of the models on CDNOW and synthetic customers.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_clv.py [--customers N] [--data DIR]

DIR holds ``cdnow/cdnow_customers_summary_with_transactions.csv``; it defaults
to $SHOPSEG_SHARED_DATA, else the ``shared/data`` folder beside the repository.
The synthetic customers come from the BG/NBD and Gamma-Gamma generative
processes with CDNOW-like parameters and a fixed seed.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from shopseg.clv import BGNBD, GammaGamma, customer_lifetime_value

TRUE_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
TRUE_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def simulate(n: int, seed: int = 20050201) -> pd.DataFrame:
    """Draw `n` customers from the BG/NBD and Gamma-Gamma processes.

    Repeat purchases follow a Poisson process of rate lambda until the
    customer drops out after a Geometric(p) number of them; given N(T) = k
    arrivals in (0, T], the j-th arrival time is T times a Beta(j, k-j+1)
    draw (uniform order statistics), so no event-by-event loop is needed.
    """
    rng = np.random.default_rng(seed)
    p = TRUE_BGNBD
    lam = rng.gamma(p["r"], 1.0 / p["alpha"], n)
    drop = rng.beta(p["a"], p["b"], n)
    age = rng.uniform(27.0, 39.0, n)  # CDNOW cohort: 12 weeks of first buys
    arrivals = rng.poisson(lam * age)
    x = np.minimum(arrivals, rng.geometric(drop))
    repeat = x > 0
    t_x = np.zeros(n)
    t_x[repeat] = age[repeat] * rng.beta(x[repeat], arrivals[repeat] - x[repeat] + 1)
    g = TRUE_GG
    nu = rng.gamma(g["q"], 1.0 / g["gamma"], n)
    mean_spend = np.zeros(n)
    mean_spend[repeat] = rng.gamma(g["p"] * x[repeat], 1.0 / (nu[repeat] * x[repeat]))
    return pd.DataFrame(
        {"frequency": x, "recency": t_x, "T": age, "monetary_value": mean_spend}
    )


def load_cdnow(data_dir: Path) -> pd.DataFrame | None:
    path = data_dir / "cdnow" / "cdnow_customers_summary_with_transactions.csv"
    if not path.exists():
        return None
    frame = pd.read_csv(path, index_col="ID")
    return frame.rename(
        columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"}
    )


def bench(summary: pd.DataFrame) -> tuple[list[float], BGNBD, GammaGamma]:
    """Best of a few runs (one for big data): fit, predict and CLV seconds."""
    repeats = 5 if len(summary) < 100_000 else 1
    runs = [_run(summary) for _ in range(repeats)]
    best = [min(run[0][k] for run in runs) for k in range(3)]
    return best, runs[-1][1], runs[-1][2]


def _run(summary: pd.DataFrame) -> tuple[list[float], BGNBD, GammaGamma]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a non-converged fit is a failed run
        start = time.perf_counter()
        counts = BGNBD().fit(summary)
        spend = GammaGamma().fit(summary)
        fitted = time.perf_counter()
        counts.expected_purchases(39.0, summary)
        counts.probability_alive(summary)
        spend.expected_spend(summary)
        predicted = time.perf_counter()
        customer_lifetime_value(counts, spend, summary, time_unit="weeks")
        done = time.perf_counter()
    return [fitted - start, predicted - fitted, done - predicted], counts, spend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    default = os.environ.get("SHOPSEG_SHARED_DATA") or (
        Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    parser.add_argument("--data", type=Path, default=Path(default))
    args = parser.parse_args()

    datasets = []
    cdnow = load_cdnow(args.data)
    if cdnow is not None:
        datasets.append(("CDNOW sample", cdnow))
    datasets.append(("synthetic BG/NBD", simulate(args.customers)))

    # Warm-up: the first fit pays for lazy imports inside scipy.
    _run(simulate(1_000, seed=1))

    header = (
        f"{'dataset':<18} {'customers':>10} {'fit s':>8} {'predict s':>10} "
        f"{'12-month CLV s':>15}"
    )
    print(header)
    print("-" * len(header))
    fitted = []
    for name, summary in datasets:
        (fit_s, predict_s, clv_s), counts, spend = bench(summary)
        print(
            f"{name:<18} {len(summary):>10,} {fit_s:>8.3f} {predict_s:>10.3f} "
            f"{clv_s:>15.3f}"
        )
        fitted.append((name, counts, spend))
    print()
    for name, counts, spend in fitted:
        params = {**counts.params_, **spend.params_}
        text = ", ".join(f"{k}={v:.3f}" for k, v in params.items())
        print(f"{name}: {text}")


if __name__ == "__main__":
    main()
