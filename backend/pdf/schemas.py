"""Query parameters of the PDF routes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel

Lang = Literal["zh-CN", "en"]
LangQuery = Annotated[Lang, Query(description="Labels of the document: zh-CN (default) or en.")]
DownloadQuery = Annotated[bool, Query(description="true: Content-Disposition attachment (save), else inline.")]


class PagesOut(BaseModel):
    """A PDF's pages as image URLs, in order (issue 19 item 6)."""

    count: int
    pages: list[str]
