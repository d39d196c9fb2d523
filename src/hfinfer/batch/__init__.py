"""Batch jobs through hosted models: resumable, rate-aware, and on Ray past one machine.

>>> import hfinfer.batch
>>> async for result in hfinfer.batch.run("requests.jsonl", "results.jsonl", rpm=600):
...     print(result.custom_id, result.ok)

See :func:`run` (and :func:`plan` for a dry run); :mod:`hfinfer.batch.ray`
for Ray Data (``pip install 'hfinfer[ray]'``).
"""

from .cost import PriceList
from .inputs import BatchRequest, RequestDefaults
from .plan import DryRun, plan
from .progress import Progress, print_progress
from .rate import RetryRules
from .runner import BatchConfig, BatchResult, BatchStopped, run

__all__ = [
    "BatchConfig",
    "BatchRequest",
    "BatchResult",
    "BatchStopped",
    "DryRun",
    "PriceList",
    "Progress",
    "RequestDefaults",
    "RetryRules",
    "plan",
    "print_progress",
    "run",
]
