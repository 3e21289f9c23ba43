"""The report glossary (pwa/src/glossary/terms.json, issue 19 item 5): a few hundred common words of Chinese
radiology, ultrasound and checkup reports, each explained in plain Chinese and English and citing a named
public source — and found in real report text (the demo's reports and checkups as stored, and typical
report phrasing), matched the way the app matches them (longest word first, pwa/src/glossary/mark.ts)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.checkups.models import Checkup
from backend.config import Settings
from backend.db import session_scope
from backend.demo_records import seed_records
from backend.reports.models import DiagnosticReport

ROOT = Path(__file__).resolve().parents[2]
DATA = json.loads((ROOT / "pwa/src/glossary/terms.json").read_text(encoding="utf-8"))
TERMS = DATA["terms"]
PHRASES = [line.strip() for line in (ROOT / "tests/data/report_phrases.txt").read_text(encoding="utf-8").splitlines()
           if line.strip() and not line.startswith("#")]
# The explanation says what a word means in general, never what the reader has (DESIGN: no diagnosis).
_ADDRESSES_READER = re.compile(r"您|你的|你有|\byou\b|\byour\b", re.IGNORECASE)


def marked(text: str) -> list[str]:
    """The words the app makes tappable in ``text`` (mirror of markTerms: longest first, each once)."""
    words = sorted((t["term"] for t in TERMS), key=len, reverse=True)
    found: list[str] = []
    i = 0
    while i < len(text):
        hit = next((w for w in words if text.startswith(w, i)), None)
        if hit is None:
            i += 1
            continue
        if hit not in found:
            found.append(hit)
        i += len(hit)
    return found


def test_every_entry_is_complete_cited_and_plain() -> None:
    sources = DATA["sources"]
    assert len(TERMS) >= 250
    assert len({t["term"] for t in TERMS}) == len(TERMS), "a word twice"
    for t in TERMS:
        assert set(t) == {"term", "zh", "en", "source"}, t
        assert t["source"] in sources and len(sources[t["source"]]) > 20, t  # a named source, not a bare key
        assert 8 <= len(t["zh"]) <= 90, t  # plain and short: an explanation, not a copied article
        assert 4 <= len(t["en"].split()) <= 45, t
        assert not _ADDRESSES_READER.search(t["zh"] + " " + t["en"]), t
        assert len(t["term"]) >= 2, t  # a single character would light up half a report


def test_words_are_found_in_typical_report_phrasing() -> None:
    found: set[str] = set()
    for line in PHRASES:
        words = marked(line)
        assert words, f"no glossary word in: {line}"
        found.update(words)
    assert {"磨玻璃结节", "钙化灶", "占位性病变", "强化"} <= found
    assert len(found) >= 120, len(found)


def test_words_are_found_in_the_demo_reports_and_checkups_as_stored(engine: Engine, settings: Settings) -> None:
    seed_records(settings=settings, engine=engine, ct_slices=6)
    with session_scope(engine, readonly=True) as s:
        texts = [f"{r.findings}\n{r.impression}" for r in s.exec(select(DiagnosticReport))]
        texts += ["\n".join(c.conclusions) for c in s.exec(select(Checkup)) if c.conclusions]
    assert len(texts) >= 8
    missing = [text for text in texts if not marked(text)]
    assert not missing, missing
