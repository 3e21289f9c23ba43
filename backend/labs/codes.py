"""Matching lab items across hospitals, and the unit conversions that make their values comparable.

Hospitals' LIS codes differ; LOINC (https://loinc.org) is used where a hospital sends it, else the
item's name or abbreviation is looked up in :data:`NAME_TO_ANALYTE` (the mapping table). Each analyte
has one canonical unit — the SI unit Chinese laboratories report (WS/T 404 reference intervals use
mmol/L and µmol/L) — and known conversion factors from conventional units:

* glucose: 1 mmol/L = 18.016 mg/dL (molar mass 180.16 g/mol)
* cholesterol (total, LDL-C, HDL-C): 1 mmol/L = 38.67 mg/dL (386.65 g/mol)
* triglycerides: 1 mmol/L = 88.57 mg/dL (as triolein, 885.7 g/mol)
* creatinine: 1 mg/dL = 88.42 µmol/L (113.12 g/mol)
* uric acid: 1 mg/dL = 59.48 µmol/L (168.11 g/mol)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Analyte:
    key: str
    name_zh: str
    name_en: str
    unit: str  # canonical unit, as displayed
    loinc: str  # the code used when exporting the canonical value (FHIR)
    factors: dict[str, float] = field(default_factory=dict)  # normalized unit -> multiply to get canonical


ANALYTES: dict[str, Analyte] = {a.key: a for a in [
    Analyte("glucose", "空腹血糖", "Fasting glucose", "mmol/L", "14771-0", {"mg/dl": 1 / 18.016}),
    Analyte("ldl_c", "低密度脂蛋白胆固醇", "LDL cholesterol", "mmol/L", "22748-8", {"mg/dl": 1 / 38.67}),
    Analyte("hdl_c", "高密度脂蛋白胆固醇", "HDL cholesterol", "mmol/L", "14646-4", {"mg/dl": 1 / 38.67}),
    Analyte("cholesterol", "总胆固醇", "Total cholesterol", "mmol/L", "14647-2", {"mg/dl": 1 / 38.67}),
    Analyte("triglycerides", "甘油三酯", "Triglycerides", "mmol/L", "14927-8", {"mg/dl": 1 / 88.57}),
    Analyte("creatinine", "肌酐", "Creatinine", "µmol/L", "14682-9", {"mg/dl": 88.42}),
    Analyte("uric_acid", "尿酸", "Uric acid", "µmol/L", "14933-6", {"mg/dl": 59.48}),
    Analyte("alt", "丙氨酸氨基转移酶", "ALT", "U/L", "1742-6", {"iu/l": 1.0}),
    Analyte("ast", "天门冬氨酸氨基转移酶", "AST", "U/L", "1920-8", {"iu/l": 1.0}),
    Analyte("hba1c", "糖化血红蛋白", "HbA1c", "%", "4548-4"),
]}

LOINC_TO_ANALYTE: dict[str, str] = {
    # glucose: mass and molar concentration, serum/plasma and blood, fasting or not
    "1558-6": "glucose", "14771-0": "glucose", "2345-7": "glucose", "14749-6": "glucose",
    "2339-0": "glucose", "15074-8": "glucose",
    "2089-1": "ldl_c", "13457-7": "ldl_c", "18262-6": "ldl_c", "22748-8": "ldl_c", "39469-2": "ldl_c",
    "2085-9": "hdl_c", "14646-4": "hdl_c",
    "2093-3": "cholesterol", "14647-2": "cholesterol",
    "2571-8": "triglycerides", "14927-8": "triglycerides",
    "2160-0": "creatinine", "14682-9": "creatinine", "38483-4": "creatinine",
    "3084-1": "uric_acid", "14933-6": "uric_acid",
    "1742-6": "alt", "1743-4": "alt", "1920-8": "ast",
    "4548-4": "hba1c", "17856-6": "hba1c",
}

# The mapping table for hospitals that send no LOINC: names and abbreviations as LIS print them.
NAME_TO_ANALYTE: dict[str, str] = {
    **dict.fromkeys(["空腹血糖", "空腹葡萄糖", "葡萄糖", "血糖", "GLU", "FPG", "FBG"], "glucose"),
    **dict.fromkeys(["低密度脂蛋白胆固醇", "低密度脂蛋白", "LDL-C", "LDL", "LDLC"], "ldl_c"),
    **dict.fromkeys(["高密度脂蛋白胆固醇", "高密度脂蛋白", "HDL-C", "HDL", "HDLC"], "hdl_c"),
    **dict.fromkeys(["总胆固醇", "胆固醇", "TC", "CHOL", "T-CHO"], "cholesterol"),
    **dict.fromkeys(["甘油三酯", "TG", "TRIG"], "triglycerides"),
    **dict.fromkeys(["肌酐", "血肌酐", "CREA", "CRE", "CR", "SCR"], "creatinine"),
    **dict.fromkeys(["尿酸", "血尿酸", "UA", "URIC"], "uric_acid"),
    **dict.fromkeys(["丙氨酸氨基转移酶", "谷丙转氨酶", "丙氨酸转氨酶", "ALT", "GPT"], "alt"),
    **dict.fromkeys(["天门冬氨酸氨基转移酶", "谷草转氨酶", "天冬氨酸转氨酶", "AST", "GOT"], "ast"),
    **dict.fromkeys(["糖化血红蛋白", "HBA1C", "GHB"], "hba1c"),
}

_PAREN = re.compile(r"[（(]([^）)]*)[）)]")


def normalize_unit(unit: str | None) -> str:
    text = (unit or "").strip().lower().replace(" ", "").replace("μ", "u").replace("µ", "u")
    return text


def analyte_for(*, loinc: str | None, code: str | None, name: str) -> str | None:
    """LOINC first, then the hospital's code and the name (with any abbreviation in brackets)."""
    if loinc and loinc in LOINC_TO_ANALYTE:
        return LOINC_TO_ANALYTE[loinc]
    candidates = [code or "", name, _PAREN.sub("", name), *_PAREN.findall(name)]
    for candidate in candidates:
        key = candidate.strip().upper()
        if key in NAME_TO_ANALYTE:
            return NAME_TO_ANALYTE[key]
    return None


def factor_to_canonical(*, analyte: str, unit: str | None) -> float | None:
    """The multiplier from ``unit`` to the analyte's canonical unit, or None if not known."""
    found = ANALYTES.get(analyte)
    if found is None:
        return None
    normalized = normalize_unit(unit)
    if normalized == normalize_unit(found.unit):
        return 1.0
    return found.factors.get(normalized)


def resolve_query(code: str) -> str | None:
    """A trend query names an analyte key, a LOINC code, or a name/abbreviation."""
    if code in ANALYTES:
        return code
    return analyte_for(loinc=code, code=code, name=code)
