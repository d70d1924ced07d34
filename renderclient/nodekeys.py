"""A render node's own keys, kept in the client's state folder.

The dispatcher issues a node key at a node's first registration; the client
proves it in every later handshake, so no other holder of the farm secret can
take the node's place. One file per node identity, STATE_DIR/node-keys/
NAME.INSTANCE.key (the name percent-encoded), holding the key in hex, mode
0600 in a 0700 folder, replaced atomically.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from pathlib import Path

logger = logging.getLogger(__name__)

KEYS_FOLDER = "node-keys"


class NodeKeyError(OSError):
    """A node key could not be written."""


class NodeKeys:
    """The node keys under `state_dir`."""

    def __init__(self, state_dir: Path) -> None:
        self.folder = Path(state_dir) / KEYS_FOLDER

    def path(self, name: str, instance: int) -> Path:
        return self.folder / f"{urllib.parse.quote(name, safe='')}.{instance}.key"

    def load(self, name: str, instance: int) -> bytes:
        """The node's key; empty when it has none (a corrupt file is logged and ignored)."""
        path = self.path(name, instance)
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            return b""
        except OSError as exc:
            logger.error("action=node_key_unreadable path=%s error=%s", path, exc.strerror)
            return b""
        try:
            return bytes.fromhex(text)
        except ValueError:
            logger.error("action=node_key_corrupt path=%s: not a hex key", path)
            return b""

    def save(self, name: str, instance: int, key: bytes) -> Path:
        """Keep the node's key (0600); raises NodeKeyError naming the file."""
        path = self.path(name, instance)
        temporary = path.with_name(path.name + ".tmp")
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(key.hex() + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except OSError as exc:
            raise NodeKeyError(
                f"cannot keep the node key in {path}: {exc.strerror or exc}"
            ) from exc
        logger.info("action=node_key_saved path=%s", path)
        return path
