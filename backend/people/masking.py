"""How identifiers are shown: one module, one behaviour (DESIGN.md rule 2).

Names keep the surname's first character (张伟 → 张*, 欧阳娜娜 → 欧***: a reader can compare with the
paper, GB/T 35273 de-identification practice), phones keep 3 + 4 digits (138****8000), resident ID
numbers the first and last four characters (3201**********0013). The PWA shows what the server
masked; it never masks again.
"""

from __future__ import annotations

from backend.people.models import Person


def normalize_phone(value: str) -> str:
    """Mainland mobile numbers: drop separators and a +86 / 0086 prefix (GB/T 35273 calls it PII)."""
    digits = "".join(ch for ch in value if ch.isdigit() or ch == "+")
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix) :]
    return digits.lstrip("+")


def mask_phone(value: str) -> str:
    """``138****8000``; a number of 7 digits or fewer is all stars."""
    digits = normalize_phone(value)
    return digits[:3] + "*" * max(len(digits) - 7, 0) + digits[-4:] if len(digits) > 7 else "*" * len(digits)


def mask_name(name: str) -> str:
    name = name.strip()
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


def mask_account_name(name: str) -> str:
    """A relative's name in the person's lists (grants, access history): the first character and at most
    two stars. A WeChat nickname runs long ("张小明（演示·家属）"); a star per hidden character would give
    its length away and read badly, "张**" says "masked" just as well. 张伟 -> 张*, as mask_name."""
    return mask_name(name)[:3]


def mask_distinct(name: str) -> str:
    """First and last character around one star (张*娜, 欧*锋): tells two relatives of the same relationship
    apart in the person's own access history without spelling either out. Two characters: 张*; a long
    WeChat nickname as mask_account_name (张**)."""
    name = name.strip()
    if 3 <= len(name) <= 4 and all(ch.isalpha() for ch in name):  # a real name, not a long nickname
        return name[:1] + "*" + name[-1]
    return mask_account_name(name)


def mask_resident_number(value: str) -> str:
    """A whole number: the first 4 and last 4 characters, e.g. ``3201**********0013``."""
    number = value.strip().upper()
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_resident_parts(prefix: str | None, last4: str | None) -> str:
    """From the stored first and last four characters (the number itself is ciphertext)."""
    return f"{prefix or ''}**********{last4 or ''}"


def person_resident_id(person: Person) -> str:
    return mask_resident_parts(person.resident_id_prefix, person.resident_id_last4)
