"""Draw an ArchitectureSpec as SVG, or as a standalone HTML page embedding the SVG.

Levels are columns from left (inputs) to right (output); units are boxes labelled with their
neurons; every edge is one ``<path class="edge ...">`` coloured by kind (predecessor grey,
skip blue, lateral orange; gated lateral edges dashed), with a legend. Lateral edges arc out
to the right of their column. Pure string generation: no plotting library.
"""

from __future__ import annotations

from html import escape as _html_escape
from xml.sax.saxutils import escape, quoteattr

from latticenas.arch.spec import ArchitectureSpec, Edge, EdgeKind, UnitRef

__all__ = ["EDGE_COLOURS", "render_html", "render_svg"]

EDGE_COLOURS: dict[EdgeKind, str] = {
    EdgeKind.PREDECESSOR: "#8c8c8c",
    EdgeKind.SKIP: "#1f77b4",
    EdgeKind.LATERAL: "#ff7f0e",
}
_DASH = "6 4"

_COL_W, _BOX_W, _BOX_H, _ROW_GAP = 170, 72, 34, 20
_MARGIN, _TOP, _LEGEND_H = 30, 78, 50


def _box_xy(spec: ArchitectureSpec, unit: UnitRef) -> tuple[float, float]:
    """Top-left corner of a unit's box; each column is centred vertically."""
    tallest = max(len(level) for level in spec.levels)
    n = len(spec.levels[unit.level])
    step = _BOX_H + _ROW_GAP
    x = _MARGIN + unit.level * _COL_W
    y = _TOP + (tallest - n) * step / 2 + unit.index * step
    return x, y


def _edge_path(spec: ArchitectureSpec, edge: Edge) -> str:
    """SVG path data: a horizontal S-curve forward, an arc to the right for laterals."""
    (sx, sy), (dx, dy) = _box_xy(spec, edge.src), _box_xy(spec, edge.dst)
    sy, dy = sy + _BOX_H / 2, dy + _BOX_H / 2
    if edge.kind is EdgeKind.LATERAL:
        right = sx + _BOX_W
        bulge = min(18 + 10 * (edge.dst.index - edge.src.index - 1), 60)
        return (f"M{right:.1f},{sy:.1f} C{right + bulge:.1f},{sy:.1f} "
                f"{right + bulge:.1f},{dy:.1f} {right:.1f},{dy:.1f}")
    x1, x2 = sx + _BOX_W, dx
    mid = (x2 - x1) / 2
    return f"M{x1:.1f},{sy:.1f} C{x1 + mid:.1f},{sy:.1f} {x2 - mid:.1f},{dy:.1f} {x2:.1f},{dy:.1f}"


def _edge_svg(spec: ArchitectureSpec, edge: Edge) -> str:
    kind = edge.kind.value
    dash = f' stroke-dasharray="{_DASH}"' if edge.gate_group is not None else ""
    gated = " gated" if edge.gate_group is not None else ""
    tip = f"{kind} {edge.src}->{edge.dst}"
    if edge.gate_group is not None:
        tip += f" gate group {edge.gate_group}"
    return (f'<path class="edge edge-{kind}{gated}" d="{_edge_path(spec, edge)}" fill="none" '
            f'stroke="{EDGE_COLOURS[edge.kind]}" stroke-width="1.4"{dash} '
            f'marker-end="url(#arrow-{kind})"><title>{escape(tip)}</title></path>')


def _unit_label(spec: ArchitectureSpec, unit: UnitRef) -> str:
    if unit.level == 0:
        return f"input {unit.index}" if len(spec.levels[0]) > 1 else "input"
    if unit == spec.output_unit:
        return f"out {spec.neurons(unit)}"
    return str(spec.neurons(unit))


def _unit_svg(spec: ArchitectureSpec, unit: UnitRef) -> str:
    x, y = _box_xy(spec, unit)
    fill = "#eef5e9" if unit.level == 0 or unit == spec.output_unit else "#ffffff"
    label = escape(_unit_label(spec, unit))
    tip = escape(f"unit {unit}: {spec.neurons(unit)} neurons")
    return (f'<g><rect class="unit" data-unit="{unit.level},{unit.index}" x="{x:.1f}" '
            f'y="{y:.1f}" width="{_BOX_W}" height="{_BOX_H}" rx="5" fill="{fill}" '
            f'stroke="#333"><title>{tip}</title></rect>'
            f'<text x="{x + _BOX_W / 2:.1f}" y="{y + _BOX_H / 2 + 4:.1f}" '
            f'text-anchor="middle">{label}</text></g>')


