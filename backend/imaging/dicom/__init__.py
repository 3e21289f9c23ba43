"""Pure DICOM building blocks for hospital ingest (issue 3). No database, no HTTP.

Modules:

* :mod:`.errors` - FailureReason / WarningReason codes (PS3.4 B.2.3, PS3.7 C) and ``DicomRejected``.
* :mod:`.parse` - ``parse_instance(path=..., limits=ParseLimits())`` -> ``ParsedInstance`` or raises
  ``DicomRejected``: size / pixel limits, lying lengths, no preamble / no meta, deflate.
* :mod:`.pixels` - where Pixel Data sits in the original file (native layout or fragment list).
* :mod:`.metadata` - ``extract_metadata(ds)`` -> patient / study / series / instance dataclasses,
  character sets decoded (GB18030, GBK, ISO_IR 192, ISO 2022 IR 58 ...).
* :mod:`.multipart` - streaming ``multipart/related`` reader for STOW-RS bodies (temp files, sha256).
* :mod:`.dicomjson` - STOW-RS responses (DICOM JSON, PS3.18 Annex F, and XML, PS3.19) and
  Dataset -> DICOM JSON with BulkDataURIs.
"""
