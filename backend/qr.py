"""QR codes of the links the service hands out — the verification URL printed on every PDF, a share
link for a doctor, a family invitation — one way: pure, text in, images out.

Error correction level M (ISO/IEC 18004 §4.9: ~15 % of codewords recoverable): a printed, folded,
photocopied report still scans, and a URL stays at version 4–5 (small on paper and on a phone screen).
The quiet zone is the 4 modules ISO/IEC 18004 §6.3.8 requires for reliable scanning.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import segno

_ERROR = "m"
QUIET_ZONE = 4
MAX_URL_LENGTH = 512


@dataclass(frozen=True, slots=True)
class QrImages:
    svg: str  # inline <svg> markup
    png_data_uri: str  # for <img src> where SVG is awkward (WeChat's long-press "识别二维码")


def _code(url: str) -> segno.QRCode:
    if not url or len(url) > MAX_URL_LENGTH:
        raise ValueError("a QR code URL must be 1..512 characters")
    if not url.startswith(("https://", "http://")):
        raise ValueError("a QR code URL must be http(s)")
    return segno.make(url, error=_ERROR, micro=False, boost_error=False)


def qr_svg_data_uri(*, url: str) -> str:
    """An SVG ``data:`` URI (black modules on white): sharp at any print resolution."""
    uri: str = _code(url).svg_data_uri(scale=1, border=QUIET_ZONE, dark="#000", light="#fff")
    return uri


def qr_images(*, url: str) -> QrImages:
    """Inline SVG and a PNG data URI of the same code, for the screens that show it."""
    code = _code(url)
    svg = io.BytesIO()
    code.save(svg, kind="svg", scale=4, border=QUIET_ZONE, xmldecl=False)
    png = io.BytesIO()
    code.save(png, kind="png", scale=6, border=QUIET_ZONE)
    return QrImages(svg=svg.getvalue().decode(), png_data_uri="data:image/png;base64," +
                    base64.b64encode(png.getvalue()).decode())
