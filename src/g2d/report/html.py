"""HTML pieces of the report: tables, embedded figures, the page. Static: no script, no network —
images are base64 ``data:`` URIs and the style sheet is inline."""
from __future__ import annotations

import base64
import html
import math
import struct
from typing import Any, Sequence

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1440px;
padding:1.2em 2em;color:#1b1b1b;line-height:1.45}
@media (max-width:600px){body{padding:.8em .7em}h1{font-size:1.3em}
figure{overflow-x:auto}figure img{min-width:640px}}
p.headline{font-size:1.15em;font-weight:600;margin:.3em 0 .2em;color:#111}
.scroll{overflow-x:auto;max-width:100%}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:2px solid #ddd;padding-bottom:.2em}
h3{font-size:1em;margin:.6em 0 .3em}p.lead{color:#555;margin-top:0}
.row{display:flex;flex-wrap:wrap;gap:1.4em;align-items:flex-start}.card{flex:0 1 auto;min-width:18em}
table{border-collapse:collapse;font-size:.9em;margin:.3em 0 .8em}
th,td{padding:.25em .7em;border-bottom:1px solid #e3e3e3;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{border-bottom:2px solid #999;background:#fafafa}
td.best{font-weight:700}td.teacher{color:#666}
figure{margin:.6em 0 1.2em}figure img{width:100%;height:auto;border:1px solid #eee;box-sizing:border-box}
figcaption{font-size:.88em;color:#444;max-width:70em}.note{color:#8a5a00;font-size:.9em}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.3em;vertical-align:middle}
code{background:#f4f4f4;padding:0 .25em;border-radius:3px}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 2, scale: float = 1.0, suffix: str = "") -> str:
    """Numbers to text; None / NaN -> an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value * scale:.{digits}f}{suffix}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "",
          classes: Sequence[Sequence[str]] | None = None) -> str:
    """A table; cells are already-formatted strings (escaped here); ``classes`` per cell."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for j, cell in enumerate(row):
            cls = classes[i][j] if classes and classes[i][j] else ""
            tag = "th" if j == 0 else "td"
            cells.append(f'<{tag}{f" class={chr(34)}{cls}{chr(34)}" if cls else ""}>{esc(cell)}</{tag}>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    # a wide table scrolls inside its own box on a narrow screen instead of widening the page
    return (f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def card(title: str, content: str) -> str:
    return f'<div class="card"><h3>{esc(title)}</h3>{content}</div>'


def row(parts: Sequence[str]) -> str:
    return f'<div class="row">{"".join(parts)}</div>' if parts else ""


def png_width(png: bytes) -> int:
    """The pixel width recorded in a PNG's header (IHDR)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        raise ValueError("not a PNG image")
    return struct.unpack(">I", png[16:20])[0]


def figure(png: bytes, alt: str, caption: str, files: Sequence[str] = ()) -> str:
    """An embedded figure as wide as the page allows, never wider than its own pixels (no blur)."""
    data = base64.b64encode(png).decode("ascii")
    links = f" Files: {', '.join(f'<code>{esc(f)}</code>' for f in files)}." if files else ""
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}" '
            f'style="max-width:{png_width(png)}px">'
            f"<figcaption>{esc(caption)}{links}</figcaption></figure>")


def legend(colours: dict[str, str], what: str) -> str:
    items = "".join(f'<span style="margin-right:1em"><span class="swatch" style="background:{esc(c)}">'
                    f"</span>{esc(n)}</span>" for n, c in colours.items())
    return f'<p class="lead">{esc(what)}: {items}</p>'


def section(anchor: str, title: str, intro: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2><p class="lead">{esc(intro)}</p>{body}</section>'


def page(title: str, subtitle: str, sections: Sequence[str], headlines: Sequence[str] = ()) -> str:
    """The whole document; ``headlines``: one-line results shown first, under the title."""
    top = "".join(f'<p class="headline">{esc(h)}</p>' for h in headlines)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>{top}<p class=\"lead\">{esc(subtitle)}</p>"
            + "\n".join(sections) + "</body></html>\n")
