"""``ticketbook sync`` / ``ticketbook config show``: exit status, one-line errors, no token anywhere."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys

import pytest

from cache.config import save_config
from cache.db import close_database, open_database
from cache.fakejira import FakeJira, generate_site
from cache.models import Issue, SyncLog
from test_sync import NOW, assert_cache_matches
from tui.cli import main
from tui.cmd_sync import ProgressPrinter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "tok-CLI-7b2e41-must-never-appear"


@pytest.fixture(scope="module")
def fake():
    site = generate_site(60, seed=3, now=NOW)
    with FakeJira(site, email="lead@x.example", token=TOKEN) as fj:
        yield fj


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    finally:
        close_database()
    out, err = capsys.readouterr()
    assert TOKEN not in out and TOKEN not in err
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def set_jira(monkeypatch, url, email="lead@x.example", token=TOKEN) -> None:
    monkeypatch.setenv("TICKETBOOK_JIRA_URL", url)
    monkeypatch.setenv("TICKETBOOK_JIRA_EMAIL", email)
    monkeypatch.setenv("TICKETBOOK_JIRA_TOKEN", token)


def test_sync_success_progress_on_stderr_exit_0(fake, tmp_path, monkeypatch, capsys) -> None:
    set_jira(monkeypatch, fake.url)
    db_path = tmp_path / "c.db"
    code, out, err = run_cli(capsys, "--db", str(db_path), "sync")
    assert code == 0, err
    assert "sync: reference:" in err and "sync: issues:" in err and "ticketbook: sync done:" in err
    assert "\r" not in err  # not a terminal: plain lines
    code, out, err = run_cli(capsys, "--db", str(db_path), "sync", "--full")
    assert code == 0 and "deletions reconciled" in err
    open_database(db_path)
    try:
        assert_cache_matches(fake.site)
        assert [r.status for r in SyncLog.select().order_by(SyncLog.id)] == ["ok", "ok"]
    finally:
        close_database()


def test_missing_configuration_exit_2_names_the_settings(tmp_path, capsys) -> None:
    code, out, err = run_cli(capsys, "--db", str(tmp_path / "c.db"), "sync")
    assert code == 2
    line = one_line(err)
    assert "TICKETBOOK_JIRA_URL, TICKETBOOK_JIRA_EMAIL, TICKETBOOK_JIRA_TOKEN" in line and "config.toml" in line


def test_wrong_token_is_401_exit_2(fake, tmp_path, monkeypatch, capsys) -> None:
    wrong = "tok-WRONG-c0ffee-never-shown"
    set_jira(monkeypatch, fake.url, token=wrong)
    code, out, err = run_cli(capsys, "--db", str(tmp_path / "c.db"), "sync")
    assert code == 2
    assert one_line(err) == (f"ticketbook: Jira rejected the credentials for lead@x.example at {fake.url} "
                     "(check TICKETBOOK_JIRA_EMAIL / the API token)")
    assert wrong not in out + err


def test_unknown_host_exit_1(tmp_path, monkeypatch, capsys) -> None:
    set_jira(monkeypatch, "https://nonexistent.invalid")
    code, out, err = run_cli(capsys, "--db", str(tmp_path / "c.db"), "sync")
    assert code == 1
    assert "cannot resolve host nonexistent.invalid" in one_line(err)


def test_plain_http_to_remote_host_exit_2(tmp_path, monkeypatch, capsys) -> None:
    set_jira(monkeypatch, "http://jira.example.com")
    code, out, err = run_cli(capsys, "--db", str(tmp_path / "c.db"), "sync")
    assert code == 2
    assert "plain http:// is refused for jira.example.com" in one_line(err)


def test_unreachable_port_exit_1(tmp_path, monkeypatch, capsys) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    set_jira(monkeypatch, f"http://127.0.0.1:{port}")
    code, out, err = run_cli(capsys, "--db", str(tmp_path / "c.db"), "sync")
    assert code == 1
    assert f"cannot connect to http://127.0.0.1:{port}" in one_line(err)


def test_corrupt_db_file_exit_2(fake, tmp_path, monkeypatch, capsys) -> None:
    set_jira(monkeypatch, fake.url)
    bad = tmp_path / "notes.db"
    bad.write_bytes(b"this is not a database\n" * 20)
    code, out, err = run_cli(capsys, "--db", str(bad), "sync")
    assert code == 2
    assert "is not a SQLite database" in one_line(err)
    assert bad.read_bytes() == b"this is not a database\n" * 20  # untouched


def test_subprocess_error_is_one_line_without_traceback_or_token(fake, tmp_path) -> None:
    env = dict(os.environ, TICKETBOOK_JIRA_URL=fake.url, TICKETBOOK_JIRA_EMAIL="lead@x.example",
               TICKETBOOK_JIRA_TOKEN=TOKEN + "-wrong", TICKETBOOK_DB=str(tmp_path / "c.db"), PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-m", "tui", "sync"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and TOKEN not in proc.stdout + proc.stderr
    assert one_line(proc.stderr).startswith("ticketbook: Jira rejected the credentials")
    proc = subprocess.run([sys.executable, "-m", "tui", "--debug", "sync"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "Traceback" in proc.stderr  # --debug shows it...
    assert TOKEN not in proc.stdout + proc.stderr  # ...but never the token
    env["TICKETBOOK_JIRA_TOKEN"] = TOKEN
    for argv in (["sync"], ["--debug", "sync", "--full"]):
        proc = subprocess.run([sys.executable, "-m", "tui", *argv], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert TOKEN not in proc.stdout + proc.stderr
    assert "HTTP Request" in proc.stderr  # the debug log was on


def test_config_show_masks_the_token(tmp_path, monkeypatch, capsys) -> None:
    code, out, err = run_cli(capsys, "config", "show")
    assert code == 0 and "token: not set" in out and "url:   not set" in out
    path = save_config("https://acme.atlassian.net", "lead@acme.example", TOKEN, projects=["SUP"],
                       path=tmp_path / "xdg-config" / "ticketbook" / "config.toml")
    code, out, err = run_cli(capsys, "config", "show")
    assert code == 0, err
    assert str(path) in out and "https://acme.atlassian.net" in out and "token: *** (from the config file)" in out
    assert "sync projects: SUP" in out
    monkeypatch.setenv("TICKETBOOK_JIRA_TOKEN", TOKEN + "2")
    code, out, err = run_cli(capsys, "config")
    assert "token: *** (from TICKETBOOK_JIRA_TOKEN)" in out
    os.chmod(path, 0o640)
    code, out, err = run_cli(capsys, "config", "show")
    assert code == 2 and "chmod 600" in one_line(err)


def test_group_readable_config_blocks_sync_exit_2(tmp_path, capsys) -> None:
    path = save_config("https://acme.atlassian.net", "lead@acme.example", TOKEN,
                       path=tmp_path / "xdg-config" / "ticketbook" / "config.toml")
    os.chmod(path, 0o604)
    code, out, err = run_cli(capsys, "--db", str(tmp_path / "c.db"), "sync")
    assert code == 2 and "accessible by others" in one_line(err)


def test_progress_printer_tty_updates_one_line() -> None:
    from cache.sync import SyncProgress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    printer = ProgressPrinter(stream)
    printer(SyncProgress("issues", 100, 400, "100 issues"))
    printer(SyncProgress("issues", 200, 400, "200 issues"))
    printer.end()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.count("\n") == 1 and "~50% of ~400" in text
    plain = io.StringIO()
    printer = ProgressPrinter(plain, interval=3600)
    for n in range(5):
        printer(SyncProgress("issues", n, None, f"{n} issues"))
    printer(SyncProgress("worklogs", 0, None, "w"))
    assert plain.getvalue().count("\n") == 2 and "\r" not in plain.getvalue()


def test_sync_uses_config_file_scope(fake, tmp_path, capsys) -> None:
    save_config(fake.url, "lead@x.example", TOKEN, projects=["HD"],
                path=tmp_path / "xdg-config" / "ticketbook" / "config.toml")
    code, out, err = run_cli(capsys, "--db", str(tmp_path / "c.db"), "sync")
    assert code == 0, err
    open_database(tmp_path / "c.db")
    try:
        keys = {i.project_key for i in Issue.select()}
        assert keys == {"HD"}
    finally:
        close_database()
