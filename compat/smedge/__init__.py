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
from .engines import (
    EngineType,
    NameOrID,
    NameOrIDList,
    RegexList,
    disable_engines,
    enable_engines,
    get_engine_dispatch_log,
    get_engines,
    reset_engine_failures,
    set_engines,
)
from .master import download_file, get_master_id, super_exit
from .paths import (
    PathTranslation,
    TranslationListType,
    TranslationType,
    add_path_translations,
    get_path_translations,
    remove_path_translations,
)
from .pools import (
    AnyPoolType,
    Pool,
    create_pools,
    delete_pools,
    get_pools,
    rename_pool,
)

__all__ = [
    "AnyPoolType",
    "EngineType",
    "NameOrID",
    "NameOrIDList",
    "PathTranslation",
    "Pool",
    "RegexList",
    "SmedgeComponentError",
    "TranslationListType",
    "TranslationType",
    "add_path_translations",
    "create_pools",
    "delete_pools",
    "disable_engines",
    "download_file",
    "enable_engines",
    "get_engine_dispatch_log",
    "get_engines",
    "get_master_id",
    "get_path_translations",
    "get_pools",
    "remove_path_translations",
    "rename_pool",
    "reset_engine_failures",
    "set_engines",
    "super_exit",
]
