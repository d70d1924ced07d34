"""Sending notices against real sockets: a refused port, a silent server, no server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from dispatcher.config import Settings
from dispatcher.notify_send import (
    MailServer,
    NotConfigured,
    Senders,
    SendFailed,
    Undeliverable,
    message,
)


async def _closed_port() -> int:
    server = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


async def test_a_server_that_is_down_fails_at_once(tmp_path: Path) -> None:
    port = await _closed_port()
    settings = Settings(data_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=port)
    senders = Senders(1)
    await senders.start()
    try:
        began = time.monotonic()
        with pytest.raises(SendFailed, match="Connection"):
            await senders.mail(MailServer.of(settings), "a@b.test", "s", "body")
        with pytest.raises(SendFailed):
            await senders.webhook(f"http://127.0.0.1:{port}/hook", {"x": 1}, 5.0)
        assert time.monotonic() - began < 5.0
    finally:
        await senders.close()


async def test_a_silent_server_ends_by_the_time_limit(tmp_path: Path) -> None:
    silent = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    settings = Settings(
        data_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=port, notify_timeout_s=0.3
    )
    senders = Senders(1)
    await senders.start()
    try:
        began = time.monotonic()
        with pytest.raises(SendFailed):
            await senders.mail(MailServer.of(settings), "a@b.test", "s", "body")
        with pytest.raises(SendFailed, match="no answer"):
            await senders.webhook(f"http://127.0.0.1:{port}/hook", {"x": 1}, 0.3)
        assert time.monotonic() - began < 3.0
    finally:
        await senders.close()
        silent.close()


async def test_without_a_host_mail_is_not_configured(tmp_path: Path) -> None:
    assert MailServer.of(Settings(data_dir=tmp_path)) is None
    senders = Senders(1)
    await senders.start()
    try:
        with pytest.raises(NotConfigured, match="smtp_host"):
            await senders.mail(None, "a@b.test", "s", "body")
    finally:
        await senders.close()


def test_an_unreadable_password_file_is_a_failed_send(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, smtp_host="mail.test", smtp_password_file=tmp_path / "missing"
    )
    with pytest.raises(SendFailed, match="smtp_password_file"):
        MailServer.of(settings)


@pytest.mark.parametrize("to", ["a@b.test\nBcc: x@y.test", "no-at-sign", "a@b.test, c@d.test", ""])
def test_an_address_that_is_no_single_mailbox_is_undeliverable(to: str) -> None:
    with pytest.raises(Undeliverable):
        message("farm@studio.test", to, "subject", "body")


def test_a_message_has_its_headers() -> None:
    mail = message("farm@studio.test", "alice@studio.test", 'Corral: job 1 "x" done', "body\n")
    assert (mail["From"], mail["To"]) == ("farm@studio.test", "alice@studio.test")
    assert mail["Subject"] == 'Corral: job 1 "x" done' and mail["Message-ID"].endswith(
        "@studio.test>"
    )
