"""Task instance statuses, as Pydra numbers them (``status`` in the controller's answers)."""

STATUS_CANCELLED = -2
STATUS_FAILED = -1
STATUS_STOPPED = 0
STATUS_RUNNING = 1
STATUS_PAUSED = 2
STATUS_COMPLETE = 3

# Corral's job states onto Pydra's statuses; a queued job has not started: stopped.
STATUS_OF_STATE = {
    "queued": STATUS_STOPPED,
    "running": STATUS_RUNNING,
    "paused": STATUS_PAUSED,
    "done": STATUS_COMPLETE,
    "failed": STATUS_FAILED,
}
