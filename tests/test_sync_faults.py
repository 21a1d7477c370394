"""The sync under faults: random failures, SIGKILL mid-run, a concurrent second sync."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from cache.db import close_database, open_database
from cache.fakejira import FakeJira, Faults, generate_site
from cache.jira import JiraClient
from cache.models import SyncLog
from cache.sync import run_sync
from test_sync import NOW, assert_cache_matches, mutate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "tok-FAULTS-5e1d0b-never-printed"


def test_ten_percent_faults_still_converge_exactly(tmp_path) -> None:
    site = generate_site(300, seed=21, now=NOW)
    faults = Faults(rate=0.10, seed=4, retry_after=1, delay=0.05)
    db = open_database(tmp_path / "cache.db")
    sleeps: list[float] = []
    rng = random.Random(8)
    try:
        with FakeJira(site, faults=faults) as fj:
            with JiraClient(fj.url, fj.email, fj.token, sleep=sleeps.append, rng=random.Random(2),
                            max_retries=6) as client:
                assert run_sync(db, client).status == "ok"
                assert_cache_matches(site)
                for round_no in range(4):
                    mutate(site, rng, n=30)
                    site.advance(90)
                    assert run_sync(db, client, full=round_no == 1).status == "ok"
                    assert_cache_matches(site)
        kinds = {k for k, _ in faults.injected}
        assert {"429", "500", "503", "cut", "malformed"} <= kinds, kinds
        assert 1.0 in sleeps  # Retry-After honoured
        assert len(faults.injected) >= 10
    finally:
        close_database()


def _env(fj, db_path) -> dict:
    env = dict(os.environ)
    env.update(TICKETBOOK_JIRA_URL=fj.url, TICKETBOOK_JIRA_EMAIL=fj.email, TICKETBOOK_JIRA_TOKEN=fj.token,
               TICKETBOOK_DB=str(db_path), PYTHONPATH=ROOT)
    return env


def _sync_proc(fj, db_path, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tui", "sync", *extra], cwd=ROOT, env=_env(fj, db_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _query(db_path, sql):
    if not os.path.exists(db_path):
        return None
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute(sql).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None


def _wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_sync_then_rerun_leaves_no_duplicate_and_no_lost_row(tmp_path) -> None:
    site = generate_site(420, seed=31, now=NOW)
    faults = Faults(rate=1.0, kinds=("slow",), delay=0.12)  # every request slow: time to kill mid-run
    db_path = tmp_path / "cache.db"
    with FakeJira(site, email="k@x.example", token=TOKEN, faults=faults) as fj:
        proc = _sync_proc(fj, db_path)
        try:
            _wait_for(lambda: (_query(db_path, "SELECT COUNT(*) FROM issue") or (0,))[0] >= 100,
                      what="the first committed page")
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        cached = _query(db_path, "SELECT COUNT(*) FROM issue")[0]
        assert cached % 100 == 0  # whole pages only: never half a page
        lock = json.loads(_query(db_path, "SELECT value FROM meta WHERE key = 'sync_lock'")[0])
        assert lock["pid"] == proc.pid  # the dead process still "holds" it
        faults.clear()
        mutate(site, random.Random(3), n=15)
        site.advance(120)
        db = open_database(db_path)
        try:
            with JiraClient(fj.url, fj.email, fj.token, sleep=lambda s: None) as client:
                result = run_sync(db, client)  # takes the dead holder's lock over at once
            assert result.status == "ok"
            assert_cache_matches(site)
            killed = SyncLog.select().order_by(SyncLog.id).first()
            assert killed.status == "failed" and "interrupted" in killed.error
        finally:
            close_database()
        for text in (out, err):
            assert TOKEN not in text


def test_second_concurrent_sync_exits_1_while_the_first_goes_on(tmp_path) -> None:
    site = generate_site(250, seed=41, now=NOW)
    faults = Faults(rate=1.0, kinds=("slow",), delay=0.1)
    db_path = tmp_path / "cache.db"
    with FakeJira(site, email="c@x.example", token=TOKEN, faults=faults) as fj:
        first = _sync_proc(fj, db_path)
        try:
            _wait_for(lambda: ((_query(db_path, "SELECT value FROM meta WHERE key = 'sync_lock'") or ("",))[0]
                               or "") != "", what="the first sync's lock")
            second = subprocess.run([sys.executable, "-m", "tui", "sync"], cwd=ROOT, env=_env(fj, db_path),
                                    capture_output=True, text=True, timeout=60)
            assert first.poll() is None, "the first sync must still be running"
        finally:
            out, err = first.communicate(timeout=120)
        assert second.returncode == 1, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in second.stderr
        assert lines[0].startswith("ticketbook: another sync is running (started ")
        assert f"by pid {first.pid})" in lines[0]
        assert first.returncode == 0, err
        assert "sync done" in err
        for text in (out, err, second.stdout, second.stderr):
            assert TOKEN not in text
        db = open_database(db_path)
        try:
            assert_cache_matches(site)
        finally:
            close_database()


@pytest.mark.parametrize("kind", ["cut", "malformed", "500", "503", "429"])
def test_each_fault_kind_is_retried_on_reads(tmp_path, kind) -> None:
    site = generate_site(30, seed=5, now=NOW)
    with FakeJira(site) as fj:
        fj.faults.push(kind, kind, kind)
        with JiraClient(fj.url, fj.email, fj.token, sleep=lambda s: None) as client:
            assert client.myself()["accountId"] == site.myself.accountId
        assert [k for k, _ in fj.faults.injected] == [kind] * 3


def test_ctrl_c_cancels_cleanly_exit_130(tmp_path) -> None:
    site = generate_site(300, seed=51, now=NOW)
    faults = Faults(rate=1.0, kinds=("slow",), delay=0.1)
    db_path = tmp_path / "cache.db"
    with FakeJira(site, email="i@x.example", token=TOKEN, faults=faults) as fj:
        proc = _sync_proc(fj, db_path)
        try:
            _wait_for(lambda: (_query(db_path, "SELECT COUNT(*) FROM issue") or (0,))[0] >= 100,
                      what="the first committed page")
            proc.send_signal(signal.SIGINT)
        finally:
            out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "sync cancelled" in err and TOKEN not in out + err
        assert _query(db_path, "SELECT status FROM sync_log ORDER BY id DESC")[0] == "cancelled"
        assert _query(db_path, "SELECT value FROM meta WHERE key = 'sync_lock'")[0] == ""
        faults.clear()
        db = open_database(db_path)
        try:
            with JiraClient(fj.url, fj.email, fj.token, sleep=lambda s: None) as client:
                assert run_sync(db, client).status == "ok"
            assert_cache_matches(site)
        finally:
            close_database()
