"""The bundled font: small, licensed, named, and covering what Chinese medical documents print."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont

from tools.fontbuild import gb2312_characters

REPORTS = Path(__file__).resolve().parents[2] / "reports"
FONTS = REPORTS / "fonts"
WEIGHTS = ("Regular", "Bold")


@lru_cache(maxsize=2)
def cmap(weight: str) -> frozenset[int]:
    return frozenset(TTFont(FONTS / f"YunyingSansSC-{weight}.woff2").getBestCmap())


def test_font_files_are_small_and_licensed() -> None:
    total = sum((FONTS / f"YunyingSansSC-{w}.woff2").stat().st_size for w in WEIGHTS)
    assert total < 4.5 * 1024 * 1024
    ofl = (FONTS / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in ofl and "Reserved Font Name 'Source'" in ofl
    readme = (FONTS / "README.md").read_text(encoding="utf-8")
    assert "fonts-noto-cjk" in readme and "python -m tools.fontbuild" in readme


def test_font_is_renamed_and_keeps_its_copyright() -> None:
    for weight in WEIGHTS:
        names = TTFont(FONTS / f"YunyingSansSC-{weight}.woff2")["name"]
        assert names.getDebugName(1) == "Yunying Sans SC"
        assert names.getDebugName(6) == f"YunyingSansSC-{weight}"
        assert "Adobe" in (names.getDebugName(0) or "")
        assert "Open Font License" in (names.getDebugName(13) or "")


def test_covers_all_of_gb2312_and_the_extra_characters() -> None:
    wanted = {ord(c) for c in gb2312_characters()}
    extra = (FONTS / "extra-chars.txt").read_text(encoding="utf-8").splitlines()
    wanted |= {ord(c) for line in extra if not line.startswith("#") for c in line if not c.isspace()}
    assert {ord("腘"), 0x2C317} <= wanted  # 腘 popliteal, 𬌗 occlusal: medical, outside GB 2312
    for weight in WEIGHTS:
        assert wanted <= cmap(weight), sorted(chr(c) for c in wanted - cmap(weight))[:20]


def test_every_label_and_template_text_has_glyphs() -> None:
    labels = json.loads((REPORTS / "labels.json").read_text(encoding="utf-8"))
    text = json.dumps(labels, ensure_ascii=False)
    for template in REPORTS.glob("*.html"):
        text += re.sub(r"{[{%#].*?[}%#]}", "", template.read_text(encoding="utf-8"), flags=re.DOTALL)
    text += "×10¹²/L ≤ ≥ ± ℃ μmol/L ㎜ ①"  # ⁵–⁹ are missing: the `sup` filter sets them
    needed = {ord(c) for c in text if not c.isspace()}
    for weight in WEIGHTS:
        assert needed <= cmap(weight), sorted(chr(c) for c in needed - cmap(weight))


def test_both_languages_have_the_same_labels() -> None:
    labels = json.loads((REPORTS / "labels.json").read_text(encoding="utf-8"))
    assert set(labels) == {"zh-CN", "en"}

    def shape(d: dict[str, object]) -> set[str]:
        keys = set()
        for key, value in d.items():
            keys.add(key)
            if isinstance(value, dict):
                keys |= {f"{key}.{sub}" for sub in value}
        return keys

    assert shape(labels["zh-CN"]) == shape(labels["en"])
