"""List the farm's jobs with their chunk counts: a console script.

Run it from a workstation (the console context, over HTTP):

    corral run-script examples/console/list_jobs.py --target console

or on the dispatcher (the dispatcher context, in its hook host; administer):

    corral run-script examples/console/list_jobs.py --target dispatcher

`muster` is a builtin in both, as in Muster: the script picks its API module
by the context it runs in, and the rest is the same.
"""

if muster.runningContext() == "console":  # noqa: F821  (a builtin where Corral runs it)
    import MConsoleAPI as api
elif muster.runningContext() == "dispatcher":  # noqa: F821
    import MDispatcherAPI as api
else:
    raise SystemExit("run me with: corral run-script list_jobs.py --target console")

err, jobs = api.jobGetList()
if err.getErrorCode() != 0:
    raise SystemExit("jobGetList failed: " + err.getDescription())

print(f"{'id':>6}  {'status':<8}  {'owner':<10}  {'chunks':>8}  name")
for job in sorted(jobs, key=lambda job: job.getJobId()):
    counts = ""
    if job.getJobType() == api.MJob.kJobTypeJob:
        err, chunks = api.chunkGetList(job.getJobId())
        if err.getErrorCode() == 0:
            done = sum(1 for chunk in chunks if chunk.getStatus() == api.MChunk.kChunkDone)
            counts = f"{done}/{len(chunks)}"
    status = str(job.getStatus())
    print(f"{job.getJobId():>6}  {status:<8}  {job.getOwner():<10}  {counts:>8}  {job.getName()}")
