"""Step 2a of the report: turn each chart's facts into a plotly figure.

Each ``*_figure`` function takes the facts of one chart (see
:mod:`shopseg.report._facts`) and returns a :class:`plotly.graph_objects.Figure`
with axis titles that carry their units. :func:`build_figures` renders every
chart whose facts have no ``note`` into an HTML ``<div>``; plotly.js itself is
inlined once by the template.

A chart drawn narrower than :data:`NARROW_WIDTH` (a phone, or half of a small
screen) takes the layout changes its figure carries in
``layout.meta["narrow"]``: panels stacked, shorter titles, smaller margins. The
template's script applies them, and gives the wide layout back, as the page is
resized.
"""

import math
import textwrap

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

#: Colours of the report, main colour first: Okabe-Ito's colour-blind safe
#: eight, then four of Paul Tol's, enough for the largest k of the segments.
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
    "#F0E442", "#000000", "#882255", "#44AA99", "#999933", "#332288",
)
MAIN, ACCENT, GOOD, MUTED = PALETTE[0], PALETTE[1], PALETTE[2], "#9aa5b1"
FONT = (
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, "
    "sans-serif"
)

#: plotly.js options of every figure: resizes with the page, and no toolbar,
#: which sat on top of legends and titles; zoom by dragging, reset by a double
#: click, still work.
CONFIG = {
    "displayModeBar": False,
    "responsive": True,
}

#: Width in pixels of a chart below which it takes its narrow layout.
NARROW_WIDTH = 500


def _layout(fig, height, narrow=None, **extra):
    """Give a figure the report's look.

    ``narrow`` holds the layout changes for a chart narrower than
    :data:`NARROW_WIDTH`, keyed by plotly.js attribute strings such as
    ``"margin.l"`` or ``"annotations[0].y"``; every chart also takes smaller
    text there, and dragging scrolls the page instead of zooming.
    """
    changes = {"font.size": 11, "dragmode": False}
    changes.update(narrow or {})
    settings = {
        "template": "plotly_white",
        "height": height,
        "autosize": True,
        "font": {"family": FONT, "size": 13, "color": "#1f2933"},
        "margin": {"l": 70, "r": 30, "t": 30, "b": 60},
        "hoverlabel": {"font": {"family": FONT}},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02,
                   "xanchor": "left", "x": 0},
        "separators": ".,",
        "meta": {"narrow": changes},
    }
    fig.update_layout(**dict(settings, **extra))
    return fig


def _grid(fig, rows, cols, titles, **options):
    """Narrow layout changes that redraw a one-row figure of panels as a
    ``rows`` x ``cols`` grid: the domains of its axes (or maps) and the
    places of its panel titles, taken from an empty grid of that shape.

    The panels keep their names (``xaxis2``, ``geo2``, ...) because
    :func:`~plotly.subplots.make_subplots` numbers them row by row.
    """
    grid = make_subplots(rows=rows, cols=cols, subplot_titles=titles, **options)
    layout = grid.layout.to_plotly_json()
    panels = fig.layout.to_plotly_json()
    changes = {
        f"{name}.domain": value["domain"] for name, value in layout.items()
        if name.startswith(("xaxis", "yaxis", "geo")) and name in panels
    }
    for position, title in enumerate(layout["annotations"]):
        changes[f"annotations[{position}].x"] = title["x"]
        changes[f"annotations[{position}].y"] = title["y"]
    return changes


def _money_ticks(low, high):
    """Tick values and labels (£10, £100, £1k, ...) for a log axis."""
    values, labels = [], []
    for power in range(math.floor(math.log10(max(low, 1))),
                       math.ceil(math.log10(max(high, 10))) + 1):
        value = 10 ** power
        values.append(value)
        labels.append(_short_money(value))
    return values, labels


