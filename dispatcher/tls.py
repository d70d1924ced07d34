"""TLS for the render port and the HTTP API, when the dispatcher is given a certificate.

One server context serves both: the certificate chain and its private key
from `Settings.tls_cert` / `tls_key` (PEM files). Render clients and consoles
verify it against a CA file of their own (`--tls-ca`).
"""

from __future__ import annotations

import logging
import ssl

from dispatcher.config import Settings

log = logging.getLogger(__name__)


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """The dispatcher's TLS context, or None when no certificate is configured.

    Raises OSError naming the files when they cannot be loaded.
    """
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except OSError as exc:  # ssl.SSLError too
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise OSError(
            f"cannot load the TLS certificate {settings.tls_cert} with key "
            f"{settings.tls_key}: {reason}"
        ) from exc
    log.debug("action=tls_context cert=%s", settings.tls_cert)
    return context
