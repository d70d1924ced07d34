"""Submit a Python script as a render job with MClientAPI, Muster's submission library,
and (with --wait) follow it to the end, printing each chunk and its log.

    export PYTHONPATH="$(corral compat-path)"
    export MUSTER_HOST=farm MUSTER_USER=td MUSTER_PASSWORD=secret   # MUSTER_PORT: 9781
    python3 mclient_submit.py /projects/shot010/render.py 1 100 --wait

The script runs once per chunk of 10 frames with the bundled "Python script" template
(id 3), which gives it the chunk's first and last frames as its two arguments. Runs in
any Python 3.7+ with the standard library alone, Maya's and Nuke's included.
"""

import argparse
import os
import sys
import time

import MClientAPI

PYTHON_SCRIPT_TEMPLATE = 3
FINISHED = ("done", "failed")


def fail(what, err):
    print("%s failed (%d): %s" % (what, err.getErrorCode(), err.getDescription()))
    sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("script", help="the .py file each chunk runs")
    parser.add_argument("start", type=int)
    parser.add_argument("end", type=int)
    parser.add_argument("--chunk", type=int, default=10, help="frames per chunk")
    parser.add_argument("--pools", default="", help="comma list, e.g. common,gpu")
    parser.add_argument("--wait", action="store_true", help="follow the job to its end")
    args = parser.parse_args()

    err = MClientAPI.InitializeLibrary("")
    if err.getErrorCode() != 0:
        fail("InitializeLibrary", err)
    session = MClientAPI.InitializeSession()
    host = os.environ.get("MUSTER_HOST", "localhost")
    port = int(os.environ.get("MUSTER_PORT", MClientAPI.DEFAULT_PORT))
    err = MClientAPI.Connect(session, host, port)
    if err.getErrorCode() != 0:
        fail("Connect", err)
    err = MClientAPI.Authenticate(
        session, os.environ.get("MUSTER_USER", ""), os.environ.get("MUSTER_PASSWORD", "")
    )
    if err.getErrorCode() != 0:
        fail("Authenticate", err)

    job = MClientAPI.MJob()
    job.setName(os.path.basename(args.script))
    job.setTemplateID(PYTHON_SCRIPT_TEMPLATE)
    job.setParentId(-1)
    job.setJobType(MClientAPI.MJob.kJobTypeJob)
    job.setPacketSize(args.chunk)
    job.setIncludedPools(args.pools)
    job.attributeSetString("job_file", os.path.abspath(args.script))
    job.attributeSetFloat("start_frame", args.start)
    job.attributeSetFloat("end_frame", args.end)
    job.attributeSetFloat("by_frame", 1)
    err = MClientAPI.ActionSendJob(session, job)
    if err.getErrorCode() != 0:
        fail("ActionSendJob", err)
    print("submitted job %d" % job.getJobId())

    if args.wait:
        while True:
            err, state = MClientAPI.ActionGetJob(session, job.getJobId())
            if err.getErrorCode() != 0:
                fail("ActionGetJob", err)
            if state.getStatus() in FINISHED:
                break
            time.sleep(1)
        print("job %d %s" % (job.getJobId(), state.getStatus()))
        err, chunks = MClientAPI.ActionGetChunks(session, job.getJobId())
        if err.getErrorCode() != 0:
            fail("ActionGetChunks", err)
        for chunk in chunks:
            print(
                "chunk %d frames %g-%g: %s on %s"
                % (chunk.getChunkId(), chunk.getStartFrame(), chunk.getEndFrame(),
                   chunk.getStatusName(), chunk.getNodeName() or "-")
            )  # fmt: skip
            err, log = MClientAPI.ActionGetChunkLog(session, job.getJobId(), chunk.getChunkId())
            if err.getErrorCode() == 0:
                print(log.rstrip())
    MClientAPI.Disconnect(session)


if __name__ == "__main__":
    main()
