"""Histograms observed where the work happens; not registered anywhere until a registry takes them."""

from __future__ import annotations

from prometheus_client import Histogram

API_SECONDS = Histogram(
    "ostia_api_request_duration_seconds", "Time the API took to answer, by method, route template and status.",
    ["method", "route", "status"], registry=None,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

FLOW_SECONDS = Histogram(
    "ostia_flow_duration_seconds", "Time a worker flow ran, by flow (job kind) and outcome (DONE or REVERTED).",
    ["flow", "outcome"], registry=None,
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0))

ALL = (API_SECONDS, FLOW_SECONDS)
