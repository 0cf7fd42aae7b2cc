"""``edge-controller qr``: the sticker sheet in PDF, SVG and PNG, each checked against the
codes it must carry (the PNG's modules read back and compared with the QR code of each URL the
command names), the nonces stable across runs (a printed sticker stays valid)."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from xml.etree import ElementTree

import pytest

from edge_controller.cli import main
from edge_controller.web.qr import qr_matrix
from edge_controller.web.qr_sheet import COLUMNS, PNG_MODULE_PX, QUIET_MODULES

DEMO = Path(__file__).parents[3] / "config" / "demo.yaml"
TEMPLATE = "https://pay.example/{site}/{identity}/{evse}?n={nonce}"
CONNECTORS = ["keba:1", "charx:1", "charx:2", "charx:3", "hd1:1", "hd2:1"]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDGE_CONTROLLER__STORAGE__STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("EDGE_CONTROLLER__PAYMENTS__WEB__URL_TEMPLATE", TEMPLATE)
    return tmp_path


def run(out: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    assert main(["qr", "--config", str(DEMO), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    return dict(line.split("\t") for line in lines)


def png_bits(data: bytes) -> tuple[int, int, list[list[bool]]]:
    """Width, height and the dark pixels of a 1-bit greyscale PNG without interlacing."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    raw, at = b"", 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        if kind == b"IDAT":
            raw += data[at + 8 : at + 8 + length]
        at += 12 + length
    rows, stride = zlib.decompress(raw), 1 + (width + 7) // 8
    pixels = []
    for y in range(height):
        line = rows[y * stride + 1 : (y + 1) * stride]  # filter byte 0 (none)
        pixels.append([not (line[x // 8] >> (7 - x % 8)) & 1 for x in range(width)])
    return width, height, pixels


def test_the_png_sheet_carries_each_connectors_code(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = run(site / "s.png", capsys)
    assert list(urls) == CONNECTORS
    assert urls["hd1:1"].startswith("https://pay.example/demo-site/demo-site/5?n=")
    _, _, pixels = png_bits((site / "s.png").read_bytes())
    cell = max(len(qr_matrix(u)) for u in urls.values()) + 2 * QUIET_MODULES
    for index, url in enumerate(urls.values()):
        row, column = divmod(index, COLUMNS)
        matrix = qr_matrix(url)
        read = [
            [
                pixels[((row * cell + QUIET_MODULES + r) * PNG_MODULE_PX)]
                [(column * cell + QUIET_MODULES + c) * PNG_MODULE_PX]
                for c in range(len(matrix))
            ]
            for r in range(len(matrix))
        ]  # fmt: skip
        assert read == matrix, url
    # The same site key makes the same codes the next time.
    assert run(site / "again.png", capsys) == urls
    assert (site / "again.png").read_bytes() == (site / "s.png").read_bytes()


def test_the_svg_and_pdf_sheets_name_each_connector_and_its_url(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = run(site / "s.svg", capsys)
    tree = ElementTree.parse(site / "s.svg")
    texts = [t.text for t in tree.iter("{http://www.w3.org/2000/svg}text")]
    for cid, url in urls.items():
        assert cid in texts and url in texts
    assert run(site / "s.pdf", capsys) == urls
    pdf = (site / "s.pdf").read_bytes()
    # Every object sits where the cross-reference table says (readers rely on it).
    start = int(re.search(rb"startxref\n(\d+)", pdf).group(1))  # type: ignore[union-attr]
    offsets = [int(o) for o in re.findall(rb"(\d{10}) 00000 n", pdf[start:])]
    assert [pdf[o:].split(b"\n", 1)[0] for o in offsets] == [
        f"{n} 0 obj".encode() for n in range(1, len(offsets) + 1)
    ]
    streams = [zlib.decompress(s) for s in re.findall(rb"stream\n(.*?)\nendstream", pdf, re.S)]
    drawn = b"".join(streams).decode("latin-1")
    for cid, url in urls.items():
        assert f"({cid}) Tj" in drawn and f"({url}) Tj" in drawn


def test_without_a_template_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDGE_CONTROLLER__STORAGE__STATE_DIR", str(tmp_path / "state"))
    lines = DEMO.read_text().splitlines(keepends=True)
    start = lines.index("payments:\n")
    end = next(i for i in range(start + 1, len(lines)) if lines[i][:1].isalpha())
    bare = tmp_path / "site.yaml"  # the demo site without its payments section
    bare.write_text("".join(lines[:start] + lines[end:]))
    assert "url_template" not in bare.read_text()
    assert main(["qr", "--config", str(bare), "--out", str(tmp_path / "s.pdf")]) == 2
    assert "url_template" in capsys.readouterr().err
    assert not (tmp_path / "s.pdf").exists()
