"""Nodes network scan (systemStartNodesNetworkScan): a UDP probe and its answers.

The dispatcher sends a probe to each configured discovery address
(`--discovery-address HOST:PORT`; none by default). A render client that
listens there (`renderclient.discovery.Responder`) answers only a probe that
proves the farm secret, and proves it too; the dispatcher registers the nodes
of every proven answer (they show offline until they connect).

Both messages are msgpack maps with a `type`; the proofs are HMAC-SHA256 over
a role word and the probe's nonce (and the node name for an answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from dispatcher.model import Node

log = logging.getLogger(__name__)

MAX_DATAGRAM = 4096


class Probe(msgspec.Struct, tag="probe"):
    nonce: bytes
    proof: bytes


class Announce(msgspec.Struct, tag="announce"):
    nonce: bytes
    name: str
    instances: int
    host: str
    proof: bytes


_decoder = msgspec.msgpack.Decoder(Probe | Announce)


def sign(secret: bytes, role: str, nonce: bytes, name: str = "") -> bytes:
    return hmac.new(
        secret, f"{role}|".encode() + nonce + b"|" + name.encode(), hashlib.sha256
    ).digest()


def decode(data: bytes) -> Probe | Announce | None:
    if len(data) > MAX_DATAGRAM:
        return None
    try:
        message: Probe | Announce = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return message


def encode(message: Probe | Announce) -> bytes:
    return msgspec.msgpack.encode(message)


@dataclass(frozen=True)
class Answer:
    name: str
    instances: int
    host: str


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, secret: bytes, nonce: bytes) -> None:
        self.secret = secret
        self.nonce = nonce
        self.answers: dict[str, Answer] = {}

    def datagram_received(self, data: bytes, addr: Any) -> None:
        message = decode(data)
        if not isinstance(message, Announce) or message.nonce != self.nonce:
            return
        if not hmac.compare_digest(
            message.proof, sign(self.secret, "announce", self.nonce, message.name)
        ):
            log.warning("action=scan_answer_refused peer=%s reason=bad_proof", addr)
            return
        if not message.name or len(message.name) > 255 or not 1 <= message.instances <= 1024:
            return
        self.answers[message.name] = Answer(message.name, message.instances, message.host[:255])


def parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.strip().rpartition(":")
    if not host or not port.isdecimal() or not 0 < int(port) < 65536:
        raise ValueError(f"not HOST:PORT: {text!r}")
    return host.strip("[]"), int(port)


async def scan(
    addresses: tuple[str, ...] | list[str], secret: bytes, *, timeout_s: float = 1.0
) -> list[Answer]:
    """Probe every address and gather proven answers for `timeout_s`."""
    targets = []
    for text in addresses:
        try:
            targets.append(parse_address(text))
        except ValueError as exc:
            log.warning("action=scan_address_skipped reason=%s", exc)
    if not targets:
        return []
    nonce = secrets.token_bytes(16)
    loop = asyncio.get_running_loop()
    transport, collector = await loop.create_datagram_endpoint(
        lambda: _Collector(secret, nonce), local_addr=("0.0.0.0", 0)
    )
    try:
        probe = encode(Probe(nonce, sign(secret, "scan", nonce)))
        for target in targets:
            with contextlib.suppress(OSError):
                transport.sendto(probe, target)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(collector.answers) < len(targets):
            await asyncio.sleep(0.02)
    finally:
        transport.close()
    return list(collector.answers.values())


def register(queue: Any, store: Any, name: str, instance: int, host: str) -> bool:
    """Register node (name, instance) unless known; True when it is new."""
    if any((node.name, node.instance) == (name, instance) for node in queue.nodes.values()):
        return False
    node = Node(id=queue.new_node_id(), name=name, instance=instance, host=host)
    queue.nodes[node.id] = node
    store.put_node(node)
    log.info("action=node_discovered node=%d name=%s", node.id, node.label)
    return True
