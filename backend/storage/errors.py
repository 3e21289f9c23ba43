"""What the object store can fail with, as the callers see it.

* :class:`ObjectMissing` — no object under that key (a ``FileNotFoundError``, so code that treated a
  missing file as "not there" keeps doing so);
* :class:`ChecksumMismatch` — the bytes offered for a write do not hash to the SHA-256 the caller stated;
  nothing was stored;
* :class:`StorageUnavailable` — the store cannot be reached or refuses us (connection refused, timeouts,
  5xx, bad credentials, a failing disk). An AppError: any request that meets it answers 503 problem+json
  with ``Retry-After`` (never a 500), and the next request tries again — nothing needs a restart.
"""

from __future__ import annotations

from typing import Any

from backend.errors import ServiceUnavailable

RETRY_AFTER_S = 30


class ObjectMissing(FileNotFoundError):
    pass


class ChecksumMismatch(ValueError):
    pass


class StorageUnavailable(ServiceUnavailable):
    code = "storage-unavailable"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail or "The image store is unavailable; retry later.",
                         zh=kwargs.pop("zh", "影像存储暂时不可用，请稍后再试"), **kwargs)
        self.headers = {"Retry-After": str(RETRY_AFTER_S)}

    def __reduce__(self) -> tuple[Any, ...]:  # crosses the render pool's process boundary intact
        return (type(self), (self.detail,))
