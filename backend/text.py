"""Text in both languages the service speaks: one ``{zh, en}`` type (Chinese first).

Errors carry one (``AppError.message``) and answer it as ``message: {zh, en}``; a client shows the
reader's language and never splits a "中文 (English)." string.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Text:
    zh: str
    en: str

    def as_dict(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}

    def pick(self, lang: str) -> str:
        return self.en if lang.lower().startswith("en") else self.zh
