"""The consoles' reader of the dispatcher's live events (GET /api/v1/events, server-sent events).

`follow()` yields each event as a `StreamEvent`, and `None` every `tick_s` while
none comes (so a caller can check other things, or notice Ctrl-C). A reader
thread holds the connection; when it breaks (the dispatcher restarted, the
network failed) the thread connects again with `Last-Event-ID`, so no event is
lost: the dispatcher replays what it kept, or sends one `missed` event when it
no longer has them (the caller reloads what it shows). A dispatcher that stays
unreachable for `give_up_s` ends the iteration with `DispatcherUnreachable`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from console.http import ConsoleError, DispatcherClient, DispatcherUnreachable, RequestRefused

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 60.0  # longer than the dispatcher's keep-alive (15 s by default)
GIVE_UP_S = 30.0
MAX_BACKOFF_S = 5.0


@dataclass(frozen=True)
class StreamEvent:
    """One event: its number, kind (`event:` field) and data (the event's JSON)."""

    id: int | None
    kind: str
    data: dict[str, Any]

    def line(self) -> dict[str, Any]:
        """The event as one JSON object for `--json`: its data with its id."""
        return {"id": self.id, **self.data}


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def parse(lines: Iterable[bytes]) -> Iterator[tuple[str | None, str, str]]:
    """Server-sent-event fields from lines: (id, event, data) per message; comments and
    `retry:` are skipped (the reader's own backoff decides)."""
    event_id: str | None = None
    kind = "message"
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield event_id, kind, "\n".join(data)
            event_id, kind, data = None, "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            event_id = value
        elif name == "event":
            kind = value
        elif name == "data":
            data.append(value)


class EventFollower:
    """Follows the event stream with filters; iterate it, then `close()` (or use `with`)."""

    def __init__(
        self,
        client: DispatcherClient,
        *,
        jobs: Iterable[int] = (),
        nodes: Iterable[int] = (),
        kinds: Iterable[str] = (),
        after: int | None = None,
        tick_s: float = 1.0,
        give_up_s: float = GIVE_UP_S,
    ) -> None:
        self.client = client
        self.query = (
            [("job", str(job)) for job in jobs]
            + [("node", str(node)) for node in nodes]
            + [("kind", kind) for kind in kinds]
        )
        self.last_id = after
        self.tick_s = tick_s
        self.give_up_s = give_up_s
        self._inbox: queue.Queue[StreamEvent | _Failed] = queue.Queue(maxsize=10_000)
        self._stop = threading.Event()
        self._response: IO[bytes] | None = None
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._read, name="corral-events", daemon=True)
        self._thread.start()

    def __enter__(self) -> EventFollower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_connected(self, timeout_s: float) -> bool:
        """True once the stream is open (events published from then on are seen)."""
        return self._connected.wait(timeout_s)

    def __iter__(self) -> Iterator[StreamEvent | None]:
        while True:
            try:
                item = self._inbox.get(timeout=self.tick_s)
            except queue.Empty:
                yield None
                continue
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def close(self) -> None:
        """Stop following at once. The reader thread may be blocked reading the stream
        (holding the response's buffer lock, so closing the response would wait for the
        next line): shutting its socket down ends that read now."""
        self._stop.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                _socket_of(response).shutdown(socket.SHUT_RDWR)

    # -- the reader thread -----------------------------------------------------------
    def _read(self) -> None:
        backoff_s = 0.25
        failing_since: float | None = None
        while not self._stop.is_set():
            try:
                self._follow_once()
                failing_since = None  # it ended cleanly (the dispatcher shut down)
                backoff_s = 0.25
            except RequestRefused as exc:
                if exc.status != 503:  # refused for good (token, filters): tell the caller
                    self._inbox.put(_Failed(exc))
                    return
                failing_since = failing_since or time.monotonic()
            except (ConsoleError, OSError, ValueError, http.client.HTTPException) as exc:
                if self._stop.is_set():
                    return
                log.debug("action=event_stream_broken error=%r", exc)
                failing_since = failing_since or time.monotonic()
            if failing_since is not None and time.monotonic() - failing_since > self.give_up_s:
                self._inbox.put(
                    _Failed(
                        DispatcherUnreachable(
                            self.client.base_url, f"no event stream for {self.give_up_s:g} s"
                        )
                    )
                )
                return
            if self._stop.wait(backoff_s):
                return
            backoff_s = min(MAX_BACKOFF_S, backoff_s * 2)

    def _follow_once(self) -> None:
        response = self.client.open_events(self.query, self.last_id, READ_TIMEOUT_S)
        self._response = response
        self._connected.set()
        try:
            for event_id, kind, text in parse(iter(response.readline, b"")):
                if self._stop.is_set():
                    return
                try:
                    data = json.loads(text)
                except ValueError:
                    data = {"text": text}
                number = int(event_id) if event_id and event_id.isdecimal() else None
                if number is not None:
                    self.last_id = number
                self._inbox.put(
                    StreamEvent(number, kind, data if isinstance(data, dict) else {"value": data})
                )
        finally:
            self._response = None
            with contextlib.suppress(Exception):
                response.close()


def _socket_of(response: Any) -> socket.socket:
    """The socket under an open HTTP response (http.client reads it through a SocketIO)."""
    sock: socket.socket = response.fp.raw._sock
    return sock
