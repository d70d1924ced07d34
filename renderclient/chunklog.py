"""One chunk's output as the template's checks read it: kept whole, handed out in blocks.

`ChunkLog` spools the process output to an anonymous temporary file (gone when
closed, even if the client dies; made at the first output, so that a silent
command costs no file) so that the final onCheckLog sees the whole log,
up to `max_bytes` (64 MiB): past it the log keeps its first `max_bytes - tail_bytes`
and its last `tail_bytes`, with a line saying how much was left out between them.
While the process runs, `take_block()` gives the complete lines written since the
last call, for the streaming onCheckLog calls and the progress patterns.

`ProgressLog` keeps the log so far for onCheckProgress, bounded: the whole log up
to `PROGRESS_LOG_MAX_CHARS` (4 Mi characters, 4 MiB of ASCII output), past it the
latest that much, cut at a line start, after a line saying how much was left out.

`LogScanner` reads a template's progress and frame patterns from those blocks;
`expected_outputs` expands its output pattern for a chunk's frames.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import deque
from collections.abc import Iterable
from decimal import Decimal
from typing import IO

from dispatcher.model import frame_text
from hooks.api.objects import MJob

MAX_LOG_CHECK_BYTES = 64 * 1024 * 1024
TAIL_KEEP_BYTES = 1024 * 1024
# A block is handed out at the latest at this size (a process that writes fast
# is checked as often as its output allows, never with one huge block).
MAX_BLOCK_BYTES = 1024 * 1024
PROGRESS_LOG_MAX_CHARS = 4 * 1024 * 1024


class ChunkLog:
    """The output of one attempt: the spool file, the running tail, the unread block."""

    def __init__(
        self, max_bytes: int = MAX_LOG_CHECK_BYTES, tail_bytes: int = TAIL_KEEP_BYTES
    ) -> None:
        self.max_bytes = max_bytes
        self.tail_bytes = min(tail_bytes, max_bytes // 2)
        self._head_limit = max_bytes - self.tail_bytes
        # Owned by this object for the attempt's life (made at the first output);
        # close() ends it.
        self._file: IO[bytes] | None = None
        self._closed = False
        self.spool_error = ""  # why there is no spool file, when making it failed
        self.size = 0
        self._tail = bytearray()
        self._block = bytearray()

    def add(self, data: bytes) -> None:
        """Output as the process writes it (on the event loop: small page-cache writes)."""
        if not data:
            return
        if self._file is None and not self._closed:
            try:
                self._file = tempfile.TemporaryFile(prefix="corral-chunk-log-")  # noqa: SIM115
            except OSError as exc:  # (called from the pipe's callback: never raise there)
                self._closed = True
                self.spool_error = f"the log could not be spooled for the checks: {exc}"
        if self._file is not None and self.size < self._head_limit:
            self._file.write(data[: self._head_limit - self.size])
        self.size += len(data)
        if self.size > self._head_limit:
            self._tail += data
            if len(self._tail) > 2 * self.tail_bytes:
                del self._tail[: len(self._tail) - self.tail_bytes]
        if len(self._block) < 2 * MAX_BLOCK_BYTES:
            self._block += data

    @property
    def block_ready(self) -> bool:
        """True when enough output waits that it should be checked now."""
        return len(self._block) >= MAX_BLOCK_BYTES

    def take_block(self, *, final: bool = False) -> str:
        """The complete lines written since the last call ("" when none); with `final`,
        the unfinished last line too."""
        end = len(self._block) if final else self._block.rfind(b"\n") + 1
        if end <= 0 and len(self._block) >= MAX_BLOCK_BYTES:
            end = len(self._block)  # one endless line: hand it out anyway
        if end <= 0:
            return ""
        data = bytes(self._block[:end])
        del self._block[:end]
        return data.decode("utf-8", "replace")

    def whole(self) -> str:
        """The whole log (within the cap), read back from the spool file. Blocking I/O:
        call it off the event loop, once the process has ended."""
        if self._file is None:
            return f"[corral] {self.spool_error}\n" if self.spool_error else ""
        self._file.flush()
        head = os.pread(self._file.fileno(), self._head_limit, 0)
        text = head.decode("utf-8", "replace")
        if self.size <= self._head_limit:
            return text
        tail = bytes(self._tail[-self.tail_bytes :])
        left_out = self.size - len(head) - len(tail)
        if left_out > 0:
            text += f"\n[corral] {left_out} bytes of the log left out here (log check cap)\n"
        return text + tail.decode("utf-8", "replace")

    def close(self) -> None:
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None


class ProgressLog:
    """The log so far as onCheckProgress reads it: blocks kept as they come (on the
    loop, cheap), joined by `text()` in the callback's thread."""

    def __init__(self, max_chars: int = PROGRESS_LOG_MAX_CHARS) -> None:
        self.max_chars = max_chars
        self.size = 0
        self.left_out = 0
        self.changed = False
        self._pieces: deque[str] = deque()

    def add(self, block: str) -> None:
        if not block:
            return
        self._pieces.append(block)
        self.size += len(block)
        self.changed = True
        excess = self.size - self.max_chars
        while excess > 0 and len(self._pieces[0]) <= excess:
            dropped = self._pieces.popleft()
            self.size -= len(dropped)
            self.left_out += len(dropped)
            excess -= len(dropped)
        if excess > 0:
            # Cut the oldest block at a line start, so that no half line is read.
            first = self._pieces[0]
            cut = first.find("\n", excess - 1) + 1 or excess
            self._pieces[0] = first[cut:]
            self.size -= cut
            self.left_out += cut

    def snapshot(self) -> tuple[str, ...]:
        """The pieces as they are now (on the loop); `changed` is reset."""
        self.changed = False
        pieces = tuple(self._pieces)
        if self.left_out:
            note = f"[corral] {self.left_out} characters of the log left out here (progress cap)\n"
            pieces = (note, *pieces)
        return pieces


