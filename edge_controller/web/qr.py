"""QR codes as SVG (segno, a maintained pure-Python QR encoder: no image library, no network).
Always a full QR code, never a Micro QR that phone cameras do not read. segno is imported at
the first code made, not with the web faces: most pages never show one."""

from __future__ import annotations

import io

ERROR_LEVEL = "m"  # survives ~15 % of a scratched or dirty sticker


def qr_svg(url: str, scale: int = 8) -> str:
    """A standalone SVG of ``url``'s QR code (quiet zone included)."""
    import segno

    out = io.BytesIO()
    segno.make_qr(url, error=ERROR_LEVEL).save(out, kind="svg", scale=scale, xmldecl=False)
    return out.getvalue().decode()


def qr_matrix(url: str) -> list[list[bool]]:
    """The code's modules, row by row (True: dark), without the quiet zone."""
    import segno

    code = segno.make_qr(url, error=ERROR_LEVEL)
    return [[bool(cell) for cell in row] for row in code.matrix]
