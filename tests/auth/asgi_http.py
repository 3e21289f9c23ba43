"""A ``requests`` transport that answers from an in-process app (TestClient), so the WeChat adapter's
real wechatpy/requests code talks to the simulator without a network (httpx MockTransport style)."""

from __future__ import annotations

from typing import Any

import httpx
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


class ClientAdapter(BaseAdapter):
    def __init__(self, client: httpx.Client) -> None:
        super().__init__()
        self.client = client

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:  # type: ignore[override]
        res = self.client.request(request.method or "GET", request.url or "", content=request.body,
                                  headers=dict(request.headers))
        out = requests.Response()
        out.status_code = res.status_code
        out._content = res.content
        out.headers = CaseInsensitiveDict(res.headers)
        out.url = request.url or ""
        out.request = request
        out.encoding = "utf-8"
        return out

    def close(self) -> None:
        return None


def session_factory(client: httpx.Client):  # type: ignore[no-untyped-def]
    def make() -> requests.Session:
        session = requests.Session()
        session.mount("http://", ClientAdapter(client))
        return session

    return make