class LogScanner:
    """Progress (percent) and finished frames read from log blocks, with a template's
    patterns. A pattern that does not compile is reported once by `errors`."""

    def __init__(self, progress_pattern: str = "", frame_pattern: str = "") -> None:
        self.errors: list[str] = []
        self._progress = self._compile("progress", progress_pattern)
        self._frame = self._compile("frame", frame_pattern)
        self.percent: float | None = None
        self.frames = 0

    def _compile(self, what: str, pattern: str) -> re.Pattern[str] | None:
        if not pattern:
            return None
        try:
            compiled = re.compile(pattern, re.MULTILINE)
        except re.error as exc:
            self.errors.append(f"the template's {what} pattern {pattern!r} is invalid: {exc}")
            return None
        if what == "progress" and compiled.groups < 1:
            self.errors.append(f"the template's progress pattern {pattern!r} has no group")
            return None
        return compiled

    @property
    def active(self) -> bool:
        return self._progress is not None or self._frame is not None

    @property
    def reads_progress(self) -> bool:
        return self._progress is not None

    def scan(self, text: str) -> bool:
        """Read one block; True when the percent or the frame count changed."""
        changed = False
        if self._progress is not None:
            for match in self._progress.finditer(text):
                try:
                    value = float(match.group(1))
                except (TypeError, ValueError):
                    continue
                value = min(100.0, max(0.0, value))
                if value != self.percent:
                    self.percent, changed = value, True
        if self._frame is not None:
            found = sum(1 for _ in self._frame.finditer(text))
            if found:
                self.frames += found
                changed = True
        return changed


_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}|(#+)")


def expected_outputs(pattern: str, job: MJob, frames: Iterable[Decimal]) -> list[str]:
    """The file each frame should have written: `{name}` is the job attribute `name`
    (`{frame}` the frame itself), a run of `#` the frame zero-padded to its length."""
    paths = []
    for value in frames:
        number = frame_text(value)

        def fill(match: re.Match[str], number: str = number) -> str:
            name, hashes = match.group(1), match.group(2)
            if hashes:
                sign = "-" if number.startswith("-") else ""
                return sign + number.lstrip("-").zfill(len(hashes))
            if name == "frame":
                return number
            return job.attributeGetString(name)

        paths.append(_FIELD.sub(fill, pattern))
    return paths


def missing_outputs(paths: Iterable[str]) -> list[str]:
    """The paths that are not a regular file (blocking: call it off the event loop)."""
    return [path for path in paths if not os.path.isfile(path)]
