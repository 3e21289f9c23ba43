"""Read access to a DICOM JSON data set (PS3.18 F.2) with the values pydicom would give.

:func:`backend.dicom.metadata.extract_metadata` reads its index fields by tag through
:func:`backend.dicom.values.get`; given a :class:`DicomJsonView` instead of a pydicom ``Dataset`` it
reads them from the JSON the fast header reader made (:mod:`.fastheader`), so ingest converts each
element once. The values have the shapes ``DataElement.value`` has: one value bare, several in a list,
PN as ``PersonName``, SQ as a list of views, an empty element as None.
"""

from __future__ import annotations

from typing import Any

from pydicom.valuerep import PersonName


class DicomJsonView:
    __slots__ = ("charset_assumed", "model")

    def __init__(self, model: dict[str, Any], *, charset_assumed: str | None = None) -> None:
        self.model = model
        self.charset_assumed = charset_assumed  # the character set repair already applied (metadata.py)

    def __contains__(self, tag: int) -> bool:
        return f"{int(tag):08X}" in self.model

    def value(self, tag: int) -> Any:
        return self.at(f"{int(tag):08X}")

    def at(self, key: str) -> Any:
        """:meth:`value` by the element's DICOM JSON key ("00100010"): values.get keeps the key of each
        keyword it reads, the index reads ~70 per instance (issue 21)."""
        attr = self.model.get(key)
        if attr is None:
            return None
        values = attr.get("Value")
        vr = attr.get("vr")
        if not values:
            return [] if vr == "SQ" else None
        if vr == "SQ":
            return [DicomJsonView(item) for item in values]
        if vr == "PN":
            values = [PersonName("=".join(name.get(group, "") for group in ("Alphabetic", "Ideographic", "Phonetic")
                                          if group in name)) for name in values]
        return values[0] if len(values) == 1 else list(values)
