"""One-time build of the bundled CJK font subset in ``reports/fonts/`` (not used at run time).

The PDFs must show Chinese correctly on a machine without any system CJK font (DESIGN.md rule 6),
so the project ships its own font: Noto Sans CJK SC (SIL OFL 1.1), cut down to what a Chinese
medical document needs so that it stays small in git:

- every character of GB 2312-80 (the 6763 hanzi of level 1 and 2, plus its rows 1–9 of symbols,
  CJK punctuation, kana, Greek, Cyrillic and full-width forms), enumerated from Python's own
  ``gb2312`` codec so the list cannot be mistyped;
- ASCII, Latin-1, general punctuation, super/subscripts (``×10⁹/L``), arrows and math operators
  used in lab reports, CJK punctuation U+3000–303F, full-width forms U+FF00–FFEF;
- ``extra-chars.txt``: medical characters outside GB 2312 (e.g. 腘 popliteal, 𬌗 occlusal) and
  name characters common in patient names but outside GB 2312 (e.g. 堃, 喆, 玥, 镕).

The subset is renamed ("Yunying Sans SC"): OFL 1.1 §3 forbids Reserved Font Names in modified
versions (Noto CJK reserves "Source"), and a distinct name lets the tests prove the PDF uses the
bundled font and not some system Noto. Usage (the exact command is in reports/fonts/README.md)::

    python -m tools.fontbuild --source-dir DIR_WITH_NotoSansCJK-*.ttc
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

FONTS_DIR = Path(__file__).resolve().parents[2] / "reports" / "fonts"
FAMILY = "Yunying Sans SC"
# Index of "Noto Sans CJK SC" inside Debian's NotoSansCJK-{Regular,Bold}.ttc collections.
SC_FACE_INDEX = 2
WEIGHTS = ("Regular", "Bold")

EXTRA_RANGES = (
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1 (±, °, µ, ², ³, ×, ÷)
    (0x2010, 0x205E),  # general punctuation (‰, ※, dashes, quotes)
    (0x2070, 0x209F),  # super/subscripts: 10⁹/L, 10¹²/L
    (0x2100, 0x214F),  # letterlike: ℃, №, Ω
    (0x2190, 0x21FF),  # arrows ↑ ↓ used as lab flags
    (0x2200, 0x22FF),  # math operators ≤ ≥ ≈
    (0x2460, 0x24FF),  # enclosed alphanumerics ① ②
    (0x25A0, 0x25FF),  # geometric shapes ■ □ ▲ ●
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3200, 0x33FF),  # enclosed CJK and compatibility units ㎜ ㎝ ㎏ ㎡
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # half-width and full-width forms
)


def gb2312_characters() -> set[str]:
    """All characters of GB 2312-80: rows 0xA1–0xF7, cells 0xA1–0xFE of the EUC-CN encoding."""
    chars: set[str] = set()
    for row in range(0xA1, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                chars.add(bytes((row, cell)).decode("gb2312"))
            except UnicodeDecodeError:
                continue  # unassigned code point
    return chars


def charset(*, extra_file: Path) -> set[str]:
    chars = gb2312_characters()
    for start, end in EXTRA_RANGES:
        chars.update(chr(c) for c in range(start, end + 1))
    for line in extra_file.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            chars.update(ch for ch in line if not ch.isspace())
    return chars


def _rename(font: TTFont, *, weight: str) -> None:
    """Give the subset its own family name (OFL §3) while keeping copyright and licence records."""
    postscript = f"{FAMILY.replace(' ', '')}-{weight}"
    names = {
        1: FAMILY,
        2: weight,
        3: f"{postscript};derived from Noto Sans CJK SC 2.004",
        4: f"{FAMILY} {weight}" if weight != "Regular" else FAMILY,
        6: postscript,
        10: "Subset of Noto Sans CJK SC (SIL OFL 1.1) for Yunying PDF documents; see reports/fonts/README.md",
    }
    table = font["name"]
    for name_id in (16, 17, 21, 22):  # typographic names would carry the old family name
        table.removeNames(nameID=name_id)
    for name_id, value in names.items():
        table.setName(value, name_id, 3, 1, 0x409)
        table.setName(value, name_id, 1, 0, 0)
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [postscript]
        top = cff.topDictIndex[0]
        top.FullName = names[4]
        top.FamilyName = FAMILY


def build(*, source_dir: Path, out_dir: Path = FONTS_DIR) -> list[Path]:
    chars = charset(extra_file=FONTS_DIR / "extra-chars.txt")
    written = []
    for weight in WEIGHTS:
        options = subset.Options()
        options.font_number = SC_FACE_INDEX
        options.flavor = "woff2"
        # Hinting is useless in print (WeasyPrint drops it when embedding too) and costs ~15 %.
        options.hinting = False
        # Horizontal Chinese text needs no more than these; vertical forms ('vert') are not used.
        options.layout_features = ["kern", "liga", "locl", "ccmp", "mark", "mkmk"]
        options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
        font = subset.load_font(str(source_dir / f"NotoSansCJK-{weight}.ttc"), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(text="".join(sorted(chars)))
        subsetter.subset(font)
        _rename(font, weight=weight)
        target = out_dir / f"YunyingSansSC-{weight}.woff2"
        subset.save_font(font, str(target), options)
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-dir", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, default=FONTS_DIR)
    args = parser.parse_args()
    for path in build(source_dir=args.source_dir, out_dir=args.out_dir):
        print(path.name, path.stat().st_size)


if __name__ == "__main__":
    main()