def _short_money(value):
    """£13.7M, £568k, £950: three significant digits."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"£{float(f'{value / size:.3g}'):g}{suffix}"
    return f"£{float(f'{value:.3g}'):g}"


# --------------------------------------------------------------------------
# Data


def waterfall_figure(facts):
    """Lines read, each bucket set aside, lines kept: a horizontal waterfall."""
    labels = ["lines read"] + [s["label"] for s in facts["steps"]] + ["kept"]
    values = [facts["lines_read"]] + [s["lines"] for s in facts["steps"]] + [0]
    measures = ["absolute"] + ["relative"] * len(facts["steps"]) + ["total"]
    text = (
        [f"{facts['lines_read']:,}"]
        + [f"−{-s['lines']:,}" for s in facts["steps"]]
        + [f"{facts['lines_kept']:,}"]
    )
    hover = (
        ["every line of every input"]
        + [s["meaning"] for s in facts["steps"]]
        + ["purchase lines kept for the analysis"]
    )
    fig = go.Figure(go.Waterfall(
        orientation="h",
        y=labels,
        x=values,
        measure=measures,
        text=text,
        textposition="outside",
        cliponaxis=False,
        customdata=hover,
        hovertemplate="<b>%{y}</b>: %{text} lines<br>%{customdata}<extra></extra>",
        increasing={"marker": {"color": GOOD}},
        decreasing={"marker": {"color": PALETTE[5]}},
        totals={"marker": {"color": MAIN}},
        connector={"line": {"color": MUTED, "width": 1}},
    ))
    fig.update_yaxes(autorange="reversed", title=None)
    fig.update_xaxes(
        title="Lines", tickformat=",d",
        range=[0, facts["lines_read"] * 1.18],
    )
    return _layout(fig, 140 + 30 * len(labels), showlegend=False,
                   margin={"l": 170, "r": 30, "t": 20, "b": 50},
                   narrow={"margin.l": 130, "margin.r": 10, "xaxis.nticks": 4,
                           "xaxis.range": [0, facts["lines_read"] * 1.45]})


# --------------------------------------------------------------------------
# Exploration


#: The two panels of the map: (title, longitude range, latitude range).
MAP_PANELS = (
    ("Europe", [-24, 40], [34, 71]),
    ("World", [-180, 180], [-58, 85]),
)


def map_figure(facts):
    """Revenue by country on a map of Europe beside the world (above it on a
    narrow chart); places too small for the shapes are drawn as dots."""
    everything = facts["areas"] + facts["dots"]
    revenues = [max(r["revenue"], 1.0) for r in everything]
    low, high = min(revenues), max(revenues)
    ticks, labels = _money_ticks(low, high)

    def custom(rows):
        return [[r["name"], f"£{r['revenue']:,.0f}", f"{r['customers']:,}",
                 f"{r['orders']:,}"] for r in rows]

    def colour(rows):
        return [math.log10(max(r["revenue"], 1.0)) for r in rows]

    hover = (
        "<b>%{customdata[0]}</b><br>revenue %{customdata[1]}<br>"
        "%{customdata[2]} customers, %{customdata[3]} orders<extra></extra>"
    )
    fig = make_subplots(
        rows=1, cols=2, column_widths=[0.42, 0.58], horizontal_spacing=0.01,
        specs=[[{"type": "geo"}, {"type": "geo"}]],
        subplot_titles=[title for title, _, _ in MAP_PANELS],
    )
    for col in (1, 2):
        fig.add_trace(go.Choropleth(
            locations=[r["iso3"] for r in facts["areas"]],
            locationmode="ISO-3",
            z=colour(facts["areas"]),
            coloraxis="coloraxis",
            customdata=custom(facts["areas"]),
            hovertemplate=hover,
            marker={"line": {"color": "white", "width": 0.5}},
            name="countries",
        ), row=1, col=col)
        if facts["dots"]:
            fig.add_trace(go.Scattergeo(
                lon=[r["lon"] for r in facts["dots"]],
                lat=[r["lat"] for r in facts["dots"]],
                mode="markers",
                marker={
                    "size": 8,
                    "color": colour(facts["dots"]),
                    "coloraxis": "coloraxis",
                    "line": {"color": "#1f2933", "width": 0.8},
                },
                customdata=custom(facts["dots"]),
                hovertemplate=hover,
                name="small places",
            ), row=1, col=col)
    for col, (_, lon, lat) in enumerate(MAP_PANELS, start=1):
        fig.update_geos(
            scope="world",
            resolution=110,
            projection_type="mercator" if col == 1 else "natural earth",
            lonaxis_range=lon,
            lataxis_range=lat,
            showcountries=True,
            countrycolor="white",
            showland=True,
            landcolor="#e6e9ed",
            showcoastlines=False,
            showocean=False,
            showlakes=False,
            showrivers=False,
            showframe=col == 2,
            framecolor=MUTED,
            row=1, col=col,
        )
    fig.update_layout(coloraxis={
        "colorscale": "Blues",
        "cmin": math.log10(low),
        "cmax": math.log10(high),
        "colorbar": {
            "title": {"text": "Revenue (£)"},
            "tickvals": [math.log10(v) for v in ticks],
            "ticktext": labels,
            # Under the maps, so that stacked maps keep the whole width.
            "orientation": "h",
            "len": 0.5,
            "x": 0.5,
            "xanchor": "center",
            "y": -0.02,
            "yanchor": "top",
            "thickness": 14,
        },
    })
    # Narrow: Europe above the world, each as wide as the chart, and a
    # colour bar long enough for its ticks to stand upright.
    narrow = _grid(fig, 2, 1, [title for title, _, _ in MAP_PANELS],
                   specs=[[{"type": "geo"}], [{"type": "geo"}]],
                   row_heights=[0.62, 0.38], vertical_spacing=0.08)
    narrow.update({"height": 720, "margin.l": 0, "margin.r": 0,
                   "coloraxis.colorbar.len": 0.9})
    return _layout(fig, 480, showlegend=False, narrow=narrow,
                   margin={"l": 10, "r": 10, "t": 30, "b": 70})


def country_bars_figure(facts):
    """Revenue and customers of the top countries, side by side (log axes)."""
    rows = facts["rows"]
    names = [r["name"] for r in rows]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=("Revenue (£)", "Customers"))
    fig.add_trace(go.Bar(
        y=names, x=[r["revenue"] for r in rows], orientation="h",
        marker_color=MAIN, name="revenue",
        text=[_short_money(r["revenue"]) for r in rows],
        textposition="outside", cliponaxis=False,
        hovertemplate="<b>%{y}</b>: £%{x:,.0f}<extra></extra>",
    ), row=1, col=1)
    fig.add_trace(go.Bar(
        y=names, x=[r["customers"] for r in rows], orientation="h",
        marker_color=ACCENT, name="customers",
        text=[f"{r['customers']:,}" for r in rows],
        textposition="outside", cliponaxis=False,
        hovertemplate="<b>%{y}</b>: %{x:,} customers<extra></extra>",
    ), row=1, col=2)
    revenue = [max(r["revenue"], 1.0) for r in rows]
    customers = [max(r["customers"], 1) for r in rows]
    ticks, labels = _money_ticks(min(revenue), max(revenue))
    fig.update_xaxes(
        type="log", title="Revenue (£, log scale)", row=1, col=1,
        range=[math.log10(min(revenue)) - 0.3, math.log10(max(revenue)) + 0.7],
        tickvals=ticks, ticktext=labels,
    )
    fig.update_xaxes(
        type="log", title="Customers (log scale)", row=1, col=2,
        range=[-0.1, math.log10(max(customers)) + 0.6], dtick=1,
    )
    fig.update_yaxes(autorange="reversed")
    # Narrow: every other tick, and room beside the bars for their labels.
    narrow = {
        "margin.l": 100, "margin.r": 10,
        "xaxis.title.text": "log scale", "xaxis2.title.text": "log scale",
        "xaxis.tickvals": ticks[::2], "xaxis.ticktext": labels[::2],
        "xaxis.range": [math.log10(min(revenue)) - 0.3,
                        math.log10(max(revenue)) + 1.6],
        "xaxis2.range": [-0.1, math.log10(max(customers)) + 1.3],
    }
    return _layout(fig, 120 + 26 * len(rows), showlegend=False, narrow=narrow,
                   margin={"l": 140, "r": 30, "t": 40, "b": 50})


#: Narrow layout of a monthly chart: a tick every six months, on two lines.
NARROW_MONTHS = {
    "xaxis.dtick": "M6", "xaxis.tickformat": "%b<br>%Y", "xaxis.tickangle": 0,
    "margin.l": 50, "margin.r": 10,
}


def monthly_figure(facts):
    """Monthly revenue as bars and orders as a line on a second axis."""
    rows = facts["rows"]
    months = [r["month"] + "-01" for r in rows]
    colours = [MUTED if r["partial"] else MAIN for r in rows]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(
        x=months, y=[r["revenue"] for r in rows], marker_color=colours,
        name="revenue (£)",
        customdata=[" (partial month)" if r["partial"] else "" for r in rows],
        hovertemplate="%{x|%B %Y}%{customdata}: £%{y:,.0f}<extra></extra>",
    ), secondary_y=False)
    fig.add_trace(go.Scatter(
        x=months, y=[r["orders"] for r in rows], mode="lines+markers",
        line={"color": ACCENT, "width": 2}, name="orders",
        hovertemplate="%{x|%B %Y}: %{y:,} orders<extra></extra>",
    ), secondary_y=True)
    fig.update_yaxes(title="Revenue (£)", tickprefix="£", secondary_y=False)
    fig.update_yaxes(title="Orders", showgrid=False, rangemode="tozero",
                     tickmode="auto", nticks=6, separatethousands=True,
                     secondary_y=True)
    fig.update_xaxes(title="Month", dtick="M2", tickformat="%b %Y")
    return _layout(fig, 400, narrow=NARROW_MONTHS)


def new_returning_figure(facts):
    """Customers buying each month: new (first purchase) and returning."""
    rows = facts["rows"]
    months = [r["month"] + "-01" for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        x=months, y=[r["returning_customers"] for r in rows], name="returning",
        marker_color=MAIN,
        hovertemplate="%{x|%B %Y}: %{y:,} returning customers<extra></extra>",
    ))
    fig.add_trace(go.Bar(
        x=months, y=[r["new_customers"] for r in rows], name="new",
        marker_color=ACCENT,
        hovertemplate="%{x|%B %Y}: %{y:,} new customers<extra></extra>",
    ))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title="Customers buying in the month")
    fig.update_xaxes(title="Month", dtick="M2", tickformat="%b %Y")
    return _layout(fig, 380, narrow=NARROW_MONTHS)


def retention_figure(facts):
    """Heat map: cohort (first-purchase month) by months since first purchase."""
    z = [[None if v is None else 100 * v for v in row] for row in facts["shares"]]
    text = []
    for row, counts, size in zip(facts["shares"], facts["counts"], facts["sizes"]):
        text.append([
            "" if v is None else f"{100 * v:.1f}% ({c:,} of {size:,})"
            for v, c in zip(row, counts)
        ])
    observed = [v for row in z for v in row if v is not None]
    fig = go.Figure(go.Heatmap(
        z=z,
        x=facts["offsets"],
        y=facts["cohorts"],
        text=text,
        colorscale="Blues",
        zmin=0,
        zmax=float(np.percentile(observed, 98)) if observed else None,
        hoverongaps=False,
        colorbar={"title": {"text": "% of cohort"}, "ticksuffix": "%",
                  "thickness": 14},
        hovertemplate="cohort %{y}, month +%{x}: %{text}<extra></extra>",
    ))
    fig.update_yaxes(title="Cohort (month of first purchase)", autorange="reversed",
                     type="category", dtick=2 if len(facts["cohorts"]) > 14 else 1)
    fig.update_xaxes(title="Months since first purchase", dtick=1 if
                     len(facts["offsets"]) <= 14 else 2)
    return _layout(fig, max(320, 120 + 18 * len(facts["cohorts"])),
                   narrow={"margin.l": 50, "margin.r": 10, "xaxis.dtick": 3})


# --------------------------------------------------------------------------
# Products


def category_figure(facts):
    """Revenue and number of products per category, side by side."""
    rows = facts["rows"]
    names = [r["label"] for r in rows]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=("Revenue (£)", "Products"))
    fig.add_trace(go.Bar(
        y=names, x=[r["revenue"] for r in rows], orientation="h",
        marker_color=MAIN, text=[f"{100 * r['revenue_share']:.0f}%" for r in rows],
        textposition="outside", cliponaxis=False,
        hovertemplate="<b>%{y}</b>: £%{x:,.0f} (%{text} of revenue)<extra></extra>",
    ), row=1, col=1)
    fig.add_trace(go.Bar(
        y=names, x=[r["products"] for r in rows], orientation="h",
        marker_color=ACCENT, text=[f"{r['products']:,}" for r in rows],
        textposition="outside", cliponaxis=False,
        hovertemplate="<b>%{y}</b>: %{x:,} products<extra></extra>",
    ), row=1, col=2)
    fig.update_xaxes(title="Revenue (£)", tickprefix="£", row=1, col=1,
                     range=[0, max(r["revenue"] for r in rows) * 1.18])
    fig.update_xaxes(title="Products", row=1, col=2,
                     range=[0, max(r["products"] for r in rows) * 1.18])
    fig.update_yaxes(autorange="reversed")
    narrow = {
        "height": 120 + 34 * len(rows),
        "margin.l": 110, "margin.r": 10,
        "yaxis.tickvals": names, "yaxis.ticktext": [_wrap(n, 16) for n in names],
        "xaxis.nticks": 3, "xaxis2.nticks": 3,
        "xaxis.range": [0, max(r["revenue"] for r in rows) * 1.4],
        "xaxis2.range": [0, max(r["products"] for r in rows) * 1.4],
    }
    return _layout(fig, 120 + 28 * len(rows), showlegend=False, narrow=narrow,
                   margin={"l": 200, "r": 30, "t": 40, "b": 50})


# --------------------------------------------------------------------------
# Customers


#: Share of the customers below which an RFM tile shows only its name: on a
#: phone, such a tile has no room for the two lines of shares.
SMALL_TILE = 0.05


def rfm_figure(facts):
    """Treemap of the RFM segments: area = customers, colour = revenue share.

    Every tile is named; a tile of less than :data:`SMALL_TILE` of the
    customers shows its name alone, a word a line. Hovering gives the numbers.
    """
    rows = facts["rows"]
    root = "All customers"
    customers = sum(r["customers"] for r in rows)
    revenue = sum(r["revenue"] for r in rows)

    def amount(value):
        return _short_money(value) if value >= 1000 else f"£{value:,.0f}"

    small = [r["customer_share"] < SMALL_TILE for r in rows]
    # Short lines, so that a tile has room for its name and shares too.
    shares = (
        "<b>%{text}</b><br>%{customdata[1]} of customers"
        "<br>%{customdata[3]} of revenue"
    )
    fig = go.Figure(go.Treemap(
        labels=[root] + [r["segment"] for r in rows],
        parents=[""] + [root] * len(rows),
        values=[customers] + [r["customers"] for r in rows],
        text=[root] + [
            "<br>".join(r["segment"].split()) if tiny else _wrap(r["segment"], 12)
            for r, tiny in zip(rows, small)
        ],
        branchvalues="total",
        marker={
            "colors": [0.0] + [100 * r["revenue_share"] for r in rows],
            "coloraxis": "coloraxis",
            "line": {"color": "white", "width": 2},
        },
        customdata=[[f"{customers:,}", "100%", amount(revenue), "100%"]] + [
            [f"{r['customers']:,}", f"{100 * r['customer_share']:.1f}%",
             amount(r["revenue"]), f"{100 * r['revenue_share']:.1f}%"]
            for r in rows
        ],
        texttemplate=[shares] + [
            "<b>%{text}</b>" if tiny else shares for tiny in small
        ],
        hovertemplate=(
            "<b>%{label}</b><br>%{customdata[0]} customers (%{customdata[1]})"
            "<br>revenue %{customdata[2]} (%{customdata[3]})<extra></extra>"
        ),
        textfont={"size": 13},
        tiling={"pad": 2},
        pathbar={"visible": False},
        sort=True,
    ))
    fig.update_layout(coloraxis={
        "colorscale": "Blues", "cmin": 0,
        "colorbar": {"title": {"text": "% of revenue"}, "ticksuffix": "%",
                     "thickness": 14},
    })
    # Each tile's text shrinks on its own to fit the tile. Narrow, the tiles
    # take the colour bar's room; their text gives the revenue share.
    return _layout(fig, 440, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                   narrow={"height": 640, "coloraxis.showscale": False,
                           "margin.l": 0, "margin.r": 0})


def segment_share_figure(facts):
    """Share of customers and share of revenue of each behavioural segment."""
    rows = facts["rows"]
    names = [_wrap(name) for name in _unique(
        [r["name"] for r in rows], [r["segment"] for r in rows]
    )]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        y=names, x=[100 * r["customer_share"] for r in rows], name="customers",
        orientation="h", marker_color=MUTED, texttemplate="%{x:.0f}%",
        textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:.1f}% of customers<extra></extra>",
    ))
    fig.add_trace(go.Bar(
        y=names, x=[100 * r["revenue_share"] for r in rows], name="revenue",
        orientation="h", marker_color=MAIN, texttemplate="%{x:.0f}%",
        textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:.1f}% of revenue<extra></extra>",
    ))
    top = max(max(r["customer_share"], r["revenue_share"]) for r in rows)
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="Share of all customers or of all revenue (%)",
                     range=[0, min(110, 120 * top + 5)], ticksuffix="%")
    fig.update_yaxes(autorange="reversed")
    lines = max(name.count("<br>") + 1 for name in names)
    narrow_names = [_wrap(name.replace("<br>", " "), 16) for name in names]
    narrow_lines = max(name.count("<br>") + 1 for name in narrow_names)
    narrow = {
        "height": 130 + max(48, 14 * narrow_lines + 22) * len(rows),
        "margin.l": 120, "margin.r": 10,
        "yaxis.tickvals": names, "yaxis.ticktext": narrow_names,
        "xaxis.title.text": "Share of customers or revenue (%)",
    }
    return _layout(fig, 130 + max(48, 16 * lines + 22) * len(rows), narrow=narrow,
                   margin={"l": 230, "r": 30, "t": 40, "b": 50})


def _unique(names, ids):
    """Names made unique by their segment number where two are alike."""
    return [
        f"{name} (segment {id_})" if names.count(name) > 1 else name
        for name, id_ in zip(names, ids)
    ]


def _wrap(text, width=30):
    """Break a long label into lines for an axis."""
    return "<br>".join(textwrap.wrap(str(text), width)) or str(text)


def segment_features_figure(facts):
    """Median of each feature per segment, with everyone's median dashed.

    The panels stand in a row, or in a grid of two columns on a narrow chart.
    Each bar's value is written on a white ground, above the dashed line.
    """
    panels = facts["panels"]
    names = _unique([s["name"] for s in facts["segments"]],
                    [s["segment"] for s in facts["segments"]])
    titles = [
        f"{p['label']} (£)" if p["unit"] == "£" else p["label"] for p in panels
    ]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=titles,
                        horizontal_spacing=0.06)
    for col, panel in enumerate(panels, start=1):
        money = panel["unit"] == "£"
        value = "£%{y:,.0f}" if money else "%{y:,.0f}"
        for position, name in enumerate(names):
            height = panel["values"][position]
            fig.add_trace(go.Bar(
                x=[name], y=[height], name=name,
                legendgroup=name, showlegend=col == 1,
                marker_color=PALETTE[position % len(PALETTE)],
                hovertemplate=f"{name}: {value} (median)<extra></extra>",
            ), row=1, col=col)
            fig.add_annotation(
                x=name, y=height, yanchor="bottom", showarrow=False,
                text=f"£{height:,.0f}" if money else f"{height:,.0f}",
                bgcolor="rgba(255,255,255,0.9)", borderpad=1,
                row=1, col=col,
            )
        fig.add_trace(go.Scatter(
            x=[names[0], names[-1]], y=[panel["everyone"]] * 2, mode="lines",
            line={"color": "#52606d", "dash": "dash", "width": 1.5},
            name="all customers", legendgroup="all", showlegend=col == 1,
            hovertemplate=f"all customers: {value} (median)<extra></extra>",
        ), row=1, col=col)
        fig.update_yaxes(
            row=1, col=col, tickprefix="£" if money else "",
            range=[0, max(panel["values"] + [panel["everyone"]]) * 1.2],
        )
        fig.update_xaxes(showticklabels=False, row=1, col=col)
    fig.update_yaxes(title="Median per customer", row=1, col=1)
    rows = math.ceil(len(panels) / 2)
    narrow = _grid(fig, rows, 2, titles, vertical_spacing=0.16)
    narrow["height"] = 120 + 230 * rows
    return _layout(fig, 360, bargap=0.2, barmode="overlay", narrow=narrow,
                   legend={"orientation": "h", "yanchor": "top", "y": -0.04,
                           "xanchor": "left", "x": 0},
                   margin={"l": 60, "r": 20, "t": 40, "b": 40})


def scan_figure(facts):
    """Silhouette of the k-means segmentation for each k; the chosen k marked."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=facts["k"], y=facts["silhouette"], mode="lines+markers",
        line={"color": MAIN}, name="silhouette",
        hovertemplate="k=%{x}: silhouette %{y:.3f}<extra></extra>",
    ))
    chosen = facts["k"].index(facts["chosen"])
    fig.add_trace(go.Scatter(
        x=[facts["chosen"]], y=[facts["silhouette"][chosen]], mode="markers+text",
        marker={"color": ACCENT, "size": 14, "symbol": "star"},
        text=[f"chosen: k={facts['chosen']}"], textposition="top right",
        name="chosen", hoverinfo="skip",
    ))
    top = max(facts["silhouette"])
    fig.update_yaxes(title="Silhouette score",
                     range=[min(0, min(facts["silhouette"])), top * 1.25])
    fig.update_xaxes(title="Number of segments k", dtick=1)
    return _layout(fig, 340, showlegend=False,
                   narrow={"margin.l": 55, "margin.r": 10})


