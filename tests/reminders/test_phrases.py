"""Follow-up advice read from real Chinese report phrasing (issue 19 item 5)."""

from __future__ import annotations

import pytest

from backend.reminders.phrases import follow_up


@pytest.mark.parametrize(("text", "days", "phrase"), [
    ("1. 右肺上叶磨玻璃小结节，较前大致相仿，建议12个月后复查。", 360, "12个月后复查"),
    ("右肺中叶微小结节，建议 3 个月后复查胸部CT。", 90, "3 个月后复查"),
    ("甲状腺右叶结节（TI-RADS 3类），建议6~12个月复查。", 180, "6~12个月复查"),
    ("肝右叶小囊肿，建议1年后随访。", 365, "1年后随访"),
    ("左肾小结石，建议半年后复查。", 182, "半年后复查"),
    ("右肺上叶磨玻璃小结节，建议年度随访。", 365, "年度随访"),
    ("肺内炎症，建议抗炎治疗后短期复查。", 90, "短期复查"),
    ("双侧基底节区少许腔隙性缺血灶，建议定期复查。", 180, "定期复查"),
    ("右肩冈上肌腱损伤，建议三个月后复查。", 90, "三个月后复查"),
    ("建议2周后复查血常规。", 14, "2周后复查"),
])
def test_reads_the_interval_radiologists_write(text: str, days: int, phrase: str) -> None:
    advice = follow_up(text)
    assert advice is not None and (advice.days, advice.phrase) == (days, phrase)
    assert advice.stated == (phrase != "定期复查")


@pytest.mark.parametrize("text", [
    "胸部正位片未见明显异常。", "较2019-04-11复查片大致相仿。", "", None, "请结合临床。",
])
def test_no_advice_no_reminder(text: str | None) -> None:
    assert follow_up(text) is None
