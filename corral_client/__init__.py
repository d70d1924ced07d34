"""Corral's client library: submit jobs to a Corral dispatcher from any Python 3.7+.

The standard library only, so that it imports inside Blender's, Maya's, Nuke's
and Houdini's own Pythons. The whole API::

    import corral_client

    client = corral_client.Client()              # CORRAL_DISPATCHER, CORRAL_TOKEN, token file
    client.login("ana", "secret")                 # optional: a password instead of a token
    job = corral_client.make_job("shot010", "blender", 1, 100, chunk_size=5,
                                 pools=["gpu"], data={"job_file": "/proj/shot010.blend"})
    created = client.submit(job)                  # sent with an Idempotency-Key, retried safely
    client.job(created["id"])["state"]
    client.jobs(["Priority", "<", 50], state="queued")   # a Smedge query (docs/rest.md)
    client.pool_names(); client.templates()
    client.request("GET", "/api/v1/nodes/")       # any other route

``corral_client.query`` turns a typed query (``Priority<50``) into the JSON of
``GET /api/v1/jobs/?where=`` (docs/rest.md, "Queries").

Every failure raises ``ClientError`` (``status``, ``title``, ``detail``, ``field``).
docs/submitting.md documents it.
"""

from .client import DEFAULT_TIMEOUT_S, Client, make_job, new_idempotency_key
from .discovery import find_dispatcher, find_token, save_token, token_path
from .errors import ClientError

__version__ = "1.0"

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "Client",
    "ClientError",
    "find_dispatcher",
    "find_token",
    "make_job",
    "new_idempotency_key",
    "save_token",
    "token_path",
]