def stability_figure(facts):
    """Adjusted Rand index across seeds: mean and worst, on a 0-1 axis."""
    labels = [f"mean over {facts['seeds']} seeds", "worst pair"]
    values = [facts["ari_mean"], facts["ari_min"]]
    fig = go.Figure(go.Bar(
        y=labels, x=values, orientation="h", marker_color=[MAIN, ACCENT],
        text=[f"{v:.3f}" for v in values], textposition="outside",
        cliponaxis=False,
        hovertemplate="%{y}: ARI %{x:.3f}<extra></extra>",
    ))
    fig.add_vline(x=0.9, line_dash="dot", line_color="#52606d",
                  annotation_text="0.9: same segments",
                  annotation_position="top left")
    fig.update_xaxes(title="Adjusted Rand index (1 = identical segments)",
                     range=[0, 1.08])
    fig.update_yaxes(autorange="reversed")
    # The right margin holds the value written beside a bar reaching 1,
    # however narrow the chart: "0.996" is about 35 pixels wide.
    return _layout(fig, 230, showlegend=False,
                   margin={"l": 140, "r": 45, "t": 40, "b": 50},
                   narrow={"margin.l": 110,
                           "xaxis.title.text": "Adjusted Rand index"})


# --------------------------------------------------------------------------
# Prediction


