"""STOW-RS responses and DICOM JSON for QIDO/metadata answers. Pure: dicts and strings out.

STOW-RS response (PS3.18 §10.5.3, Store Instances Response Module) - a data set with:

* Retrieve URL (0008,1190): the study's URL, present when at least one instance was stored;
* Referenced SOP Sequence (0008,1199): one item per stored instance with Referenced SOP Class UID
  (0008,1150), Referenced SOP Instance UID (0008,1155), Retrieve URL (0008,1190) and, when stored
  with remarks, Warning Reason (0008,1196) (0xB000 coercion, 0xB006 elements discarded,
  0xB007 data set does not match SOP class; PS3.4 B.2.3);
* Failed SOP Sequence (0008,1198): one item per failed instance with the two UIDs (empty when the
  part could not be parsed at all) and Failure Reason (0008,1197) (see :mod:`.errors`).

Re-storing identical bytes under a known SOP Instance UID is a plain success: no warning status of
PS3.4 B.2.3 describes it, and a warning would turn an idempotent retry into a 202.

A human-readable reason per item travels in a private element, creator ``YUNYING`` (PS3.5 §7.8):
(0009,0010) LO "YUNYING" + (0009,1001) LT text, e.g. "already stored" or the parser's reason.
Standard clients ignore it; ``yunying upload`` prints it.

HTTP status (PS3.18 §10.5.3): 200 when every instance was stored without warnings, 202 when some
failed or carry warnings, 409 when none was stored.

Renderings: :func:`stow_response_json` (``application/dicom+json``, PS3.18 Annex F) and
:func:`stow_response_xml` (``application/dicom+xml``, PS3.19 Annex A Native DICOM Model).
:func:`dataset_to_json` turns a pydicom Dataset into DICOM JSON with BulkDataURIs instead of inline
pixel data.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

JsonObject = dict[str, Any]

PRIVATE_CREATOR = "YUNYING"
_CREATOR_TAG = "00090010"
_REASON_TAG = "00091001"
_BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
NATIVE_DICOM_NS = "http://dicom.nema.org/PS3.19/models/NativeDICOM"


@dataclass(frozen=True, slots=True)
class StoredInstance:
    sop_class_uid: str
    sop_instance_uid: str
    retrieve_url: str
    warning_reason: int | None = None
    note: str | None = None  # e.g. "already stored"


@dataclass(frozen=True, slots=True)
class FailedInstance:
    sop_class_uid: str | None
    sop_instance_uid: str | None
    failure_reason: int
    note: str | None = None


@dataclass(frozen=True, slots=True)
class StoreResponse:
    retrieve_url: str | None  # the study URL; only emitted when something was stored
    stored: tuple[StoredInstance, ...]
    failed: tuple[FailedInstance, ...]


def study_url(*, base: str, study_uid: str) -> str:
    """``{base}/studies/{uid}``; ``base`` is the public DICOMweb root, e.g. https://host/dicomweb."""
    return f"{base.rstrip('/')}/studies/{quote(study_uid, safe='.')}"


def instance_url(*, base: str, study_uid: str, series_uid: str, instance_uid: str) -> str:
    return (
        f"{study_url(base=base, study_uid=study_uid)}/series/{quote(series_uid, safe='.')}"
        f"/instances/{quote(instance_uid, safe='.')}"
    )


def stow_http_status(response: StoreResponse) -> int:
    """200 / 202 / 409 per PS3.18 §10.5.3; an empty request (no parts at all) is a 400."""
    if not response.stored and not response.failed:
        return 400
    if not response.stored:
        return 409
    if response.failed or any(s.warning_reason is not None for s in response.stored):
        return 202
    return 200


def _ui(value: str | None) -> JsonObject:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def _note(item: JsonObject, note: str | None) -> None:
    if note:
        item[_CREATOR_TAG] = {"vr": "LO", "Value": [PRIVATE_CREATOR]}
        item[_REASON_TAG] = {"vr": "LT", "Value": [note[:10240]]}


def stow_response_json(response: StoreResponse) -> JsonObject:
    """The response data set in the DICOM JSON Model (PS3.18 Annex F.2)."""
    body: JsonObject = {}
    if response.stored and response.retrieve_url:
        body["00081190"] = {"vr": "UR", "Value": [response.retrieve_url]}
    if response.failed:
        items = []
        for failed in response.failed:
            item: JsonObject = {
                "00081150": _ui(failed.sop_class_uid),
                "00081155": _ui(failed.sop_instance_uid),
                "00081197": {"vr": "US", "Value": [int(failed.failure_reason)]},
            }
            _note(item, failed.note)
            items.append(item)
        body["00081198"] = {"vr": "SQ", "Value": items}
    if response.stored:
        items = []
        for stored in response.stored:
            item = {
                "00081150": _ui(stored.sop_class_uid),
                "00081155": _ui(stored.sop_instance_uid),
                "00081190": {"vr": "UR", "Value": [stored.retrieve_url]},
            }
            if stored.warning_reason is not None:
                item["00081196"] = {"vr": "US", "Value": [int(stored.warning_reason)]}
            _note(item, stored.note)
            items.append(item)
        body["00081199"] = {"vr": "SQ", "Value": items}
    return dict(sorted(body.items()))


