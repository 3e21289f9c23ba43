"""Status codes for DICOM ingest and the one exception the parsers raise.

The numbers are the ones a PACS understands, so a hospital's IT can look them up:

* PS3.18 §10.5.3 (Store Instances response): a failed instance carries FailureReason (0008,1197),
  a stored-with-remarks instance carries WarningReason (0008,1196).
* The values come from the Storage Service Class statuses, PS3.4 Annex B.2.3, and the general
  statuses of PS3.7 Annex C.

`DicomRejected(code, reason)` is raised by :mod:`backend.dicom.parse`; `reason` is a short
English sentence meant for the hospital's log (it ends up in the STOW-RS response, never a stack
trace).
"""

from __future__ import annotations

from enum import IntEnum


class FailureReason(IntEnum):
    """FailureReason (0008,1197) values used by Yunying."""

    # PS3.7 Annex C.4: "Processing failure" - our side broke (disk full is OUT_OF_RESOURCES).
    PROCESSING_FAILURE = 0x0110
    # PS3.7 Annex C.4: "Duplicate SOP Instance" - same SOP Instance UID, different bytes.
    DUPLICATE_SOP_INSTANCE = 0x0111
    # PS3.4 B.2.3 / PS3.18 §10.5.3: "Referenced SOP Class not supported".
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    # PS3.4 B.2.3 "Refused: Out of Resources" (A7xx): over a size / pixel-count limit.
    OUT_OF_RESOURCES = 0xA700
    # PS3.4 B.2.3 "Error: Data Set does not match SOP Class" (A9xx): missing UIDs, meta mismatch.
    DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    # PS3.4 B.2.3 "Error: Cannot understand" (Cxxx): not DICOM, truncated, garbage.
    CANNOT_UNDERSTAND = 0xC000
    # PS3.18 §10.5.3: "Referenced Transfer Syntax not supported".
    TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122


class WarningReason(IntEnum):
    """WarningReason (0008,1196) values (PS3.4 B.2.3 warning statuses)."""

    COERCION_OF_DATA_ELEMENTS = 0xB000
    ELEMENTS_DISCARDED = 0xB006
    DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xB007


class DicomRejected(Exception):
    """One uploaded instance cannot be stored; `code` is a :class:`FailureReason` value."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"0x{code:04X}: {reason}")
        self.code = int(code)
        self.reason = reason

    def __repr__(self) -> str:
        return f"DicomRejected(0x{self.code:04X}, {self.reason!r})"