def _apart_at_origin(fig):
    """Move the tick labels away from their axes, so that the two "0%" of a
    chart starting at (0, 0) do not overlap."""
    fig.update_xaxes(ticklabelstandoff=6)
    fig.update_yaxes(ticklabelstandoff=6)


def gain_figure(facts):
    """Cumulative share of actual spend against share of customers."""
    x = [100 * s for s in facts["customer_share"]]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=x, y=[100 * v for v in facts["perfect"]], name="perfect ranking",
        line={"color": GOOD, "dash": "dot"},
        hovertemplate="top %{x:.0f}%: %{y:.1f}% of spend<extra>perfect</extra>",
    ))
    fig.add_trace(go.Scatter(
        x=x, y=[100 * v for v in facts["model"]], name="forecast ranking",
        line={"color": MAIN, "width": 3},
        hovertemplate="top %{x:.0f}%: %{y:.1f}% of spend<extra>forecast</extra>",
    ))
    fig.add_trace(go.Scatter(
        x=[0, 100], y=[0, 100], name="random order",
        line={"color": MUTED, "dash": "dash"}, hoverinfo="skip",
    ))
    fig.update_xaxes(title="Test customers, highest forecast first (%)",
                     range=[0, 100], ticksuffix="%")
    fig.update_yaxes(title="Share of actual next-year spend (%)", range=[0, 102],
                     ticksuffix="%")
    _apart_at_origin(fig)
    return _layout(fig, 400, narrow={
        "margin.l": 55, "margin.r": 10,
        "xaxis.title.text": "Customers, highest forecast first (%)",
        "yaxis.title.text": "Share of next-year spend (%)",
    })


