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

from ._link import SmedgeComponentError
from .history import HistoryElement, JobHistoryType, get_job_history
from .jobs import (
    JobType,
    NameOrID,
    NameOrIDList,
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
from .params import conform_job, find_value, pythonize_job
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

RegexList = NameOrIDList  # a regex or a list of them (str)

# Where the "program files" are: the SMEDGE variable, else the folder holding this package
# (the one `corral compat-path` prints).
SMEDGE = pathlib.Path(os.environ.get("SMEDGE") or pathlib.Path(__file__).resolve().parent.parent)

__all__ = [
    "HistoryElement",
    "JobHistoryType",
    "JobType",
    "NameOrID",
    "NameOrIDList",
    "Parameter",
    "ParameterList",
    "Product",
    "RegexList",
    "SMEDGE",
    "SmedgeComponentError",
    "conform_job",
    "datetime_to_rtime",
    "delete_jobs",
    "disable_product",
    "enable_product",
    "extract_datetime",
    "find_parameter",
    "find_value",
    "get_job_dispatch_log",
    "get_job_history",
    "get_jobs",
    "get_product_info",
    "ids_to_query",
    "pause_jobs",
    "preempt",
    "pythonize_job",
    "reset_job_failures",
    "resume_jobs",
    "submit_jobs",
    "update_jobs",
    "usurp",
]
