"""Prometheus metrics of the controller (`/metrics`); see README "Metrics".

instruments.py  process-wide histograms (API latency, flow durations) the API and the worker observe
health.py       the health manager's heartbeat counters and per-member traffic summed from heartbeats
database.py     what every controller shares through the database: jobs, failovers, statuses, listener stats
asgi.py         `/metrics` in front of the API (no token, source CIDRs) and the API latency timing
registry.py     one CollectorRegistry per process, and the small listener of `ostia health-manager`/`worker`
"""
