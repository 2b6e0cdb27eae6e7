"""Small, valid PDF files written by hand for the tests (no PDF library needed to make them).

Each page is a content stream that shows its lines in Helvetica; ``image_only`` pages draw
a tiny inline image and hold no text, like a scanned page.
"""

from __future__ import annotations


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


def make_pdf(pages: list[list[str]] | None = None, *, info: dict[str, str] | None = None,
             image_only: int = 0) -> bytes:
    """A PDF whose pages show ``pages`` (each a list of lines), or ``image_only`` pages
    without text; ``info`` is the document information (Title, Author, CreationDate)."""
    streams = [_text_stream(p) for p in pages or []] + [_IMAGE_STREAM] * image_only
    n = len(streams)
    # objects: 1 catalog, 2 pages, 3 font, 4 info, then per page: page, content
    kids = " ".join(f"{5 + 2 * i} 0 R" for i in range(n)).encode()
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count " + str(n).encode() + b" >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        _info(info or {}),
    ]
    for i, stream in enumerate(streams):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       b"/Resources << /Font << /F1 3 0 R >> >> /Contents "
                       + str(6 + 2 * i).encode() + b" 0 R >>")
        objects.append(b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream
                       + b"\nendstream")
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
