"""Typed rendering failures.

Every way a preview can fail is a `RenderError` with a stable machine-readable `reason` (used by
the HTTP layer to pick a 4xx status or a placeholder thumbnail) and a message in Simplified Chinese
and English. Nothing in the rendering core raises anything else for bad input: a malformed file must
become a stated reason, never a crashed worker (DESIGN.md rule 3).
"""

from __future__ import annotations


class RenderError(Exception):
    """A frame cannot be rendered; `reason` is a stable code, messages are for people."""

    reason: str = "render_failed"

    def __init__(self, *, message_en: str, message_zh: str, reason: str | None = None) -> None:
        super().__init__(message_en)
        if reason is not None:
            self.reason = reason
        self.message_en = message_en
        self.message_zh = message_zh

    def __str__(self) -> str:
        return f"{self.reason}: {self.message_en}"


class NoPixelData(RenderError):
    reason = "no_pixel_data"


class LimitExceeded(RenderError):
    """The image is larger than the configured pixel / frame budget; checked before decoding."""

    reason = "limit_exceeded"


class FrameOutOfRange(RenderError):
    reason = "frame_out_of_range"


class UnsupportedImage(RenderError):
    """A combination of attributes this renderer does not implement (or the standard forbids)."""

    reason = "unsupported_image"


class MalformedImage(RenderError):
    """Header attributes are missing or contradict each other (e.g. NumberOfFrames '1A')."""

    reason = "malformed_image"


class DecodeFailed(RenderError):
    """The codec could not decode the pixel data (corrupt stream, truncated data, missing plugin)."""

    reason = "decode_failed"
