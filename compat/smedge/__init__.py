"""Smedge's Python API (``import smedge``) over a Corral dispatcher.

Put the folder ``corral compat-path`` prints on PYTHONPATH, as Smedge's own
documentation says of its install folder; then the scripts written for Smedge
run against Corral. ``SMEDGE_MASTER`` names the dispatcher (``host`` or
``host:port``), ``SMEDGE_MASTER_PORT`` its port (default 9890, Corral's HTTP
port), ``SMEDGE_CONNECT_TIMEOUT`` the seconds a call may take; the token is
``CORRAL_TOKEN`` or the ``corral login`` token file. The standard library
only, Python 3.7 and newer. docs/compat.md maps each call onto Corral.
"""

import os
import pathlib

from ._link import NameOrID, NameOrIDList, SmedgeComponentError
from .engines import (
    EngineType,
    RegexList,
    disable_engines,
    enable_engines,
    get_engine_dispatch_log,
    get_engines,
    reset_engine_failures,
    set_engines,
)
from .history import HistoryElement, JobHistoryType, get_job_history
from .jobs import (
    JobType,
    delete_jobs,
    get_job_dispatch_log,
    get_jobs,
    ids_to_query,
    pause_jobs,
    preempt,
    reset_job_failures,
    resume_jobs,
    submit_jobs,
    update_jobs,
    usurp,
)
from .master import download_file, get_master_id, super_exit
from .params import conform_job, find_value, pythonize_job
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
from .products import (
    Parameter,
    ParameterList,
    Product,
    disable_product,
    enable_product,
    find_parameter,
    get_product_info,
)
from .times import datetime_to_rtime, extract_datetime

# Where the "program files" are: the SMEDGE variable, else the folder holding this package
# (the one `corral compat-path` prints).
SMEDGE = pathlib.Path(os.environ.get("SMEDGE") or pathlib.Path(__file__).resolve().parent.parent)

__all__ = [
    "AnyPoolType",
    "EngineType",
    "HistoryElement",
    "JobHistoryType",
    "JobType",
    "NameOrID",
    "NameOrIDList",
    "Parameter",
    "ParameterList",
    "PathTranslation",
    "Pool",
    "Product",
    "RegexList",
    "SMEDGE",
    "SmedgeComponentError",
    "TranslationListType",
    "TranslationType",
    "add_path_translations",
    "conform_job",
    "create_pools",
    "datetime_to_rtime",
    "delete_jobs",
    "delete_pools",
    "disable_engines",
    "disable_product",
    "download_file",
    "enable_engines",
    "enable_product",
    "extract_datetime",
    "find_parameter",
    "find_value",
    "get_engine_dispatch_log",
    "get_engines",
    "get_job_dispatch_log",
    "get_job_history",
    "get_jobs",
    "get_master_id",
    "get_path_translations",
    "get_pools",
    "get_product_info",
    "ids_to_query",
    "pause_jobs",
    "preempt",
    "pythonize_job",
    "remove_path_translations",
    "rename_pool",
    "reset_engine_failures",
    "reset_job_failures",
    "resume_jobs",
    "set_engines",
    "submit_jobs",
    "super_exit",
    "update_jobs",
    "usurp",
]
