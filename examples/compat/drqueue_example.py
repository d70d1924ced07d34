"""Submit a DrQueue job to Corral, follow it, then list its frames and the slaves.

A script written for DrQueue's Python bindings, run against Corral::

    export PYTHONPATH="$(corral compat-path)"
    export DRQUEUE_MASTER=farm          # the dispatcher's host (HTTP port 9890)
    export CORRAL_TOKEN=...             # or log in once with `corral login`
    python3 drqueue_example.py 'echo rendering frame $DRQUEUE_FRAME'

The command runs on a render node, one task per block of frames; the exit code
is 0 when every frame rendered, 1 when the master refused, 2 when frames failed.
"""

import sys
import time

import drqueue

POLL_S = 0.5


def main(argv):
    job = drqueue.job()
    job.name = "drqueue example"
    job.frame_start, job.frame_end, job.block_size = 1, 6, 2
    job.cmd = argv[1] if len(argv) > 1 else "echo rendering frame $DRQUEUE_FRAME"
    if job.send_to_queue() != 1:
        return 1  # the reason is on stderr
    print(f"queued job {job.id}: {job.name}")
    while job.status != drqueue.JOBSTATUS_FINISHED:
        time.sleep(POLL_S)
        if job.update(drqueue.CLIENT) != 1:
            return 1
    status = drqueue.job_status_string(job.status)
    print(f"job {job.id} {status}: {job.fdone} frames done, {job.ffailed} failed")
    for index, frame in enumerate(job.request_frame_list(drqueue.CLIENT)):
        number = job.job_frame_index_to_number(index)
        print(f"  frame {number}: status {frame.status} on computer {frame.icomp}, "
              f"exit code {frame.exitcode}")  # fmt: skip
    for computer in drqueue.request_computer_list(drqueue.CLIENT):
        hwinfo, system = computer.hwinfo, drqueue.osstring(computer.hwinfo.os)
        print(f"slave {hwinfo.name}: {hwinfo.ncpus} cpus, {system}, "
              f"enabled {computer.limits.enabled}, {computer.status.ntasks} tasks running")  # fmt: skip
    return 2 if job.ffailed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
