"""GB 11643-1999 resident ID numbers: validation, decoding, masking, generation."""

from __future__ import annotations

from datetime import date

import pytest

from backend.people.masking import mask_resident_number
from backend.people.resident_id import (
    ResidentIdError,
    ResidentIdProblem,
    check_character,
    generate_resident_id,
    is_valid_resident_id,
    normalize_resident_id,
    parse_resident_id,
)

TODAY = date(2026, 11, 27)


def test_demo_person_zhang_wei_validates() -> None:
    rid = parse_resident_id("320106196203150013", today=TODAY)
    assert rid.birth_date == date(1962, 3, 15)
    assert rid.sex == "M"  # 17th digit 1
    assert rid.region_code == "320106"  # 南京市鼓楼区
    assert rid.masked == "3201**********0013"


def test_demo_person_wang_fang_validates() -> None:
    rid = parse_resident_id("320102198503120020", today=TODAY)
    assert rid.birth_date == date(1985, 3, 12)
    assert rid.sex == "F"  # 17th digit 2


def test_check_character_x() -> None:
    # Find a body whose check value is 10 -> "X" and make sure X (and lower-case x) validate.
    body = next(f"11010519491231{n:03d}" for n in range(1000) if check_character(f"11010519491231{n:03d}") == "X")
    assert is_valid_resident_id(body + "X", today=TODAY)
    assert is_valid_resident_id(body + "x", today=TODAY)
    assert not is_valid_resident_id(body + "0", today=TODAY)


def test_known_checksum_by_hand() -> None:
    # 11010519491231002: weighted sum 167 -> 167 mod 11 = 2 -> "X" (GB 11643-1999 appendix example).
    assert check_character("11010519491231002") == "X"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", ResidentIdProblem.EMPTY),
        ("32010619620315001", ResidentIdProblem.LENGTH),
        ("320106620315001", ResidentIdProblem.LENGTH),  # 15-digit first generation
        ("3201061962031500A3", ResidentIdProblem.CHARACTERS),
        ("32010619620315001Y", ResidentIdProblem.CHARACTERS),
        ("990106196203150013", ResidentIdProblem.REGION),
        ("320106196202300013", ResidentIdProblem.BIRTH_DATE),  # 30 February
        ("320106196213150013", ResidentIdProblem.BIRTH_DATE),
        ("320106196203150014", ResidentIdProblem.CHECKSUM),
        ("320102198503120021", ResidentIdProblem.CHECKSUM),
    ],
)
def test_broken_numbers_name_their_problem(value: str, problem: ResidentIdProblem) -> None:
    with pytest.raises(ResidentIdError) as caught:
        parse_resident_id(value, today=TODAY)
    assert caught.value.problem == problem
    assert caught.value.message_zh
    assert caught.value.message_en


def test_all_zero_county_is_refused() -> None:
    body = "32000019620315001"
    with pytest.raises(ResidentIdError) as caught:
        parse_resident_id(body + check_character(body), today=TODAY)
    assert caught.value.problem == ResidentIdProblem.REGION


def test_future_birth_date_is_refused() -> None:
    number = generate_resident_id(region_code="320106", birth_date=date(2027, 1, 1), sex="F", sequence=3)
    with pytest.raises(ResidentIdError) as caught:
        parse_resident_id(number, today=TODAY)
    assert caught.value.problem == ResidentIdProblem.FUTURE_BIRTH_DATE
    assert is_valid_resident_id(number, today=date(2027, 1, 2))


def test_every_single_digit_typo_is_caught() -> None:
    # MOD 11-2 detects all single-character substitutions.
    good = "320106196203150013"
    for position in range(18):
        for digit in "0123456789X":
            if digit == good[position] or (digit == "X" and position != 17):
                continue
            typo = good[:position] + digit + good[position + 1 :]
            assert not is_valid_resident_id(typo, today=TODAY), typo


def test_normalisation_of_typed_input() -> None:
    assert normalize_resident_id(" 3201 0619 6203 1500 13 ") == "320106196203150013"
    assert normalize_resident_id("３２０１０６１９６２０３１５００１３") == "320106196203150013"
    assert is_valid_resident_id("320106-19620315-0013", today=TODAY)


def test_masking() -> None:
    assert mask_resident_number("320106196203150013") == "3201**********0013"
    assert mask_resident_number("1234") == "****"


@pytest.mark.parametrize("sex", ["M", "F"])
def test_generated_numbers_validate_and_carry_sex(sex: str) -> None:
    seen = set()
    for sequence in range(0, 500, 37):
        number = generate_resident_id(region_code="320583", birth_date=date(1990, 7, 1), sex=sex, sequence=sequence)
        rid = parse_resident_id(number, today=TODAY)
        assert rid.sex == sex
        assert rid.birth_date == date(1990, 7, 1)
        seen.add(number)
    assert len(seen) == len(range(0, 500, 37))


def test_generator_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="6 digits"):
        generate_resident_id(region_code="3201", birth_date=date(1990, 1, 1), sex="M", sequence=1)
    with pytest.raises(ValueError, match="sex"):
        generate_resident_id(region_code="320106", birth_date=date(1990, 1, 1), sex="X", sequence=1)
