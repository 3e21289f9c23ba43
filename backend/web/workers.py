"""``yunying serve --workers N``: one process accepts, N worker processes serve, connections dealt in turn.

Why not uvicorn's own ``--workers`` (issue 17, docs/capacity.md): its workers share one listening socket,
and uvloop's accept takes every pending connection in one wake-up, so two keep-alive connections opened
together often both land in whichever worker woke first. That worker then carries them on one core (its
event loop and GIL) while the other idles: half the throughput, in about half of the preview benchmark's
runs. Here the parent holds the listening socket, accepts, and hands each connection to the next worker
over a Unix socket (SCM_RIGHTS, ``socket.send_fds``); the worker adopts it into its event loop as if it had
accepted it. Round robin: a node's connections are long-lived keep-alives from a proxy or browsers, so
turns spread them evenly; per-request balancing across nodes is the front proxy's job (deploy/nginx).

The parent stays small: no app, no database. A worker that dies is started again (its connections die
with it, as with uvicorn's supervisor). SIGTERM or SIGINT: the parent stops accepting and closes the
channels; each worker sees the end of its channel, finishes its requests (uvicorn's graceful shutdown)
and exits; the parent waits for them, then kills what is left after ``STOP_WAIT_S``.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import selectors
import signal
import socket
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn

log = logging.getLogger("yunying.web")
STOP_WAIT_S = 30.0
RESTART_PAUSE_S = 1.0  # a worker that dies at once is not restarted in a tight loop


@dataclass
class _Worker:
    process: BaseProcess
    channel: socket.socket  # the parent's end
    started: float = field(default_factory=time.monotonic)


def serve(config_kwargs: dict[str, Any], *, workers: int) -> None:
    """Run ``workers`` processes of ``uvicorn.Config(**config_kwargs)``; returns after SIGTERM/SIGINT."""
    config = uvicorn.Config(**config_kwargs)
    listener = config.bind_socket()  # bound, not yet listening (uvicorn's server would call listen)
    listener.listen(config.backlog)
    listener.set_inheritable(False)  # the workers get connections, never the listener
    listener.setblocking(False)
    ctx = multiprocessing.get_context("spawn")
    pool = [_start(ctx, config_kwargs) for _ in range(workers)]
    stopping = False

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("serving on %s:%s with %d workers (connections dealt in turn)", config.host, config.port, workers)
    turn = 0
    with selectors.DefaultSelector() as selector:
        selector.register(listener, selectors.EVENT_READ)
        while not stopping:
            for _ in selector.select(timeout=0.5):
                while True:
                    try:
                        conn, _address = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as exc:  # e.g. EMFILE: the connection waits in the backlog for later
                        log.warning("accept failed (%s)", exc)
                        break
                    turn = _hand(pool, conn, turn)
            for index, worker in enumerate(pool):
                if not worker.process.is_alive() and not stopping:
                    log.error("web worker %s exited (code %s); starting another", worker.process.pid,
                              worker.process.exitcode)
                    worker.channel.close()
                    if time.monotonic() - worker.started < RESTART_PAUSE_S:
                        time.sleep(RESTART_PAUSE_S)
                    pool[index] = _start(ctx, config_kwargs)
    listener.close()
    for worker in pool:
        worker.channel.close()  # the worker's signal to finish its requests and exit
    deadline = time.monotonic() + STOP_WAIT_S
    for worker in pool:
        worker.process.join(max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()


def _start(ctx: Any, config_kwargs: dict[str, Any]) -> _Worker:
    parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    process = ctx.Process(target=_worker_main, args=(config_kwargs, child_end), name="yunying-web")
    process.start()
    child_end.close()
    return _Worker(process=process, channel=parent_end)


def _hand(pool: list[_Worker], conn: socket.socket, turn: int) -> int:
    """Give ``conn`` to the next live worker; returns the next turn. The parent's copy is closed either way."""
    with conn:
        for step in range(len(pool)):
            worker = pool[(turn + step) % len(pool)]
            try:
                socket.send_fds(worker.channel, [b"c"], [conn.fileno()])
            except OSError:  # that worker is gone; its restart comes from the loop
                continue
            return (turn + step + 1) % len(pool)
    return turn


def _worker_main(config_kwargs: dict[str, Any], channel: socket.socket) -> None:
    config = uvicorn.Config(**config_kwargs)
    _HandedServer(config, channel).run()


class _HandedServer(uvicorn.Server):
    """A uvicorn server without a listening socket: its connections come from the parent, adopted with
    ``loop.connect_accepted_socket`` and served by uvicorn's own HTTP protocol, as an accepted one is."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self.channel = channel

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the lifespan (app startup); no listener of its own
        if self.should_exit:
            return
        loop = asyncio.get_running_loop()
        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), self._adopt, loop)

    def _protocol(self, loop: asyncio.AbstractEventLoop) -> asyncio.Protocol:
        # What uvicorn's Server.startup builds for each accepted connection (uvicorn/server.py).
        return self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state, _loop=loop)

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            try:
                message, fds, _flags, _address = socket.recv_fds(self.channel, 1, 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                message, fds = b"", []
            if not message and not fds:  # the parent closed the channel (stopping) or is gone
                loop.remove_reader(self.channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                conn = socket.socket(fileno=fd)
                conn.setblocking(False)
                loop.create_task(self._serve_connection(loop, conn))

    async def _serve_connection(self, loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(lambda: self._protocol(loop), sock=conn)
        except OSError:  # the client left before it was adopted
            conn.close()
