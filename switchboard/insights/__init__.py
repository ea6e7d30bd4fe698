"""Insights: aggregates over closed conversation runs, defined once for both SQL backends.

``metrics`` holds the definitions (its docstring is the reference), the per-day counts a
backend reads (``DayCounts``, ``InsightsRows``), the SQL that reads them (``COUNT_COLUMNS``)
and ``compute``, which folds the days into buckets and totals and turns counts into rates.
"""

from switchboard.insights.metrics import (
    COUNT_COLUMNS,
    DayCounts,
    InsightsRows,
    bucket_starts,
    compute,
    percentile,
)

__all__ = ["COUNT_COLUMNS", "DayCounts", "InsightsRows", "bucket_starts", "compute", "percentile"]
