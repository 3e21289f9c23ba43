"""Resident identity numbers (公民身份号码) per GB 11643-1999. Pure functions, no I/O.

Layout of the 18 characters (GB 11643-1999 §4):

====== ========================================================================
1-6    address code: the county where the number was issued (GB/T 2260)
7-14   date of birth YYYYMMDD (GB/T 7408)
15-17  sequence code; the 17th digit is odd for men, even for women (§4.3)
18     check character, ISO 7064:1983 MOD 11-2 over the first 17 digits (§5.2);
       the value 10 is written as the Roman numeral "X"
====== ========================================================================

API::

    rid = parse_resident_id("320106196203150013")      # ResidentId or raises ResidentIdError
    rid.birth_date, rid.sex                             # date(1962, 3, 15), "M"
    rid.masked                                          # "3201**********0013"
    generate_resident_id(region_code="320106", birth_date=date(1990, 1, 1), sex="F", sequence=12)

The address code is only checked for plausibility (a real province prefix, not all zeros): GB/T 2260
changes every year and numbers issued under retired county codes stay valid for life.
15-digit first-generation numbers (pre-1999, no check character) are refused; every holder has had
an 18-digit number since the 2004 card replacement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

# ISO 7064 MOD 11-2 weights: W_i = 2^(i-1) mod 11 for positions i = 18..2 (GB 11643-1999 §5.2.1).
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"  # indexed by (weighted sum mod 11), GB 11643-1999 §5.2.2 table

# Province-level prefixes of GB/T 2260 (incl. 71 Taiwan, 81 Hong Kong, 82 Macao as issued on
# residence permits, and 83 used for Hong Kong/Macao/Taiwan residence permits since 2018).
_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
)


class ResidentIdProblem(StrEnum):
    EMPTY = "empty"
    LENGTH = "length"
    CHARACTERS = "characters"
    REGION = "region"
    BIRTH_DATE = "birth_date"
    FUTURE_BIRTH_DATE = "future_birth_date"
    CHECKSUM = "checksum"


_MESSAGES: dict[ResidentIdProblem, tuple[str, str]] = {
    ResidentIdProblem.EMPTY: ("请填写身份证号", "the resident ID number is empty"),
    ResidentIdProblem.LENGTH: ("身份证号应为18位", "a resident ID number has 18 characters"),
    ResidentIdProblem.CHARACTERS: (
        "身份证号只能包含数字，最后一位可为X",
        "only digits are allowed, the last character may be X",
    ),
    ResidentIdProblem.REGION: ("身份证号的地址码无效", "the address code (first 6 digits) is not valid"),
    ResidentIdProblem.BIRTH_DATE: ("身份证号中的出生日期无效", "the date of birth (digits 7-14) is not valid"),
    ResidentIdProblem.FUTURE_BIRTH_DATE: ("身份证号中的出生日期晚于今天", "the date of birth is in the future"),
    ResidentIdProblem.CHECKSUM: ("身份证号校验位不正确，请核对", "the check character does not match"),
}


class ResidentIdError(ValueError):
    """Why a number is not a valid resident ID; ``message_zh`` is shown to users first."""

    def __init__(self, problem: ResidentIdProblem) -> None:
        self.problem = problem
        self.message_zh, self.message_en = _MESSAGES[problem]
        super().__init__(self.message_en)


@dataclass(frozen=True, slots=True)
class ResidentId:
    number: str  # normalised: 18 characters, upper-case X
    region_code: str
    birth_date: date
    sex: str  # "M" | "F"
    sequence: str

    @property
    def masked(self) -> str:
        from backend.people.masking import mask_resident_number  # masking imports the models

        return mask_resident_number(self.number)


def normalize_resident_id(value: str) -> str:
    """Drop spaces/hyphens people type and full-width forms IMEs produce; upper-case the X."""
    table = str.maketrans("０１２３４５６７８９ｘＸ", "0123456789XX")
    return "".join(ch for ch in value.translate(table) if ch not in " -\u3000\t").upper()


def check_character(first17: str) -> str:
    """The MOD 11-2 check character for 17 digits (GB 11643-1999 §5.2)."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need exactly 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def parse_resident_id(value: str, *, today: date | None = None) -> ResidentId:
    """Validate and decode; raises :class:`ResidentIdError` naming the first problem found."""
    number = normalize_resident_id(value or "")
    if not number:
        raise ResidentIdError(ResidentIdProblem.EMPTY)
    if len(number) != 18:
        raise ResidentIdError(ResidentIdProblem.LENGTH)
    body, last = number[:17], number[17]
    if not (body.isascii() and body.isdigit()) or not (last.isdigit() or last == "X"):
        raise ResidentIdError(ResidentIdProblem.CHARACTERS)
    if int(body[:2]) not in _PROVINCES or body[2:6] == "0000":
        raise ResidentIdError(ResidentIdProblem.REGION)
    try:
        born = date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError as exc:
        raise ResidentIdError(ResidentIdProblem.BIRTH_DATE) from exc
    if born.year < 1890:
        raise ResidentIdError(ResidentIdProblem.BIRTH_DATE)
    if born > (today or date.today()):
        raise ResidentIdError(ResidentIdProblem.FUTURE_BIRTH_DATE)
    if check_character(body) != last:
        raise ResidentIdError(ResidentIdProblem.CHECKSUM)
    return ResidentId(
        number=number,
        region_code=body[:6],
        birth_date=born,
        sex="M" if int(body[16]) % 2 == 1 else "F",
        sequence=body[14:17],
    )


def is_valid_resident_id(value: str, *, today: date | None = None) -> bool:
    try:
        parse_resident_id(value, today=today)
    except ResidentIdError:
        return False
    return True


def generate_resident_id(*, region_code: str, birth_date: date, sex: str, sequence: int) -> str:
    """A valid number for tests and the demo. ``sequence`` 0-499 picks the first two digits of the
    sequence code; the 17th digit is then chosen to match ``sex`` (odd = "M")."""
    if len(region_code) != 6 or not region_code.isdigit():
        raise ValueError("region_code must be 6 digits")
    if sex not in ("M", "F"):
        raise ValueError('sex must be "M" or "F"')
    if not 0 <= sequence < 500:
        raise ValueError("sequence must be in 0..499")
    third = (sequence % 5) * 2 + (1 if sex == "M" else 0)
    body = f"{region_code}{birth_date:%Y%m%d}{sequence // 5:02d}{third}"
    return body + check_character(body)
