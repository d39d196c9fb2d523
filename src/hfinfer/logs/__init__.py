"""The conversation log: every exchange of ``hfinfer chat`` (and the gateway) in SQLite.

>>> from hfinfer.logs import LogStore, logs_db_path
>>> with LogStore(logs_db_path()) as store:
...     for turn in store.search(query="prime", limit=5):
...         print(turn.prompt, "->", turn.output)
"""

from .cost import estimate_cost, format_cost
from .settings import logs_db_path, logs_enabled, set_logs_enabled
from .store import ConversationLog, LogStore, TurnRecord, history_messages, new_id

__all__ = [
    "ConversationLog",
    "LogStore",
    "TurnRecord",
    "estimate_cost",
    "format_cost",
    "history_messages",
    "logs_db_path",
    "logs_enabled",
    "new_id",
    "set_logs_enabled",
]
