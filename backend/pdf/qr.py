"""QR code for the verification URL printed on every PDF (pure: text in, data URI out)."""

from __future__ import annotations

import segno

# Error correction level M (ISO/IEC 18004 §4.9: ~15 % of codewords recoverable): a printed,
# folded, photocopied report still scans, and the URL stays at version 4–5 (small on paper).
_ERROR = "m"
MAX_URL_LENGTH = 512


def qr_svg_data_uri(*, url: str) -> str:
    """An SVG ``data:`` URI of a QR code for ``url`` (black modules on white, 4-module quiet zone).

    SVG keeps the code sharp at any print resolution; the quiet zone of 4 modules is what
    ISO/IEC 18004 §6.3.8 requires around the symbol for reliable scanning.
    """
    if not url or len(url) > MAX_URL_LENGTH:
        raise ValueError("verification URL must be 1..512 characters")
    if not url.startswith(("https://", "http://")):
        raise ValueError("verification URL must be http(s)")
    code = segno.make(url, error=_ERROR, micro=False, boost_error=False)
    uri: str = code.svg_data_uri(scale=1, border=4, dark="#000", light="#fff")
    return uri