def stow_response_xml(response: StoreResponse) -> str:
    return json_to_native_xml(stow_response_json(response))


def json_to_native_xml(model: JsonObject) -> str:
    """DICOM JSON -> PS3.19 Native DICOM Model XML (Annex A.1), UTF-8 text with declaration."""
    root = ET.Element("NativeDicomModel", {"xmlns": NATIVE_DICOM_NS, "xml:space": "preserve"})
    _fill(root, model)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _fill(parent: ET.Element, model: JsonObject) -> None:
    creators = {
        tag[:4] + tag[6:8]: str(attr.get("Value", [""])[0])
        for tag, attr in model.items()
        if int(tag[:4], 16) % 2 == 1 and 0x10 <= int(tag[4:8], 16) <= 0xFF and attr.get("Value")
    }
    for tag in sorted(model):
        attr = model[tag]
        vr = attr.get("vr", "UN")
        element = ET.SubElement(parent, "DicomAttribute", {"tag": tag.upper(), "vr": vr})
        group = int(tag[:4], 16)
        if group % 2 == 1:
            creator = creators.get(tag[:4] + tag[4:6])
            if creator and int(tag[4:8], 16) > 0xFF:
                element.set("privateCreator", creator)
        else:
            keyword = keyword_for_tag(int(tag, 16))
            if keyword:
                element.set("keyword", keyword)
        if "BulkDataURI" in attr:
            ET.SubElement(element, "BulkData", {"uri": str(attr["BulkDataURI"])})
        elif "InlineBinary" in attr:
            ET.SubElement(element, "InlineBinary").text = str(attr["InlineBinary"])
        for number, value in enumerate(attr.get("Value", []), start=1):
            if vr == "SQ":
                item = ET.SubElement(element, "Item", {"number": str(number)})
                _fill(item, value or {})
            elif vr == "PN":
                _person_name(element, number, value or {})
            else:
                node = ET.SubElement(element, "Value", {"number": str(number)})
                if value is not None:
                    node.text = str(value)


def _person_name(element: ET.Element, number: int, value: JsonObject) -> None:
    # PS3.19 A.1.5: PersonName with Alphabetic / Ideographic / Phonetic component groups.
    name = ET.SubElement(element, "PersonName", {"number": str(number)})
    for group in ("Alphabetic", "Ideographic", "Phonetic"):
        text = value.get(group)
        if not text:
            continue
        node = ET.SubElement(name, group)
        parts = str(text).split("^")
        for label, part in zip(
            ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix"), parts, strict=False
        ):
            if part:
                ET.SubElement(node, label).text = part


def dataset_to_json(
    ds: Dataset,
    *,
    bulk_data_uri: Callable[[int], str] | None,
    pixel_data_uri: str | None = None,
    pixel_vr: str = "OW",
    bulk_threshold: int = 1024,
) -> JsonObject:
    """DICOM JSON for QIDO-RS / WADO-RS metadata (PS3.18 Annex F.2).

    Binary values larger than ``bulk_threshold`` become ``{"BulkDataURI": bulk_data_uri(tag)}``
    (F.2.6) instead of inline base64; with ``bulk_data_uri=None`` they are left out altogether.
    Values the parser deferred (never read from disk) are treated the same way, so this never reads
    the file. ``pixel_data_uri`` adds (7FE0,0010) as a BulkDataURI when the header was read without
    Pixel Data (``parse_instance`` never loads it).
    """
    # One pass over the elements, each converted once (pydicom caches it in ``ds``), no copy of the data
    # set: at ingest this runs for every instance (issue 21: it was a third of the parse stage). Not
    # pydicom's Dataset.to_json_dict: its suppress_invalid_tags switches pydicom's process-global
    # reading mode for the duration, which races with the parse threads.
    model: JsonObject = {}
    deferred: list[tuple[int, str]] = []

    def handler(element: DataElement) -> str:
        assert bulk_data_uri is not None
        return bulk_data_uri(int(element.tag))

    for tag in ds.keys():
        raw = ds.get_item(tag, keep_deferred=True)
        if isinstance(raw, RawDataElement) and raw.value is None and raw.length:
            deferred.append((int(tag), raw.VR or "UN"))
            continue
        if bulk_data_uri is None and raw is not None and raw.VR in _BULK_VRS and _binary_length(raw) > bulk_threshold:
            continue
        try:
            model[f"{int(tag):08X}"] = ds[tag].to_json_dict(
                bulk_data_element_handler=handler if bulk_data_uri is not None else None,
                bulk_data_threshold=bulk_threshold)
        except Exception:  # noqa: BLE001, S112 - an undecodable value is left out, as pydicom's suppress_invalid_tags
            continue
    if bulk_data_uri is not None:
        for deferred_tag, vr in deferred:
            model[f"{deferred_tag:08X}"] = {"vr": vr, "BulkDataURI": bulk_data_uri(deferred_tag)}
    if pixel_data_uri is not None:
        model["7FE00010"] = {"vr": pixel_vr, "BulkDataURI": pixel_data_uri}
    return dict(sorted(model.items()))


def _binary_length(element: DataElement | RawDataElement) -> int:
    if isinstance(element, RawDataElement):
        return int(element.length)
    value = element.value
    return len(value) if isinstance(value, (bytes, bytearray)) else 0