def scatter_figure(facts):
    """Predicted against actual spend, log axes, with decile means."""
    floor = 1.0
    predicted = [max(v, floor) for v in facts["predicted"]]
    actual = [max(v, floor) for v in facts["actual"]]
    high = max(max(predicted), max(actual))
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=predicted, y=actual, mode="markers", name="customers",
        marker={"color": MAIN, "size": 5, "opacity": 0.35},
        hovertemplate="predicted £%{x:,.0f}, actual £%{y:,.0f}<extra></extra>",
    ))
    deciles = facts["deciles"]
    fig.add_trace(go.Scatter(
        x=[max(d["predicted"], floor) for d in deciles],
        y=[max(d["actual"], floor) for d in deciles],
        mode="lines+markers", name="mean per tenth of forecasts",
        marker={"color": ACCENT, "size": 10}, line={"color": ACCENT},
        hovertemplate="mean predicted £%{x:,.0f}, mean actual £%{y:,.0f}"
        "<extra></extra>",
    ))
    fig.add_trace(go.Scatter(
        x=[floor, high], y=[floor, high], mode="lines", name="predicted = actual",
        line={"color": "#52606d", "dash": "dash"}, hoverinfo="skip",
    ))
    ticks, labels = _money_ticks(floor, high)
    for axis in (fig.update_xaxes, fig.update_yaxes):
        axis(type="log", tickvals=ticks, ticktext=labels)
    fig.update_xaxes(title="Predicted next-year spend (£, log scale)")
    fig.update_yaxes(title="Actual next-year spend (£, log scale; £0 shown at £1)")
    return _layout(fig, 440, narrow={
        "margin.l": 55, "margin.r": 10,
        "xaxis.title.text": "Predicted spend (£, log scale)",
        "yaxis.title.text": "Actual spend (£, log scale; £0 at £1)",
    })


