"""Run blocking database calls in Textual thread workers.

The database handle is the process-wide :data:`cache.db.database` proxy;
peewee gives every thread its own connection to the same file (never
``:memory:``).  :func:`run_db` runs ``fn`` in a thread worker, closes that
thread's connection afterwards and hands the result (or the exception) back
to the UI thread through callbacks.  A worker that was cancelled meanwhile
(``exclusive=True`` in the same group, or its screen went away) delivers
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.dom import DOMNode
from textual.worker import Worker, get_current_worker


def close_thread_connection() -> None:
    """Close the calling thread's database connection (a no-op if none is open)."""
    from cache.db import database

    try:
        if database.obj is not None and not database.is_closed():
            database.close()
    except Exception:  # pragma: no cover - closing must never mask the real outcome
        pass


def run_db(
    node: DOMNode,
    fn: Callable[..., Any],
    *args: Any,
    on_done: Callable[[Any], Any] | None = None,
    on_error: Callable[[BaseException], Any] | None = None,
    group: str = "db",
    exclusive: bool = False,
    **kwargs: Any,
) -> Worker:
    """Run ``fn(*args, **kwargs)`` in a thread; call ``on_done(result)`` or ``on_error(exc)`` on the UI thread."""

    def work() -> Any:
        worker = get_current_worker()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # handed to the UI, never raised in the worker
            if not worker.is_cancelled and on_error is not None:
                _deliver(node, on_error, exc)
            return None
        finally:
            close_thread_connection()
        if not worker.is_cancelled and on_done is not None:
            _deliver(node, on_done, result)
        return result

    return node.run_worker(work, thread=True, group=group, exclusive=exclusive, exit_on_error=False,
                           name=getattr(fn, "__name__", "db"))


def _deliver(node: DOMNode, callback: Callable[[Any], Any], value: Any) -> None:
    app = node.app
    try:
        app.call_from_thread(_if_attached, node, callback, value)
    except RuntimeError:  # the app stopped meanwhile
        pass


def _if_attached(node: DOMNode, callback: Callable[[Any], Any], value: Any) -> Any:
    if not node.is_attached:
        return None
    return callback(value)
