"""Follow-up advice in Chinese radiology reports, as radiologists write it (pure, no I/O).

Reports end their impression (诊断意见) with advice such as "建议12个月后复查", "3个月后复查",
"建议年度随访", "短期复查" or "定期复查"; the interval is a number with a unit (天/周/个月/月/年), a
Chinese numeral (三个月, 半年), or a word (年度 = a year; 短期 = about 3 months; 定期 with no interval
= 6 months here, the usual re-check of an indeterminate finding, and said so on the screen). Only the
first advice counts (one reminder per report); "复查" that is not advice ("较前复查片相仿") does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMERALS = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
             "十二": 12, "十八": 18, "二十四": 24}
_UNIT_DAYS = {"天": 1, "日": 1, "周": 7, "星期": 7, "月": 30, "个月": 30, "年": 365}
_NUMBER = r"(\d{1,3}|半|十二|十八|二十四|[一两二三四五六七八九十])"
# "建议 3 个月后复查" / "6~12个月复查" (the shorter bound counts) / "1年后随访" / "半年后复查"
_INTERVAL = re.compile(_NUMBER + r"\s*(?:[-~～至到]\s*\d{1,3}\s*)?(个月|月|周|星期|天|日|年)\s*(?:后|左右|内)?\s*"
                       r"(?:再次|再)?(?:复查|随访|复诊|随诊)")
_YEARLY = re.compile(r"(?:年度|每年|每年度)\s*(?:复查|随访|体检|随诊)")
_SHORT = re.compile(r"短期(?:内)?\s*(?:复查|随访)")
_REGULAR = re.compile(r"定期\s*(?:复查|随访|随诊)")


@dataclass(frozen=True, slots=True)
class Advice:
    days: int  # after the study
    phrase: str  # the words of the report, quoted on the reminder
    stated: bool  # the interval was written out (False: "定期" — our default, said as such)


def _count(numeral: str) -> float:
    if numeral == "半":
        return 0.5
    return float(numeral) if numeral.isdigit() else float(_NUMERALS.get(numeral, 0))


def follow_up(text: str | None) -> Advice | None:
    """The first follow-up advice of a report's text, or None."""
    if not text:
        return None
    found: list[tuple[int, Advice]] = []
    for m in _INTERVAL.finditer(text):
        n = _count(m.group(1))
        if n > 0:
            found.append((m.start(), Advice(days=round(n * _UNIT_DAYS[m.group(2)]), phrase=m.group(0).strip(),
                                            stated=True)))
    for pattern, days, stated in ((_YEARLY, 365, True), (_SHORT, 90, True), (_REGULAR, 180, False)):
        if m2 := pattern.search(text):
            found.append((m2.start(), Advice(days=days, phrase=m2.group(0).strip(), stated=stated)))
    return min(found, key=lambda f: f[0])[1] if found else None
