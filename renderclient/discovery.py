"""The render client's answer to a dispatcher's nodes network scan.

`Responder` listens on a UDP port (`corral renderclient --discovery-port`)
and answers a probe that proves the farm secret with this client's name and
instance count, proven the same way (dispatcher/discovery.py has the format).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from dispatcher.discovery import Announce, Probe, decode, encode, sign

log = logging.getLogger(__name__)


class Responder(asyncio.DatagramProtocol):
    def __init__(self, secret: bytes, name: str, instances: int, host: str) -> None:
        self.secret = secret
        self.name = name
        self.instances = instances
        self.host = host
        self.transport: asyncio.DatagramTransport | None = None
        self.answered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        message = decode(data)
        if not isinstance(message, Probe):
            return
        if not hmac.compare_digest(message.proof, sign(self.secret, "scan", message.nonce)):
            log.warning("action=scan_probe_refused peer=%s reason=bad_proof", addr)
            return
        answer = Announce(message.nonce, self.name, self.instances, self.host,
                          sign(self.secret, "announce", message.nonce, self.name))  # fmt: skip
        if self.transport is not None:
            self.transport.sendto(encode(answer), addr)
            self.answered += 1
            log.info("action=scan_answered peer=%s", addr)


async def listen(host: str, port: int, responder: Responder) -> asyncio.DatagramTransport:
    """Start answering probes on (host, port); close the transport to stop."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: responder, local_addr=(host, port))
    return transport
