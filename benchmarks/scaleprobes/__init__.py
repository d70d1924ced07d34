"""Small probes for finding what limits a figure (not part of `make bench`)."""
