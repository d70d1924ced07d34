"""Smedge's Python API (``import smedge``) over a Corral dispatcher.

Put the folder ``corral compat-path`` prints on PYTHONPATH, as Smedge's own
documentation says of its install folder; then the scripts written for Smedge
run against Corral. ``SMEDGE_MASTER`` names the dispatcher (``host`` or
``host:port``), ``SMEDGE_MASTER_PORT`` its port (default 9890, Corral's HTTP
port), ``SMEDGE_CONNECT_TIMEOUT`` the seconds a call may take; the token is
``CORRAL_TOKEN`` or the ``corral login`` token file. The standard library
only, Python 3.7 and newer. docs/compat.md maps each call onto Corral.
"""

from ._link import SmedgeComponentError

__all__ = ["SmedgeComponentError"]