def calibration_figure(facts):
    """Observed repeat rate against mean predicted probability per bin."""
    rows = facts["rows"]
    sizes = [r.get("customers") or 1 for r in rows]
    biggest = max(sizes)
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[0, 100], y=[0, 100], mode="lines", name="perfect calibration",
        line={"color": MUTED, "dash": "dash"}, hoverinfo="skip",
    ))
    fig.add_trace(go.Scatter(
        x=[100 * r["mean_predicted"] for r in rows],
        y=[100 * r["observed_rate"] for r in rows],
        mode="lines+markers", name="test customers",
        marker={"color": MAIN, "size": [8 + 22 * math.sqrt(s / biggest)
                                        for s in sizes]},
        line={"color": MAIN},
        customdata=[[r.get("bin", ""), s] for r, s in zip(rows, sizes)],
        hovertemplate="bin %{customdata[0]}: predicted %{x:.1f}%, observed "
        "%{y:.1f}% (%{customdata[1]:,} customers)<extra></extra>",
    ))
    fig.update_xaxes(title="Predicted repeat probability (%)", range=[0, 100],
                     ticksuffix="%")
    fig.update_yaxes(title="Observed repeat rate (%)", range=[0, 100],
                     ticksuffix="%")
    _apart_at_origin(fig)
    return _layout(fig, 400, narrow={"margin.l": 55, "margin.r": 10})


