"""Step 2b of the report: render facts and figures with the packaged template.

The page is one self-contained file: plotly.js (once), the world's country
shapes, the styles and every figure are inside it, so it opens offline.
"""

import functools
from pathlib import Path

import jinja2
from plotly.offline import get_plotlyjs

from .._version import __version__
from ._facts import gather_facts, money, share
from ._figures import (
    CONFIG, NARROW_WIDTH, PALETTE, build_figures, figure_id, uses_map,
)
from ._world import TOPOJSON_NAME, world_topology_text

TEMPLATE = "report.html.j2"


@functools.cache
def _environment():
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("shopseg.report", "templates"),
        autoescape=jinja2.select_autoescape(("html", "j2")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        money=money,
        share=share,
        number=_number,
        size=_size,
        cloud_order=_cloud_order,
        metric=_metric,
    )
    environment.globals.update(palette=PALETTE, figure_id=figure_id,
                               narrow_width=NARROW_WIDTH, plotly_config=CONFIG)
    return environment


def _number(value, digits=0):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _size(n_bytes):
    """A file size for people: 7.4 MB."""
    if n_bytes is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000


def _metric(value, key=""):
    """A metric's value in a table: pounds for errors and revenues."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if abs(value) < 5e-4:
        value = 0.0  # no "-0.000"
    if key.endswith("rel_error"):
        return f"{100 * value:+.1f}%"
    if key.endswith(("_revenue", "_spend")):
        return f"£{value:,.0f}"
    if key in ("mae", "rmse") or key.endswith(("_mae", "_rmse")):
        if key.startswith("purchases"):
            return f"{value:,.3f}"
        return f"£{value:,.2f}"
    if (isinstance(value, int) or float(value).is_integer() and abs(value) >= 10
            or abs(value) >= 1000):
        return f"{value:,.0f}"
    return f"{value:.3f}"


def _cloud_order(words):
    """Words with the heaviest in the middle, lighter ones alternating out."""
    left, right = [], []
    for position, word in enumerate(words):
        (left if position % 2 else right).append(word)
    return left[::-1] + right


def _script_safe(text):
    """Text that can sit inside a ``<script>`` element."""
    return text.replace("</", "<\\/")


def render_report(facts):
    """Render the report's HTML page from its facts.

    Parameters
    ----------
    facts : dict
        What :func:`gather_facts` returns.

    Returns
    -------
    str
        A complete, self-contained HTML document.
    """
    figures = build_figures(facts)
    template = _environment().get_template(TEMPLATE)
    return template.render(
        facts=facts,
        figures={f"{section}.{chart}": html for (section, chart), html
                 in figures.items()},
        plotly_js=get_plotlyjs(),
        world_topojson=_script_safe(world_topology_text())
        if uses_map(figures) else None,
        topojson_name=TOPOJSON_NAME,
        version=__version__,
    )


def write_report(con, path, run=None, metrics=None):
    """Gather the facts of a store and write its report to ``path``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The store; it is only read.
    path : str or Path
        The HTML file to write, e.g. ``out/report.html``.
    run : dict, default=None
        The run in progress (see :func:`gather_facts`).
    metrics : dict, default=None
        Content of ``metrics.json``, if any.

    Returns
    -------
    Path
        The file written.
    """
    facts = gather_facts(con, run=run, metrics=metrics)
    path = Path(path)
    path.write_text(render_report(facts), encoding="utf-8")
    return path
