"""A printable sheet of payment QR stickers, one per connector (``edge-controller qr``): A4
pages of 2 x 3 stickers, each its connector's name, its QR code and the URL it opens.

SVG and PDF carry the names and URLs as text; PNG is the codes alone in the same order (no font
renderer here), for a print shop that wants a bitmap. The PDF and PNG are written here (a PDF
of filled squares and Helvetica text needs no library); segno gives the modules.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from edge_controller.web.qr import qr_matrix

PAGE_MM = (210.0, 297.0)  # A4
COLUMNS, ROWS = 2, 3
STICKER_MM = 90.0
QR_MM = 60.0
MARGIN_MM = (PAGE_MM[0] - COLUMNS * STICKER_MM) / 2
PT_PER_MM = 72 / 25.4
PNG_MODULE_PX = 8
QUIET_MODULES = 4


@dataclass(frozen=True, slots=True)
class Sticker:
    connector_id: str
    url: str
    caption: str = "Scan to pay"


def _place(index: int) -> tuple[int, float, float]:
    """Page number and the sticker's top-left corner on it (mm from the page's top-left)."""
    page, slot = divmod(index, COLUMNS * ROWS)
    row, column = divmod(slot, COLUMNS)
    top = 10.0 + row * STICKER_MM
    return page, MARGIN_MM + column * STICKER_MM, top


def _pages(count: int) -> int:
    return max(1, -(-count // (COLUMNS * ROWS)))


def svg_sheet(stickers: Sequence[Sticker]) -> str:
    """Every page one under the other in one SVG (mm units)."""
    width, height = PAGE_MM[0], PAGE_MM[1] * _pages(len(stickers))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}mm" height="{height}mm" '
        f'viewBox="0 0 {width} {height}"><rect width="100%" height="100%" fill="#fff"/>'
    ]
    for index, sticker in enumerate(stickers):
        page, x, y = _place(index)
        y += page * PAGE_MM[1]
        parts.append(_svg_sticker(sticker, x, y))
    parts.append("</svg>")
    return "".join(parts)


def _svg_sticker(sticker: Sticker, x: float, y: float) -> str:
    matrix = qr_matrix(sticker.url)
    module = QR_MM / len(matrix)
    left, top = x + (STICKER_MM - QR_MM) / 2, y + 14
    squares = "".join(
        f"M{left + c * module:.3f} {top + r * module:.3f}h{module:.3f}v{module:.3f}h-{module:.3f}z"
        for r, row in enumerate(matrix)
        for c, dark in enumerate(row)
        if dark
    )
    middle = x + STICKER_MM / 2
    return (
        f'<rect x="{x + 2}" y="{y + 2}" width="{STICKER_MM - 4}" height="{STICKER_MM - 4}" '
        'fill="none" stroke="#999" stroke-width="0.3" stroke-dasharray="2 2"/>'
        f'<text x="{middle}" y="{y + 10}" font-family="sans-serif" font-size="6" '
        f'font-weight="bold" text-anchor="middle">{escape(sticker.connector_id)}</text>'
        f'<path d="{squares}" fill="#000"/>'
        f'<text x="{middle}" y="{top + QR_MM + 6}" font-family="sans-serif" font-size="5" '
        f'text-anchor="middle">{escape(sticker.caption)}</text>'
        f'<text x="{middle}" y="{top + QR_MM + 10}" font-family="sans-serif" font-size="2.2" '
        f'text-anchor="middle">{escape(sticker.url)}</text>'
    )


def _pdf_text(text: str) -> str:
    latin = text.encode("latin-1", "replace").decode("latin-1")
    return latin.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _pdf_sticker(sticker: Sticker, x: float, y: float) -> str:
    """Drawing operators of one sticker (PDF points, origin bottom-left)."""
    matrix = qr_matrix(sticker.url)
    module = QR_MM / len(matrix) * PT_PER_MM
    left = (x + (STICKER_MM - QR_MM) / 2) * PT_PER_MM
    top = (PAGE_MM[1] - y - 14) * PT_PER_MM
    squares = [
        f"{left + c * module:.2f} {top - (r + 1) * module:.2f} {module:.2f} {module:.2f} re"
        for r, row in enumerate(matrix)
        for c, dark in enumerate(row)
        if dark
    ]
    ops = ["0 g", *squares, "f"]  # every module one path, filled once
    middle = (x + STICKER_MM / 2) * PT_PER_MM
    name_y = (PAGE_MM[1] - y - 10) * PT_PER_MM
    below = top - QR_MM * PT_PER_MM
    texts = [
        (sticker.connector_id, 16, name_y),
        (sticker.caption, 13, below - 16),
        (sticker.url, 6, below - 28),
    ]
    for text, size, text_y in texts:
        # Centred by the text's width in Helvetica's average advance (about half its size).
        start = middle - len(text) * size * 0.25
        ops.append(f"BT /F1 {size} Tf {start:.2f} {text_y:.2f} Td ({_pdf_text(text)}) Tj ET")
    return "\n".join(ops)


def pdf_sheet(stickers: Sequence[Sticker]) -> bytes:
    pages: list[list[str]] = [[] for _ in range(_pages(len(stickers)))]
    for index, sticker in enumerate(stickers):
        page, x, y = _place(index)
        pages[page].append(_pdf_sticker(sticker, x, y))
    width, height = (round(v * PT_PER_MM, 2) for v in PAGE_MM)
    # Objects: 1 catalog, 2 page tree, 3 font, then a page and its content per page.
    kids = " ".join(f"{4 + 2 * n} 0 R" for n in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for n, content in enumerate(pages):
        stream = zlib.compress("\n".join(content).encode("latin-1"))
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * n} 0 R >>".encode()
        )
        objects.append(
            f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode()
            + stream
            + b"\nendstream"
        )
    return _pdf_file(objects)


def _pdf_file(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def png_sheet(stickers: Sequence[Sticker]) -> bytes:
    """The codes in a grid of ``COLUMNS`` per row, in the stickers' order, each with its quiet
    zone; 1-bit greyscale."""
    matrices = [qr_matrix(s.url) for s in stickers] or [[[False]]]
    cell = max(len(m) for m in matrices) + 2 * QUIET_MODULES
    rows = -(-len(matrices) // COLUMNS)
    width, height = COLUMNS * cell * PNG_MODULE_PX, rows * cell * PNG_MODULE_PX
    dark: set[tuple[int, int]] = set()
    for index, matrix in enumerate(matrices):
        row, column = divmod(index, COLUMNS)
        for r, line in enumerate(matrix):
            for c, on in enumerate(line):
                if on:
                    dark.add((row * cell + QUIET_MODULES + r, column * cell + QUIET_MODULES + c))
    lines = bytearray()
    for y in range(height):
        bits = [0 if (y // PNG_MODULE_PX, x // PNG_MODULE_PX) in dark else 1 for x in range(width)]
        packed = bytes(
            int("".join(map(str, bits[i : i + 8])).ljust(8, "1"), 2) for i in range(0, width, 8)
        )
        lines += b"\x00" + packed
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(lines), 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