def coverage_figure(facts):
    """Share of actual spends inside the intervals, beside the nominal level."""
    rows = facts["rows"]
    names = [r["interval"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        x=names, y=[100 * r["coverage"] for r in rows], name="observed coverage",
        marker_color=MAIN, texttemplate="%{y:.1f}%", textposition="outside",
        hovertemplate="%{x}: %{y:.1f}% of actual spends inside<extra></extra>",
    ))
    if any(r.get("level") for r in rows):
        fig.add_trace(go.Bar(
            x=names, y=[100 * (r.get("level") or 0) for r in rows],
            name="nominal level", marker_color=MUTED,
            texttemplate="%{y:.0f}%", textposition="outside",
            hovertemplate="%{x}: nominal %{y:.0f}%<extra></extra>",
        ))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="Actual spends inside the interval (%)",
                     range=[0, 110], ticksuffix="%")
    fig.update_xaxes(title="Prediction interval")
    return _layout(fig, 320, narrow={"margin.l": 55, "margin.r": 10})


def backtest_figure(facts):
    """Gini and revenue ratio at each backtest origin, one line per model."""
    titles = ("Ranking: normalized Gini", "Revenue forecast: predicted / actual")
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=titles)
    colours = {}
    for series in facts["series"]:
        colour = colours.setdefault(series["model"], PALETTE[len(colours)])
        horizon = f", {series['horizon_days']}-day" if series["horizon_days"] else ""
        name = f"{series['label']} ({series['variant']}{horizon})"
        dash = "solid" if series["variant"] == "standard" else "dot"
        for col, key in ((1, "normalized_gini"), (2, "revenue_ratio")):
            if key == "normalized_gini" and series["model"].startswith("constant"):
                continue  # a constant ranks nobody: its Gini is 0
            fig.add_trace(go.Scatter(
                x=series["origins"], y=series[key], name=name, legendgroup=name,
                showlegend=col == 2, mode="lines+markers",
                line={"color": colour, "dash": dash},
                hovertemplate="cohort from %{x|%d %b %Y}: %{y:.2f}<extra>"
                + name + "</extra>",
            ), row=1, col=col)
    fig.add_hline(y=1, line_dash="dash", line_color="#52606d", row=1, col=2)
    fig.update_yaxes(title="Normalized Gini (1 = perfect order)", rangemode="tozero",
                     row=1, col=1)
    fig.update_yaxes(title="Predicted / actual revenue (x)", rangemode="tozero",
                     row=1, col=2)
    origins = sorted({day for series in facts["series"] for day in series["origins"]
                      if day != "-"})
    months = (int(origins[-1][:4]) - int(origins[0][:4])) * 12 + int(
        origins[-1][5:7]) - int(origins[0][5:7])
    fig.update_xaxes(title="First day of the test cohort", tickformat="%b %Y",
                     dtick="M1" if months <= 12 else "M3")
    # Narrow: one panel above the other, the upper one without its x title.
    narrow = _grid(fig, 2, 1, titles, vertical_spacing=0.16)
    narrow.update({"height": 820, "margin.l": 55, "margin.r": 10,
                   "margin.b": 230, "legend.y": -0.1, "xaxis.title.text": ""})
    # The legend sits well below both x-axis titles, which it overlapped.
    return _layout(fig, 500, legend={"orientation": "h", "yanchor": "top",
                                     "y": -0.36, "xanchor": "left", "x": 0},
                   margin={"l": 70, "r": 30, "t": 40, "b": 190}, narrow=narrow)


