"""`make bench`: Corral's throughput, latency and scale, next to the machine's own limits.

Run as `python -m benchmarks` (the headline table) or `python -m benchmarks --full`.
Results go to benchmarks/results/ as JSON and a PNG chart.
"""
