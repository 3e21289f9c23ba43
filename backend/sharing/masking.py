"""What a doctor's share session sees of the patient's identity: the share page's masks, applied to DICOM.

The share page shows the name masked (张伟 → 张*), the resident ID masked (3201**********0013), sex
and age — nothing else that identifies the patient. DICOM headers carry much more (PS3.15 Annex E,
Table E.1-1 lists the attributes that identify a patient). For a share session, the DICOM JSON of
WADO-RS /metadata and of QIDO-RS results passes through :func:`mask_dataset`, one function for both:

* ``NAME`` — person names, masked like the page (first character, then ``*``), per PN component group;
* ``IDS`` — identifiers: a resident-ID-shaped value (GB 11643: 17 digits + check digit/X, or the old
  15 digits) masked like the page; a hospital's own number (MRN) kept: the page shows none, but it is
  how the doctor names the study to the hospital that holds it, and viewers group by it;
* ``EMPTY`` — kept as an attribute without a value (PS3.15 action Z);
* ``REMOVE`` — left out (PS3.15 action X);
* private attributes (odd groups) are left out (PS3.15 E.3.10: unless known to be safe, and a PACS
  may put anything there);
* every other text value (LO, LT, PN, SH, ST, UC, UT), sequences included: resident-ID-shaped tokens
  and mainland mobile numbers in free text are masked (``138****8000``, DESIGN.md rule 2).

QIDO matching on any attribute listed here is ignored for a share session (``UNMATCHABLE``): a search
by a guessed full name, birth date or resident ID would otherwise confirm the guess.
"""

from __future__ import annotations

import re
from typing import Any

from backend.people.masking import mask_name, mask_resident_number

NAME, IDS, ID_SEQUENCE, EMPTY, REMOVE = "name", "ids", "id-sequence", "empty", "remove"

# tag (as in DICOM JSON) -> (keyword, action, why). PS3.15 Table E.1-1 gives each its Basic Profile action.
TAGS: dict[str, tuple[str, str, str]] = {
    "00100010": ("PatientName", NAME, "E.1-1 Z; the page shows it masked"),
    "00100020": ("PatientID", IDS, "E.1-1 Z; masked when it is a resident ID, a hospital MRN kept"),
    "00101000": ("OtherPatientIDs", IDS, "E.1-1 X; resident IDs masked (a PACS puts them here)"),
    "00101002": ("OtherPatientIDsSequence", ID_SEQUENCE, "E.1-1 X; items' PatientID masked (CN-RID)"),
    "00100030": ("PatientBirthDate", EMPTY, "E.1-1 Z; the page shows the age, and hides it in the ID"),
    "00100032": ("PatientBirthTime", REMOVE, "E.1-1 X"),
    "00101001": ("OtherPatientNames", NAME, "E.1-1 X; masked like the name"),
    "00101005": ("PatientBirthName", NAME, "E.1-1 X; masked like the name"),
    "00101060": ("PatientMotherBirthName", NAME, "E.1-1 X; masked like the name"),
    "00102297": ("ResponsiblePerson", NAME, "E.1-1 X; a relative's name, masked like the name"),
    "00101040": ("PatientAddress", REMOVE, "E.1-1 X; the page shows no address"),
    "00102150": ("CountryOfResidence", REMOVE, "E.1-1 X; part of the address"),
    "00102152": ("RegionOfResidence", REMOVE, "E.1-1 X; part of the address"),
    "00380400": ("PatientInstitutionResidence", REMOVE, "E.1-1 X; where the patient lives"),
    "00102154": ("PatientTelephoneNumbers", REMOVE, "E.1-1 X; the page shows no phone"),
    "00102155": ("PatientTelecomInformation", REMOVE, "E.1-1 X; phone, e-mail"),
    "00100050": ("PatientInsurancePlanCodeSequence", REMOVE, "E.1-1 X"),
    "00101050": ("InsurancePlanIdentification", REMOVE, "E.1-1 X"),
    "00101090": ("MedicalRecordLocator", REMOVE, "E.1-1 X; another record number"),
    "00101080": ("MilitaryRank", REMOVE, "E.1-1 X"),
    "00101081": ("BranchOfService", REMOVE, "E.1-1 X"),
    "001021F0": ("PatientReligiousPreference", REMOVE, "E.1-1 X"),
    "00101100": ("ReferencedPatientPhotoSequence", REMOVE, "E.1-1 X; a photo of the patient"),
    "00104000": ("PatientComments", REMOVE, "E.1-1 X; free text about the patient, not the exam"),
}
UNMATCHABLE = frozenset(keyword for keyword, _, _ in TAGS.values())  # QIDO keys (tags become keywords first)
TEXT_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
# A resident ID (GB 11643-1999: 17 digits + a digit or X; before 1999: 15 digits) as a whole value …
_RESIDENT_ID = re.compile(r"\d{17}[\dXx]|\d{15}")
# … or inside free text (not part of a longer run of digits or letters).
_RESIDENT_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
JsonObject = dict[str, Any]


