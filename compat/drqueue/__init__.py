"""Placeholder: filled by the drqueue compatibility package."""
