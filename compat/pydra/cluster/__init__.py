"""Pydra's cluster package: the controller and the task status codes."""
