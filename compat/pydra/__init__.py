"""Pydra's controller API (``pydra.cluster.controller.web.controller.WebController``)
over a Corral dispatcher.

Put the folder ``corral compat-path`` prints on PYTHONPATH; then the scripts
written for Pydra's controller run against Corral. ``pydra.config.load_settings()``
reads ``HOST`` and ``CONTROLLER_PORT`` (the dispatcher's HTTP port, 9890 by
default) from the environment or a settings file, and the key file
``master.key`` in the working folder holds a Corral API token
(``corral compat pydra-key > master.key``). Pydra's tasks are Corral templates;
a queued task instance is a Corral job. The standard library only, Python 3.7
and newer. docs/compat.md maps each call onto Corral.
"""
