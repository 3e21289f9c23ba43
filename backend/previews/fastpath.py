"""The preview hot path: `GET /api/v1/people/{p}/previews/{i}/{frame}/{window}/{name}` answered in front
of FastAPI's routing.

Why: a phone scrolling a CT asks for a preview every few milliseconds. Through FastAPI the request
cost ~3 ms of CPU on this machine before any work was done (measured with wrk: 665 req/s for a 404
vs 12,000 req/s for a bare ASGI app under the same uvicorn), plus an ORM session, the principal, the
whole access policy and the instance lookup per image. Here a cache hit costs: one regex, one read of
the access epoch on a dedicated connection, two dictionary lookups and one file read, on the event loop
(with an S3 store, when this node holds its own copy of the image: storage/nodecache.py).

The same decisions, not new ones:
* who may read what is decided by `authorize_person` after the route's own principal resolvers,
  cached per (credentials, person) in an `access.decisions.DecisionCache`, which serves it only while
  the access epoch is unchanged and for at most its TTL (access/decisions.py);
* the image must belong to that person's study and the access must cover it: `service.study_visible`
  (what the route's `check_study` applies) on every request, from instance facts cached the same way;
* every view is audited through `views.record_view` (one `series.view` event per principal, series
  and hour), exactly as the route does;
* anything this path does not answer with an image — no decision, a refusal, an unknown frame, a
  render error, a query it does not know, an oversized file — goes on to the ordinary route, which
  answers it (404, 4xx problem+json, placeholder). This path only ever says 200 or 304.

Rendering on a miss: native (uncompressed) pixel data at the offset ingest recorded is rendered here,
on a worker thread of this process (numpy and libjpeg-turbo release the GIL; no header parse, no
decoder that hostile bytes could crash, time bounded by the pixel limit); so are compressed frames
that a render worker decoded before (pre-rendering does every frame) and kept in the derived cache
(decoded.py: our own bytes, read back with zstd, size-checked); every other frame goes to the render
pool with its decode-time budget, as the route does.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.access.callers import who_is_calling
from backend.access.decisions import DecisionCache, clocks_now
from backend.access.epoch import EpochReader, current
from backend.access.service import PersonAccess
from backend.db import session_scope
from backend.errors import AppError
from backend.rendering import RenderError

from . import jobs, service, views
from . import spec as S
from .pool import tune_malloc
from .service import Facts

log = logging.getLogger("yunying.previews")

PATH = re.compile(r"^/api/v1/people/([0-9a-f]{32})/previews/([0-9a-f]{32})/([0-9]{1,6})/([A-Za-z0-9.\-]{1,40})/"
                  r"([a-z0-9]{1,8})\.(jpg|webp)$")
QUERY_KEYS = frozenset({"v", "placeholder"})
MAX_INLINE_BYTES = 1024 * 1024  # larger cached objects go through the route
# Native frames up to this size render here: ~4 ms at most on this machine, far inside any decode-time
# budget; larger ones (radiographs) go to the pool, whose budget can abandon them (service.RENDER_TIMEOUT_S).
INLINE_MAX_PIXELS = 1024 * 1024 // 2
INLINE_RENDERS = max(1, os.cpu_count() or 1)


Answer = tuple[str, str, bytes, str]  # ETag, media type, the image, Cache-Control


@dataclass(frozen=True, slots=True)
class Ask:
    person_id: str
    instance_id: str
    spec: S.PreviewSpec  # without the original's sha256, which comes with the instance facts
    key: tuple[Any, ...]


def _parse(scope: Scope) -> Ask | None:
    m = PATH.match(scope["path"])
    if m is None:
        return None
    query = scope.get("query_string", b"").decode("latin-1")
    if query and any(k not in QUERY_KEYS for k, _ in parse_qsl(query, keep_blank_values=True)):
        return None
    person_id, instance_id, frame_s, window, width, ext = m.groups()
    try:
        spec = S.preview_spec(sha256="", frame=int(frame_s), window=S.parse_window(window),
                              width=S.parse_width(width), fmt=S.parse_ext(ext))
    except S.SpecError:
        return None
    headers = dict(scope["headers"])
    resolvers = tuple(map(id, scope["app"].state.principal_resolvers))
    # Everything a principal resolver may read: the credentials and the person of the path.
    key = (resolvers, headers.get(b"authorization"), headers.get(b"cookie"), person_id)
    return Ask(person_id=person_id, instance_id=instance_id, spec=spec, key=key)


class PreviewFastPath:
    """ASGI middleware: answers previews it can serve, passes everything else on unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.decisions: DecisionCache[PersonAccess] = DecisionCache()
        # Facts about an image do not age (only a watched write changes them): no time limit.
        self.facts: DecisionCache[Facts] = DecisionCache(ttl_s=float("inf"))
        self._epoch: EpochReader | None = None
        # Inline renders allocate the same 0.5-2 MB buffers as the pool's workers: keep them (pool.tune_malloc).
        tune_malloc()
        # Up to one inline render per core at a time in this process, the rest go to the pool. numpy and
        # libjpeg-turbo release the GIL for most of a render, so two renders in one process overlap well:
        # measured with both connections on one web process (2 clients, 512 CT), ~290-430 images/s with
        # two inline renders against ~270-330 with one inline and the other through the pool.
        self._inline = threading.Semaphore(INLINE_RENDERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].startswith("/api/v1/people/"):
            await self.app(scope, receive, send)
            return
        owner = scope["app"]
        runtime: service.Runtime | None = getattr(owner.state, "previews", None)
        ask = _parse(scope) if runtime is not None else None
        if ask is None or runtime is None:
            await self.app(scope, receive, send)
            return
        try:
            answer, known = self._from_caches(owner, runtime, ask)
            if answer is None:
                answer = await anyio.to_thread.run_sync(self._work, scope, runtime, ask, known)
        except Exception as exc:  # noqa: BLE001 - a fault here must not become a 500: the route answers
            log.warning("preview fast path fell back to the route: %s", type(exc).__name__)
            answer = None
        if answer is None:
            await self.app(scope, receive, send)
            return
        etag, media, data, cache = answer
        await _send_image(scope, send, etag=etag, media=media, data=data, cache=cache)

    # -- on the event loop: only dictionary lookups, one tiny query and one small file read -----------
    def _from_caches(self, owner: Any, runtime: service.Runtime,
                     ask: Ask) -> tuple[Answer | None, tuple[PersonAccess, Facts] | None]:
        """(the image, None) on a hit; else (None, the still-valid decision and facts, if both are)."""
        if self._epoch is None:
            self._epoch = EpochReader(owner.state.engine)
        # Never connects here: a connection from an empty pool would stall this node's event loop (epoch.py).
        epoch = self._epoch.read(connect=False)
        if epoch is None:
            return None, None
        access = self.decisions.get(ask.key, epoch=epoch)
        facts = self.facts.get(ask.instance_id, epoch=epoch)
        if access is None or facts is None or not self._servable(access, facts, ask):
            return None, None
        if not views.recorded(principal=access.principal, series_id=facts.series_id):
            return None, (access, facts)
        spec = _spec_for(ask, facts)
        # A file read — the local store, or this node's copy of an S3 object — is cheap enough here and
        # saves the hop to a worker thread; a network read (S3) never blocks the event loop: the thread does it.
        data = runtime.cache.read_nearby(spec.relpath, max_bytes=MAX_INLINE_BYTES)
        if data is None:
            return None, (access, facts)
        return (spec.etag, S.MEDIA[spec.fmt], data, service.cache_control(access.principal)), None

    @staticmethod
    def _servable(access: PersonAccess, facts: Facts, ask: Ask) -> bool:
        return (facts.has_pixels and 0 <= ask.spec.frame < facts.frames
                and service.study_visible(access, study_id=facts.study_id, study_person_id=facts.study_person_id))

    # -- on a worker thread: the policy, the audit write, rendering ---------------------------------
    def _work(self, scope: Scope, runtime: service.Runtime, ask: Ask,
              known: tuple[PersonAccess, Facts] | None) -> Answer | None:
        """`known`: a decision and facts the event loop found valid an instant ago (its epoch read is as
        fresh as one here would be), so only the missing work remains."""
        owner = scope["app"]
        if self._epoch is not None and not self._epoch.connected:
            self._epoch.read()  # (re)connect the event loop's reader here, on a thread that may wait
        found = known or self._decide(scope, owner, runtime, ask)
        if found is None:
            return None
        access, facts = found
        if not self._servable(access, facts, ask):
            return None
        views.record_view(engine=owner.state.engine, access=access, series_id=facts.series_id,
                          study_id=facts.study_id)
        spec = _spec_for(ask, facts)
        data = service.cached_image(runtime, spec, series_id=facts.series_id, ref=facts.ref, renders_here=facts.inline,
                                    read=lambda: runtime.cache.read(spec.relpath, max_bytes=MAX_INLINE_BYTES),
                                    max_bytes=MAX_INLINE_BYTES)
        if data is None:
            if runtime.cache.exists(spec.relpath) or service.cached_error(runtime, spec) is not None:
                return None  # a large cached file, or a known failure: the route answers
            data = self._render(runtime, facts, spec)
        if data is None:
            return None
        return spec.etag, S.MEDIA[spec.fmt], data, service.cache_control(access.principal)

    def _decide(self, scope: Scope, owner: Any, runtime: service.Runtime,
                ask: Ask) -> tuple[PersonAccess, Facts] | None:
        """The cached halves that are still valid, the others from the database (policy first)."""
        with session_scope(owner.state.engine, readonly=True) as session:
            clocks = clocks_now()
            epoch = current(session)  # first: the rows below are at least this new
            access = self.decisions.get(ask.key, epoch=epoch)
            if access is None:
                request = Request(scope)
                try:
                    principal = who_is_calling(request, session, resolvers=owner.state.principal_resolvers)
                    access = service.authorize_person(session=session, principal=principal, person_id=ask.person_id)
                except AppError:
                    return None  # refused or unknown: the route gives the answer (the same 404)
                self.decisions.put(ask.key, access, epoch=epoch, clocks=clocks)
            facts = self.facts.get(ask.instance_id, epoch=epoch)
            if facts is None:
                for found in service.series_facts(session=session, blobs=runtime.blobs, instance_id=ask.instance_id,
                                                  inline_max_pixels=INLINE_MAX_PIXELS):
                    self.facts.put(found.instance_id, found, epoch=epoch, clocks=clocks)
                    if found.instance_id == ask.instance_id:
                        facts = found
                if facts is None:
                    return None
        return access, facts

    def _render(self, runtime: service.Runtime, facts: Facts, spec: S.PreviewSpec) -> bytes | None:
        inline = (facts.inline or facts.packed) and self._inline.acquire(blocking=False)
        try:
            args = (facts.ref, spec.frame, spec.window, spec.width, spec.fmt, spec.quality, str(runtime.cache.root),
                    runtime.limits)
            if inline and facts.inline:
                return jobs.render_preview(*args)
            if inline:  # compressed: here only from a frame decoded before (decoded.py), never the decoder
                data = jobs.render_decoded_preview(*args)
                if data is not None:
                    return data
            return service.render_preview(runtime, facts.ref, spec)
        except (RenderError, AppError):
            return None  # the route renders the same failure as problem+json or a placeholder
        finally:
            if inline:
                self._inline.release()


def _spec_for(ask: Ask, facts: Facts) -> S.PreviewSpec:
    s = ask.spec
    return S.preview_spec(sha256=facts.sha256, frame=s.frame, window=s.window, width=s.width, fmt=s.fmt,
                          quality=s.quality)


def _if_none_match(scope: Scope, etag: str) -> bool:
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            return S.etag_listed(value.decode("latin-1"), etag)
    return False


async def _send_image(scope: Scope, send: Send, *, etag: str, media: str, data: bytes, cache: str) -> None:
    # The route's headers exactly (router._image_response), the caching rule included (service.cache_control).
    headers = [(b"etag", etag.encode()), (b"cache-control", cache.encode())]
    if _if_none_match(scope, etag):
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    headers += [(b"content-type", media.encode()), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": data})