def is_resident_id(value: str) -> bool:
    return _RESIDENT_ID.fullmatch(value.strip()) is not None


def mask_text(text: str) -> str:
    """Resident IDs and mobile numbers inside free text, masked like the page."""
    text = _RESIDENT_ID_IN_TEXT.sub(lambda m: mask_resident_number(m.group(0)), text)
    return _MOBILE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def _mask_pn(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    out = {}
    for group in _PN_GROUPS:
        if isinstance(value.get(group), str) and value[group]:
            out[group] = mask_name(re.sub(r"[\^\s]", "", value[group]))  # "Zhang^Wei" → "Z*******"
    return out


def _mask_id(value: Any) -> Any:
    return mask_resident_number(value.strip()) if isinstance(value, str) and is_resident_id(value) else value


def _mask_id_item(item: JsonObject) -> JsonObject:
    """An OtherPatientIDsSequence item: its PatientID masked when it is a resident ID, or when its
    issuer says it is one (IssuerOfPatientID CN-RID, README "For hospitals"), whatever its shape."""
    masked = mask_dataset(item)
    issuer = item.get("00100021", {}).get("Value", [""])[0]
    element = masked.get("00100020", {})
    if issuer == "CN-RID" and "Value" in element:
        element["Value"] = [_mask_any_id(str(v)) for v in element["Value"]]
    return masked


def _mask_any_id(value: str) -> str:
    if "*" in value:
        return value  # masked already (a resident-ID-shaped value)
    return mask_resident_number(value) if len(value) > 8 else "*" * len(value)


def _element(tag: str, element: Any) -> Any | None:
    """One DICOM JSON attribute after the mask, or None to leave it out."""
    if not isinstance(element, dict):
        return element
    rule = TAGS.get(tag.upper())
    vr = element.get("vr")
    values = element.get("Value")
    if rule is not None:
        action = rule[1]
        if action == REMOVE:
            return None
        if action == EMPTY or values is None:
            return {"vr": vr}
        if action == NAME:
            return {**element, "Value": [_mask_pn(v) if vr == "PN" else mask_name(str(v)) for v in values]}
        if action == IDS:
            return {**element, "Value": [_mask_id(v) for v in values]}
        if action == ID_SEQUENCE:
            return {**element, "Value": [_mask_id_item(v) for v in values if isinstance(v, dict)]}
    if values is None:
        return element
    if vr == "SQ":
        return {**element, "Value": [mask_dataset(v) for v in values if isinstance(v, dict)]}
    if vr == "PN":
        return {**element, "Value": [{g: mask_text(t) for g, t in v.items()} if isinstance(v, dict) else v
                                     for v in values]}
    if vr in TEXT_VRS:
        return {**element, "Value": [mask_text(v) if isinstance(v, str) else v for v in values]}
    return element


def mask_dataset(dataset: JsonObject) -> JsonObject:
    """A DICOM JSON object (PS3.18 Annex F) as a share session may see it (see the module docstring)."""
    out: JsonObject = {}
    for tag, element in dataset.items():
        if len(tag) == 8 and tag[3] in "13579bBdDfF":  # an odd group: a private attribute (PS3.15 E.3.10)
            continue
        masked = _element(tag, element)
        if masked is not None:
            out[tag] = masked
    return out
