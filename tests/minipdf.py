"""Small, valid PDF files written by hand for the tests (no PDF library needed to make them).

A page given as strings is one text object that shows them in 11-point Helvetica, one under
the other. A page given as ``Line`` objects is laid out as a word processor writes it: each
line its own text object at an absolute position, in its own size and weight, kerned, with
a paragraph's extra space above its first line (see ``paragraph``). ``image_only`` pages
draw a tiny inline image and hold no text, like a scanned page.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

#: Where the first line of a laid-out page hangs from, in points from the bottom.
TOP = 756.0
#: Baseline to baseline, in font sizes, as word processors set single spacing.
LEADING = 1.2


@dataclass(frozen=True)
class Line:
    text: str
    size: float = 11.0
    bold: bool = False
    #: Extra space above the line beyond the leading (a paragraph's space before or after).
    space_before: float = 0.0
    x: float = 72.0


def paragraph(text: str, width: int = 80, *, size: float = 11.0, space_before: float = 0.0,
              bold: bool = False) -> list[Line]:
    """``text`` wrapped at ``width`` characters, as lines of one paragraph."""
    return [Line(t, size=size, bold=bold, space_before=space_before if i == 0 else 0.0)
            for i, t in enumerate(textwrap.wrap(text, width))]


#: Letter pairs a word processor kerns: they are shown as separate strings in a TJ array.
_KERN = re.compile(r"(?<=[TVWY])(?=[aeoruy])|(?<=[AL])(?=[TVWY])")


def _kerned(text: str) -> bytes:
    parts = _KERN.split(text)
    return b"[" + b" 70 ".join(b"(" + _escape(p) + b")" for p in parts) + b"] TJ"


def _layout_stream(lines: list[Line]) -> bytes:
    out, y = [], TOP
    for n, line in enumerate(lines):
        y -= line.size if n == 0 else LEADING * line.size + line.space_before
        font = b"/F2" if line.bold else b"/F1"
        out.append(b"BT " + font + f" {line.size:g} Tf 1 0 0 1 {line.x:.2f} {y:.2f} Tm "
                   .encode() + _kerned(line.text) + b" ET")
    return b"\n".join(out)


def _escape(line: str) -> bytes:
    return (line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            .encode("cp1252"))


def _text_stream(lines: list[str]) -> bytes:
    out = [b"BT /F1 11 Tf 14 TL 72 720 Td"]
    for line in lines:
        out.append(b"(" + _escape(line) + b") Tj T*")
    out.append(b"ET")
    return b"\n".join(out)


_IMAGE_STREAM = (b"q 200 0 0 200 72 500 cm BI /W 2 /H 2 /CS /G /BPC 8 ID \x00\xff\xff\x00 EI Q")


def _info(info: dict[str, str]) -> bytes:
    return b"<< " + b" ".join(b"/" + k.encode() + b" (" + _escape(v) + b")"
                              for k, v in info.items()) + b" >>"


def _page_stream(lines: list[str] | list[Line] | list[str | Line]) -> bytes:
    if all(isinstance(t, str) for t in lines):
        return _text_stream([t for t in lines if isinstance(t, str)])
    return _layout_stream([t if isinstance(t, Line) else Line(t) for t in lines])


def make_pdf(pages: list[list[str]] | list[list[Line]] | list[list[str | Line]] | None = None,
             *, info: dict[str, str] | None = None, image_only: int = 0) -> bytes:
    """A PDF whose pages show ``pages`` (each a list of lines), or ``image_only`` pages
    without text; ``info`` is the document information (Title, Author, CreationDate)."""
    streams = [_page_stream(p) for p in pages or []] + [_IMAGE_STREAM] * image_only
    n = len(streams)
    bold = str(5 + 2 * n).encode()
    # objects: 1 catalog, 2 pages, 3 font, 4 info, per page: page, content; then the bold font
    kids = " ".join(f"{5 + 2 * i} 0 R" for i in range(n)).encode()
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count " + str(n).encode() + b" >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        _info(info or {}),
    ]
    for i, stream in enumerate(streams):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       b"/Resources << /Font << /F1 3 0 R /F2 " + bold + b" 0 R >> >> "
                       b"/Contents "
                       + str(6 + 2 * i).encode() + b" 0 R >>")
        objects.append(b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream
                       + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold "
                   b"/Encoding /WinAnsiEncoding >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for num, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{num} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 4 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)