def _column_headers(spec: ArchitectureSpec) -> list[str]:
    headers = []
    for k in range(len(spec.levels)):
        name = "inputs" if k == 0 else "output" if k == spec.output_level else f"level {k}"
        x = _MARGIN + k * _COL_W + _BOX_W / 2
        headers.append(f'<text class="level" x="{x:.1f}" y="{_TOP - 12}" '
                       f'text-anchor="middle" fill="#555">{name}</text>')
    return headers


def _legend(y: float) -> list[str]:
    entries = [(kind.value, EDGE_COLOURS[kind], "") for kind in EdgeKind]
    entries.append(("gated lateral", EDGE_COLOURS[EdgeKind.LATERAL], _DASH))
    items = []
    for n, (name, colour, dash) in enumerate(entries):
        x = _MARGIN + n * 140
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        items.append(f'<line x1="{x}" y1="{y:.1f}" x2="{x + 30}" y2="{y:.1f}" '
                     f'stroke="{colour}" stroke-width="2"{dash_attr}/>'
                     f'<text x="{x + 36}" y="{y + 4:.1f}">{escape(name)}</text>')
    return ['<g class="legend">', *items, "</g>"]


def _markers() -> list[str]:
    return ["<defs>", *(
        f'<marker id="arrow-{kind.value}" viewBox="0 0 10 10" refX="10" refY="5" '
        f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        f'<polygon points="0,0 10,5 0,10" fill="{colour}"/></marker>'
        for kind, colour in EDGE_COLOURS.items()
    ), "</defs>"]


def _subtitle(spec: ArchitectureSpec) -> str:
    s = spec.summary()
    return (f"{s['units']} units, {s['edges']} edges: {s['predecessor_edges']} predecessor, "
            f"{s['skip_edges']} skip, {s['lateral_edges']} lateral "
            f"({s['gated_groups']} gated groups)")


def render_svg(spec: ArchitectureSpec, title: str | None = None) -> str:
    """Return a standalone SVG document: one ``rect.unit`` per unit, one ``path.edge`` per
    edge (in ``spec.edges`` order), column headers, a title and a legend."""
    title = title if title is not None else f"architecture {spec.content_hash[:12]}"
    tallest = max(len(level) for level in spec.levels)
    body_h = tallest * (_BOX_H + _ROW_GAP)
    width = max(2 * _MARGIN + (len(spec.levels) - 1) * _COL_W + _BOX_W + 60, 4 * 140 + _MARGIN)
    height = _TOP + body_h + _LEGEND_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
        f'viewBox="0 0 {width} {height:.0f}" font-family="sans-serif" font-size="12">',
        *_markers(),
        f'<text x="{_MARGIN}" y="24" font-size="16" font-weight="bold">{escape(title)}</text>',
        f'<text x="{_MARGIN}" y="44" fill="#555">{escape(_subtitle(spec))}</text>',
        *_column_headers(spec),
        '<g class="edges">', *(_edge_svg(spec, e) for e in spec.edges), "</g>",
        '<g class="units">', *(_unit_svg(spec, u) for u in spec.units()), "</g>",
        *_legend(_TOP + body_h + _LEGEND_H / 2),
        "</svg>",
    ]
    return "\n".join(parts)


def render_html(spec: ArchitectureSpec, title: str | None = None) -> str:
    """Return a standalone HTML page: the SVG, a table of counts and the spec's JSON."""
    title = title if title is not None else f"architecture {spec.content_hash[:12]}"
    rows = "\n".join(f"<tr><th>{_html_escape(k)}</th><td>{v}</td></tr>"
                     for k, v in spec.summary().items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{_html_escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; }}
pre {{ background: #f6f6f6; padding: 1em; overflow: auto; }}
</style>
</head>
<body>
<h1>{_html_escape(title)}</h1>
<p>content hash <code>{spec.content_hash}</code>, seed <code>{spec.seed}</code></p>
{render_svg(spec, title)}
<table>
{rows}
</table>
<details><summary>spec JSON</summary>
<pre data-spec={quoteattr(spec.content_hash)}>{_html_escape(spec.to_json(indent=1))}</pre>
</details>
</body>
</html>
"""
