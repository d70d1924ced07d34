"""The two ways a notification leaves the dispatcher: an e-mail through the configured
SMTP server, and an HTTP POST of a JSON body to a webhook URL.

Both have a time limit. The SMTP client is the standard library's, run in a small
thread pool of its own so that a slow mail server never holds the event loop nor the
loop's default executor; webhooks use one aiohttp session.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import aiohttp

from dispatcher import VERSION
from dispatcher.config import Settings


class Undeliverable(Exception):
    """A notice no later attempt can send (an address that is not one): not retried."""


class NotConfigured(Undeliverable):
    """E-mail is asked for while no SMTP server is configured: not retried."""


class SendFailed(Exception):
    """A send that may succeed later (the server refused, timed out or was down)."""


@dataclass(frozen=True, slots=True)
class MailServer:
    host: str
    port: int
    sender: str
    starttls: bool
    username: str
    password: str
    timeout_s: float

    @classmethod
    def of(cls, settings: Settings) -> MailServer | None:
        """The configured server, or None when `smtp_host` is unset."""
        if not settings.smtp_host:
            return None
        password = ""
        if settings.smtp_password_file is not None:
            password = _read_password(settings.smtp_password_file)
        return cls(
            settings.smtp_host, settings.smtp_port, settings.smtp_from, settings.smtp_starttls,
            settings.smtp_username, password, settings.notify_timeout_s,
        )  # fmt: skip


def _read_password(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise SendFailed(f"cannot read smtp_password_file: {exc.strerror or exc}") from exc


def message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    """The e-mail; Undeliverable for an address that is no single mailbox (an account's
    address is free text: a line break in it must not add a header)."""
    if "@" not in to or any(char.isspace() or ord(char) < 32 for char in to) or "," in to:
        raise Undeliverable(f"{to!r} is not an e-mail address")
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mail.set_content(body)
    return mail


def _send_blocking(server: MailServer, mail: EmailMessage) -> None:
    """One SMTP session: connect, STARTTLS and login when configured, send, quit. Each
    socket operation has the time limit, so a server that stops answering ends it."""
    try:
        with smtplib.SMTP(server.host, server.port, timeout=server.timeout_s) as smtp:
            if server.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if server.username:
                smtp.login(server.username, server.password)
            smtp.send_message(mail)
    except smtplib.SMTPRecipientsRefused as exc:
        raise SendFailed(f"recipient refused: {list(exc.recipients.values())[:1]}") from exc
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise SendFailed(f"{type(exc).__name__}: {exc}") from exc


class Senders:
    """The mail thread pool and the webhook HTTP session; `start()` and `close()`."""

    def __init__(self, concurrency: int) -> None:
        self._concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="corral-smtp")
        if self._http is None:
            self._http = aiohttp.ClientSession(headers={"User-Agent": f"corral/{VERSION}"})

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._pool is not None:
            # Sends still in a thread end by their own socket time limit.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def mail(self, server: MailServer | None, to: str, subject: str, body: str) -> None:
        if server is None:
            raise NotConfigured("no SMTP server is configured (smtp_host)")
        assert self._pool is not None, "Senders.start() first"
        mail = message(server.sender, to, subject, body)
        future = asyncio.get_running_loop().run_in_executor(
            self._pool, _send_blocking, server, mail
        )
        try:
            # A server that drips bytes could pass each socket limit: the whole send has one.
            await asyncio.wait_for(asyncio.shield(future), server.timeout_s * 3)
        except TimeoutError as exc:
            raise SendFailed(f"no answer from {server.host}:{server.port} in time") from exc

    async def webhook(self, url: str, payload: dict[str, Any], timeout_s: float) -> int:
        """POST `payload` as JSON; the answer's status (2xx), SendFailed otherwise."""
        assert self._http is not None, "Senders.start() first"
        try:
            async with self._http.post(
                url,
                json=payload,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                allow_redirects=False,
            ) as answer:
                await answer.content.read(64 * 1024)  # its body is not needed
                if not 200 <= answer.status < 300:
                    raise SendFailed(f"the webhook answered {answer.status}")
                return answer.status
        except TimeoutError as exc:  # before OSError, of which it is one
            raise SendFailed(f"no answer in {timeout_s} s") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise SendFailed(f"{type(exc).__name__}: {exc}") from exc
