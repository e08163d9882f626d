"""The world's country shapes, shipped in the package so the map draws offline."""

import functools
import json
from importlib import resources

#: Name under which plotly.js looks up the shapes of a world map at 1:110m.
TOPOJSON_NAME = "world_110m"


@functools.cache
def world_topology_text():
    """The TopoJSON of the countries (see ``data/README.md``), as text."""
    path = resources.files(__package__) / "data" / f"{TOPOJSON_NAME}.json"
    return path.read_text(encoding="utf-8")


@functools.cache
def world_country_names():
    """ISO-3 code -> name of every country the map's shapes hold."""
    topology = json.loads(world_topology_text())
    return {
        geometry["id"]: geometry["properties"]["name"]
        for geometry in topology["objects"]["countries"]["geometries"]
    }
