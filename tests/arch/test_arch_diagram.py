"""render_svg / render_html: well-formed XML, one box per unit, one path per edge."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from latticenas.arch import sample_architecture
from latticenas.arch.diagram import EDGE_COLOURS, render_html, render_svg
from latticenas.params import ParameterSet

NS = "{http://www.w3.org/2000/svg}"


def specs():
    params = ParameterSet(p_lateral_connection=0.8, maximum_units_per_level=6, maximum_levels=4,
                          predecessor_level_connection_affinity_factor_main=0.3)
    return [sample_architecture(params, output_size=3, final_activation="softmax", seed=s,
                                input_units=1 + s % 2) for s in range(12)]


def classes(element) -> set[str]:
    return set(element.get("class", "").split())


@pytest.mark.parametrize("spec", specs(), ids=lambda s: str(s.seed))
def test_svg_has_one_box_per_unit_and_one_path_per_edge(spec):
    root = ET.fromstring(render_svg(spec))
    assert root.tag == f"{NS}svg"
    boxes = [r for r in root.iter(f"{NS}rect") if "unit" in classes(r)]
    assert len(boxes) == len(spec.units())
    assert {b.get("data-unit") for b in boxes} == {f"{u.level},{u.index}" for u in spec.units()}
    paths = list(root.iter(f"{NS}path"))
    assert len(paths) == len(spec.edges)
    for path, edge in zip(paths, spec.edges):
        assert f"edge-{edge.kind.value}" in classes(path)
        assert path.get("stroke") == EDGE_COLOURS[edge.kind]
        assert (path.get("stroke-dasharray") is not None) == (edge.gate_group is not None)
        assert re.fullmatch(r"M[-\d.]+,[-\d.]+ C.*", path.get("d"))


def test_svg_shows_labels_legend_and_an_escaped_title():
    spec = specs()[1]
    svg = render_svg(spec, title="a <b> & 'c'")
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "a <b> & 'c'" in texts
    for name in ("predecessor", "skip", "lateral", "gated lateral", "inputs", "output"):
        assert name in texts
    hidden = spec.units()[len(spec.levels[0]):-1]
    assert all(str(spec.neurons(u)) in texts for u in hidden)
    assert "out 3" in texts
    assert spec.content_hash[:12] in render_svg(spec)


def test_html_page_embeds_the_svg():
    spec = specs()[0]
    page = render_html(spec, title="run <1>")
    assert page.startswith("<!DOCTYPE html>") and "<title>run &lt;1&gt;</title>" in page
    svg = page[page.index("<svg"):page.index("</svg>") + len("</svg>")]
    root = ET.fromstring(svg)
    assert len(list(root.iter(f"{NS}path"))) == len(spec.edges)
    assert spec.content_hash in page
