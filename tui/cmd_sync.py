"""``ticketbook sync [--full]`` and ``ticketbook config show``.

Progress goes to stderr: one updating line on a terminal, plain lines
otherwise.  Exit status: 0 done, 1 failed at run time (Jira unreachable,
another sync running...), 2 bad input (missing or invalid configuration, bad
``--db``), 130 interrupted (Ctrl-C cancels the sync cleanly: what was
committed stays).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import threading
import time

from cache.config import ENV_EMAIL, ENV_PROJECTS, ENV_START, ENV_TOKEN, ENV_URL, load_config


def register(sub, common) -> None:
    p = sub.add_parser(
        "sync", parents=[common], help="incremental sync from Jira into the cache",
        description="Incremental sync from Jira Cloud into the local cache (progress on stderr). "
                    f"Connection: {ENV_URL}, {ENV_EMAIL}, {ENV_TOKEN} or the config file "
                    "(see `ticketbook config show`).")
    p.add_argument("--full", action="store_true",
                   help="re-read every issue in scope and reconcile deletions")
    p.set_defaults(handler=cmd_sync)

    c = sub.add_parser("config", parents=[common], help="show the Jira connection settings",
                       description="Show where the Jira settings come from (the token is never shown).")
    csub = c.add_subparsers(dest="config_command", metavar="ACTION")
    show = csub.add_parser("show", parents=[common], help="print URL, email, token (as ***) and sync scope")
    show.set_defaults(handler=cmd_config_show)
    c.set_defaults(handler=cmd_config_show)


class ProgressPrinter:
    """SyncProgress -> stderr: an updating line on a TTY, throttled plain lines otherwise."""

    def __init__(self, stream=None, *, interval: float = 2.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._last_stage = None
        self._last_time = 0.0
        self._dirty = False
        self._lock = threading.Lock()

    @staticmethod
    def format(p) -> str:
        if p.total_estimate:
            pct = min(100, int(100 * p.done / max(1, p.total_estimate)))
            return f"sync: {p.stage}: {p.message} (~{pct}% of ~{p.total_estimate})"
        return f"sync: {p.stage}: {p.message}"

    def __call__(self, p) -> None:
        with self._lock:
            text = self.format(p)
            now = time.monotonic()
            if self.tty:
                width = max(20, shutil.get_terminal_size((80, 20)).columns - 1)
                self.stream.write("\r" + text[:width].ljust(width))
                self.stream.flush()
                self._dirty = True
                return
            if p.stage != self._last_stage or now - self._last_time >= self.interval:
                self.stream.write(text + "\n")
                self.stream.flush()
                self._last_stage = p.stage
                self._last_time = now

    def end(self) -> None:
        with self._lock:
            if self.tty and self._dirty:
                self.stream.write("\n")
                self.stream.flush()
                self._dirty = False


def cmd_sync(args: argparse.Namespace) -> int:
    from cache.db import close_database, open_database
    from cache.jira import JiraClient
    from cache.sync import run_sync

    config = load_config()
    settings = config.jira()  # InputError naming the missing settings
    if getattr(args, "debug", False):
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="ticketbook: %(name)s: %(message)s")
    db = open_database(args.db)
    printer = ProgressPrinter()
    cancel = threading.Event()
    outcome: dict = {}
    finished = threading.Event()  # not Thread.join: a join interrupted by Ctrl-C can wrongly report the thread dead

    def work() -> None:
        try:
            with JiraClient.from_settings(settings, cancel=cancel) as client:
                outcome["result"] = run_sync(db, client, full=args.full, progress=printer, cancel=cancel,
                                             scope=config.scope)
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc
        finally:
            try:
                db.close()  # this thread's connection
            except Exception:
                pass
            finished.set()

    worker = threading.Thread(target=work, name="sync", daemon=True)
    worker.start()
    interrupted = False
    try:
        while not finished.wait(0.2):
            pass
    except KeyboardInterrupt:
        interrupted = True
        cancel.set()
        printer.end()
        print("ticketbook: cancelling the sync (committed pages are kept)...", file=sys.stderr)
        if not finished.wait(60):
            print("ticketbook: the sync did not stop in time; its lock expires by itself", file=sys.stderr)
    printer.end()
    close_database()
    if "error" in outcome:
        raise outcome["error"]
    result = outcome.get("result")
    if result is None or result.status == "cancelled" or interrupted:
        print("ticketbook: sync cancelled; run it again to continue", file=sys.stderr)
        return 130
    extra = " (deletions reconciled)" if result.reconciled else ""
    print(f"ticketbook: sync done: {result.issues_upserted} issues and {result.worklogs_upserted} worklogs "
          f"updated, {result.issues_deleted} issues and {result.worklogs_deleted} worklogs deleted{extra}",
          file=sys.stderr)
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    config = load_config()

    def origin(env_name: str) -> str:
        src = config.sources.get(env_name)
        return {"env": f" (from {env_name})", "file": " (from the config file)"}.get(src, "")

    exists = "" if config.path.exists() else " (not found)"
    print(f"config file: {config.path}{exists}")
    print(f"url:   {config.url or 'not set'}{origin(ENV_URL)}")
    print(f"email: {config.email or 'not set'}{origin(ENV_EMAIL)}")
    print(f"token: {'***' if config.token else 'not set'}{origin(ENV_TOKEN)}")
    projects = ", ".join(config.scope.projects) or "(the projects of the site's service desks)"
    print(f"sync projects: {projects}{origin(ENV_PROJECTS)}")
    start = config.scope.start_date.isoformat() if config.scope.start_date else "(the earliest contract start)"
    print(f"sync start date: {start}{origin(ENV_START)}")
    missing = config.missing()
    if missing:
        print(f"not ready to sync: set {', '.join(missing)} or the [jira] table of the config file")
    return 0