# --------------------------------------------------------------------------
# Customer lifetime value


def frequency_figure(facts):
    """Mean holdout purchases per past-frequency group: actual and models."""
    fig = go.Figure()
    fig.add_trace(go.Bar(
        x=facts["frequency"], y=facts["actual"], name="actual",
        marker_color=MUTED,
        customdata=facts["customers"],
        hovertemplate="%{x} past repeat purchases: %{y:.2f} actual "
        "(%{customdata:,} customers)<extra></extra>",
    ))
    for position, (model, values) in enumerate(facts["models"].items()):
        fig.add_trace(go.Scatter(
            x=facts["frequency"], y=values, name=model,
            mode="lines+markers", line={"color": PALETTE[position % 7]},
            hovertemplate="%{x}: %{y:.2f} forecast<extra>" + model + "</extra>",
        ))
    fig.update_xaxes(title="Repeat purchases before the holdout", type="category")
    fig.update_yaxes(title="Holdout purchases per customer (mean)")
    return _layout(fig, 380, narrow={"margin.l": 55, "margin.r": 10})


# --------------------------------------------------------------------------
# All figures


#: (section, chart) -> function drawing it; the id of its <div> is
#: ``fig-<section>-<chart>``.
FIGURES = {
    ("data", "waterfall"): waterfall_figure,
    ("exploration", "map"): map_figure,
    ("exploration", "countries"): country_bars_figure,
    ("exploration", "monthly"): monthly_figure,
    ("exploration", "customers_monthly"): new_returning_figure,
    ("exploration", "retention"): retention_figure,
    ("products", "categories"): category_figure,
    ("customers", "rfm"): rfm_figure,
    ("customers", "profiles"): segment_share_figure,
    ("customers", "features"): segment_features_figure,
    ("customers", "scan"): scan_figure,
    ("customers", "stability"): stability_figure,
    ("prediction", "gain"): gain_figure,
    ("prediction", "scatter"): scatter_figure,
    ("prediction", "calibration"): calibration_figure,
    ("prediction", "coverage"): coverage_figure,
    ("prediction", "backtest"): backtest_figure,
    ("clv", "by_frequency"): frequency_figure,
}


def figure_id(section, chart):
    """The id of a chart's ``<div>`` in the page."""
    return f"fig-{section}-{chart}".replace("_", "-")


def build_figures(facts):
    """Render every chart that has data into an HTML ``<div>``.

    Parameters
    ----------
    facts : dict
        What :func:`~shopseg.report.gather_facts` returns.

    Returns
    -------
    dict
        ``(section, chart)`` -> HTML of the figure (a ``<div>`` and the
        script that draws it with the page's plotly.js), for the charts
        whose facts hold no ``note``.
    """
    out = {}
    for (section, chart), draw in FIGURES.items():
        chart_facts = facts.get(section, {}).get(chart)
        if not chart_facts or chart_facts.get("note"):
            continue
        out[(section, chart)] = pio.to_html(
            draw(chart_facts),
            full_html=False,
            include_plotlyjs=False,
            config=CONFIG,
            div_id=figure_id(section, chart),
            default_width="100%",
            # The template's script switches the chart to its narrow layout.
            post_script="shopseg.fit('{plot_id}');",
        )
    return out


def uses_map(figures):
    """Whether the page draws the world map, and so needs the shapes."""
    return ("exploration", "map") in figures

