"""DrQueue's Python bindings (``import drqueue``) over a Corral dispatcher.

Put the folder ``corral compat-path`` prints on PYTHONPATH, as DrQueue's own
documentation says of its bindings; then scripts written for DrQueue run against
Corral. ``DRQUEUE_MASTER`` names the master (``host`` or ``host:port``; the port
defaults to 9890, Corral's HTTP port), ``DRQUEUE_TIMEOUT`` the seconds a call
may take (30); the token is ``CORRAL_TOKEN`` or the ``corral login`` token file.

As in libdrqueue, actions return 1 on success and 0 on failure, saying why on
stderr; the list functions raise ``DrQueueError`` (an IOError). A job is a Corral
job of the ``cmdline`` template, a computer a Corral render node. The standard
library only, Python 3.7 and newer. docs/compat.md maps each call onto Corral.
"""

from ._link import CLIENT, MASTER, SLAVE, DrQueueError, NotSupported
from .computers import (
    OS_CYGWIN,
    OS_FREEBSD,
    OS_IRIX,
    OS_LINUX,
    OS_OSX,
    OS_UNKNOWN,
    OS_WINDOWS,
    computer,
    computer_hwinfo,
    computer_limits,
    computer_status,
    osstring,
    request_computer_list,
    request_slave_limits_enabled_set,
    request_slave_limits_nmaxcpus_set,
)
from .jobs import (
    FS_ASSIGNED,
    FS_ERROR,
    FS_FINISHED,
    FS_WAITING,
    JOBSTATUS_ACTIVE,
    JOBSTATUS_FINISHED,
    JOBSTATUS_STOPPED,
    JOBSTATUS_WAITING,
    frame_info,
    job,
    job_limits,
    job_status_string,
    request_job,
    request_job_continue,
    request_job_delete,
    request_job_hstop,
    request_job_list,
    request_job_rerun,
    request_job_stop,
)

__all__ = [
    "CLIENT", "MASTER", "SLAVE", "DrQueueError", "NotSupported",
    "OS_CYGWIN", "OS_FREEBSD", "OS_IRIX", "OS_LINUX", "OS_OSX", "OS_UNKNOWN", "OS_WINDOWS",
    "computer", "computer_hwinfo", "computer_limits", "computer_status", "osstring",
    "request_computer_list", "request_slave_limits_enabled_set",
    "request_slave_limits_nmaxcpus_set",
    "FS_ASSIGNED", "FS_ERROR", "FS_FINISHED", "FS_WAITING", "JOBSTATUS_ACTIVE",
    "JOBSTATUS_FINISHED", "JOBSTATUS_STOPPED", "JOBSTATUS_WAITING", "frame_info", "job",
    "job_limits", "job_status_string", "request_job", "request_job_continue",
    "request_job_delete", "request_job_hstop", "request_job_list", "request_job_rerun",
    "request_job_stop",
]  # fmt: skip
