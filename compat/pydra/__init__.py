"""Placeholder: filled by the pydra compatibility package."""
