"""Engraved scores: MusicXML from a music21 stream, and a PNG of it rendered by verovio.

The report showed its melodies in MuseScore; verovio (PyPI) engraves MusicXML to SVG with no
desktop program, and cairosvg rasterises the SVG to PNG. Every file is written atomically.
"""

from __future__ import annotations

import contextlib
import functools
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from midigen_tf.errors import MidigenError
from midigen_tf.io import atomic

SVG_NS = "http://www.w3.org/2000/svg"


def write_musicxml(stream, path: str | os.PathLike) -> Path:
    """Write a music21 stream as MusicXML (``.musicxml``/``.xml``)."""
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    data = GeneralObjectExporter(stream).parse()  # bytes, without music21's file side effects
    return atomic.write_output(path, lambda p: p.write_bytes(data))


def _toolkit(musicxml: str | os.PathLike, width: int = 2100, scale: int = 40):
    import verovio

    tk = verovio.toolkit()
    tk.setOptions({"pageWidth": width, "scale": scale, "adjustPageHeight": True,
                   "footer": "none", "header": "auto",
                   "smuflTextFont": "none"})  # cairosvg cannot use an embedded web font anyway
    if not tk.loadData(Path(musicxml).read_text(encoding="utf-8")):
        raise MidigenError(f"verovio could not read {musicxml}",
                           hint="the MusicXML may be empty; generate more steps")
    return tk


@functools.lru_cache(maxsize=None)
def _glyph(resources: str, font: str, code: str) -> tuple[str, float] | None:
    """The SVG path element and the advance width (font units) of one SMuFL glyph, or None."""
    glyph = Path(resources, font, f"{code}.xml")
    if not glyph.is_file():
        return None
    advance = 1000.0
    with contextlib.suppress(OSError, ET.ParseError, ValueError, TypeError):
        box = ET.parse(Path(resources, f"{font}.xml")).getroot().find(f"g[@c='{code}']")
        advance = float(box.get("h-a-x"))
    return glyph.read_text(encoding="utf-8"), advance


def draw_text_glyphs(svg: str, resources: str) -> str:
    """Verovio writes music symbols inside text (the note of a tempo mark: "[note] = 120") as
    characters of its SMuFL font, which an SVG rasteriser without that font draws as empty
    boxes. Each such leading character becomes the glyph's outline (a path from verovio's own
    font files) and the rest of the text moves right by the glyph's advance width."""
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    root = ET.fromstring(svg)
    for parent in list(root.iter()):
        for index, text in enumerate(list(parent)):
            if text.tag == f"{{{SVG_NS}}}text":
                _outline_leading_glyphs(parent, index, text, resources)
    return ET.tostring(root, encoding="unicode")


def _outline_leading_glyphs(parent, index: int, text, resources: str) -> None:
    try:
        x, y = float(text.get("x")), float(text.get("y"))
    except (TypeError, ValueError):
        return
    cursor = x
    for span in text.iter(f"{{{SVG_NS}}}tspan"):
        font = span.get("font-family")
        if not font or not Path(resources, font).is_dir():
            if (span.text or "").strip():
                break  # ordinary text: later symbols stay as they are
            continue
        size = float(str(span.get("font-size", "0")).rstrip("px") or 0)
        for char in span.text or "":
            found = _glyph(resources, font, f"{ord(char):04X}")
            if found is None:
                return
            path, advance = found
            group = ET.fromstring(f'<g xmlns="{SVG_NS}" class="textGlyph" '
                                  f'transform="translate({cursor:g}, {y:g}) '
                                  f'scale({size / 1000:g}, {size / 1000:g})">{path}</g>')
            for element in group.iter():
                element.attrib.pop("id", None)  # the glyph file's id would repeat per use
            parent.insert(index + 1, group)
            cursor += advance * size / 1000
        span.text = ""
    text.set("x", f"{cursor:g}")


def render_svgs(musicxml: str | os.PathLike, pages: int | None = None, width: int = 2100,
                scale: int = 40) -> tuple[list[str], int]:
    """The SVGs of the first ``pages`` pages (None: all) and the score's page count."""
    tk = _toolkit(musicxml, width, scale)
    total = tk.getPageCount()
    count = total if pages is None else max(0, min(int(pages), total))
    resources = tk.getResourcePath()
    return [draw_text_glyphs(tk.renderToSVG(p), resources) for p in range(1, count + 1)], total


def page_paths(path: str | os.PathLike, count: int) -> list[Path]:
    """``song.score.png``, ``song.score-2.png``, ... for ``count`` pages."""
    path = Path(path)
    return [path] + [path.with_name(f"{path.stem}-{k}{path.suffix}") for k in range(2, count + 1)]


def _cairosvg(path):
    try:
        import cairosvg
    except (ImportError, OSError) as err:  # OSError: the cairo C library is missing
        raise MidigenError(f"cannot render {path}: cairosvg is not usable ({err})",
                           hint="pip install cairosvg (needs the cairo library, "
                           "apt-get install libcairo2), or use the MusicXML/SVG") from err
    return cairosvg


def _write_svg_png(svg: str, path: str | os.PathLike, dpi_scale: float) -> Path:
    cairosvg = _cairosvg(path)
    return atomic.write_with(path, lambda p: cairosvg.svg2png(
        bytestring=svg.encode("utf-8"), write_to=str(p), background_color="white",
        scale=dpi_scale))


def write_pngs(musicxml: str | os.PathLike, path: str | os.PathLike, pages: int | None = None,
               dpi_scale: float = 1.0) -> tuple[list[Path], int]:
    """Render the first ``pages`` pages (None: all) of a MusicXML file to PNGs on a white
    background: page 1 at ``path``, page k beside it as ``<stem>-k.png``. Returns the files
    written and the score's page count."""
    _cairosvg(path)
    svgs, total = render_svgs(musicxml, pages)
    return [_write_svg_png(svg, target, dpi_scale)
            for svg, target in zip(svgs, page_paths(path, len(svgs)))], total


def write_score(stream, stem: str | os.PathLike, png: bool = True) -> list[Path]:
    """``stem.musicxml`` and (if ``png``) ``stem.png`` (``stem-2.png``, ... for more pages);
    returns the files written."""
    stem = Path(stem)
    xml = write_musicxml(stream, stem.with_suffix(".musicxml"))
    out = [xml]
    if png:
        out += write_pngs(xml, stem.with_suffix(".png"))[0]
    return out
