"""The Jira client: retry policy, errors, paging helpers; and the settings (cache/config.py)."""

from __future__ import annotations

import json
import os
import random
import socket
import stat
import threading

import httpx
import pytest

from cache.config import Secret, SyncScope, load_config, normalize_url, save_config
from cache.jira import Cancelled, JiraClient, backoff_delay, parse_retry_after
from tickets.errors import InputError, RunError

TOKEN = "tok-SECRET-9f3a7c-do-not-print"


class Script:
    """A MockTransport answering from a list of (status, body, headers) or exceptions."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        status, body, headers = (answer + (None, None))[:3]
        if isinstance(body, (dict, list)):
            return httpx.Response(status, json=body, headers=headers or {})
        return httpx.Response(status, content=(body or b""), headers=headers or {})


def make(script, **kw):
    sleeps: list[float] = []
    kw.setdefault("sleep", sleeps.append)
    kw.setdefault("rng", random.Random(1))
    client = JiraClient("https://acme.atlassian.net", "lead@acme.example", TOKEN,
                        transport=httpx.MockTransport(script), **kw)
    return client, sleeps


# --------------------------------------------------------------------------
# Retry policy
# --------------------------------------------------------------------------


def test_retry_after_is_honoured_for_429_and_503() -> None:
    script = Script((429, {"errorMessages": ["slow down"]}, {"Retry-After": "7"}),
                    (503, b"", {"Retry-After": "2"}), (200, {"accountId": "a"}))
    client, sleeps = make(script)
    assert client.myself() == {"accountId": "a"}
    assert sleeps == [7.0, 2.0]
    assert len(script.seen) == 3


def test_backoff_doubles_from_5_to_30_with_jitter_then_gives_up() -> None:
    script = Script((500, {"errorMessages": ["boom"]}))
    client, sleeps = make(script, max_retries=5)
    with pytest.raises(RunError, match="HTTP 500 after 5 retries"):
        client.get("/rest/api/3/status")
    assert len(script.seen) == 6 and len(sleeps) == 5
    for got, base in zip(sleeps, [5, 10, 20, 30, 30]):
        assert 0.7 * base <= got <= 1.3 * base
    rng = random.Random(3)
    values = [backoff_delay(0, rng=rng) for _ in range(2000)]
    assert 3.5 <= min(values) < 3.7 and 6.3 < max(values) <= 6.5


def test_429_without_retry_after_uses_backoff_and_http_date_is_read() -> None:
    script = Script((429, b""), (200, []))
    client, sleeps = make(script)
    client.get("/rest/api/3/status")
    assert 3.5 <= sleeps[0] <= 6.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("garbage") is None and parse_retry_after("-3") == 0.0


@pytest.mark.parametrize("failure", [
    httpx.ReadTimeout("timed out"),
    httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
    httpx.ReadError("connection reset"),
    (200, b'{"issues": [tru'),
    (502, b"<html>bad gateway</html>"),
    (504, b""),
])
def test_idempotent_calls_retry_transient_failures(failure) -> None:
    script = Script(failure, (200, {"issues": [], "isLast": True}))
    client, sleeps = make(script)
    assert list(client.search_pages("project = A", ["id"])) == [[]]
    assert len(sleeps) == 1 and len(script.seen) == 2


def test_non_idempotent_calls_are_not_retried_except_on_429() -> None:
    script = Script((500, {"errorMessages": ["boom"]}), (200, {"id": "1"}))
    client, sleeps = make(script)
    with pytest.raises(RunError, match="HTTP 500"):
        client.request("POST", "/rest/api/3/issue/1/worklog", json_body={"timeSpentSeconds": 60})
    assert sleeps == [] and len(script.seen) == 1
    script = Script(httpx.RemoteProtocolError("cut"), (200, {"id": "1"}))
    client, sleeps = make(script)
    with pytest.raises(RunError, match="connection to Jira broke"):
        client.request("POST", "/rest/api/3/issue/1/worklog", json_body={})
    assert len(script.seen) == 1
    script = Script((429, b"", {"Retry-After": "1"}), (201, {"id": "1"}))
    client, sleeps = make(script)
    assert client.request("POST", "/rest/api/3/issue/1/worklog", json_body={}) == {"id": "1"}
    assert sleeps == [1.0]


def test_read_only_posts_are_idempotent() -> None:
    for path, body in (("/rest/api/3/search/approximate-count", {"count": 4}),
                       ("/rest/api/3/worklog/list", []), ("/rest/api/3/jql/match", {"matches": []})):
        script = Script((503, b""), (200, body))
        client, sleeps = make(script)
        client.request("POST", path, json_body={})
        assert len(script.seen) == 2, path


def test_cancel_during_backoff_stops_at_once() -> None:
    cancel = threading.Event()
    script = Script((503, b"", {"Retry-After": "30"}))
    client = JiraClient("https://acme.atlassian.net", "e@x.example", TOKEN, cancel=cancel,
                        transport=httpx.MockTransport(script))
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    started = __import__("time").monotonic()
    with pytest.raises(Cancelled):
        client.get("/rest/api/3/status")
    assert __import__("time").monotonic() - started < 5
    assert len(script.seen) == 1


def test_retry_after_is_capped() -> None:
    script = Script((429, b"", {"Retry-After": "86400"}), (200, []))
    client, sleeps = make(script, max_retry_after=60)
    client.get("/rest/api/3/status")
    assert sleeps == [60]


# --------------------------------------------------------------------------
# Errors: one line, no token
# --------------------------------------------------------------------------


def _no_secret(text: str) -> None:
    assert TOKEN not in text
    import base64

    assert base64.b64encode(f"lead@acme.example:{TOKEN}".encode()).decode() not in text


@pytest.mark.parametrize("status,kind,pattern", [
    (401, InputError, "Jira rejected the credentials for lead@acme.example at https://acme.atlassian.net "
                      r"\(check TICKETBOOK_JIRA_EMAIL / the API token\)"),
    (403, RunError, "403 Forbidden"),
    (404, RunError, "404"),
    (410, RunError, "was removed by Atlassian"),
    (400, RunError, "The value 'X' does not exist"),
])
def test_status_errors_are_clear(status, kind, pattern) -> None:
    script = Script((status, {"errorMessages": ["The value 'X' does not exist for the field 'project'."]}))
    client, sleeps = make(script)
    with pytest.raises(kind, match=pattern) as err:
        client.post("/rest/api/3/search/jql", {"jql": "project = X"})
    assert sleeps == [] and "\n" not in str(err.value)
    _no_secret(str(err.value) + repr(err.value) + repr(client))


def test_myself_404_means_wrong_url() -> None:
    client, _ = make(Script((404, b"not found")))
    with pytest.raises(InputError, match="does not look like a Jira Cloud site"):
        client.myself()


def test_dns_failure_fails_fast_on_first_contact_and_retries_later() -> None:
    def dns_error():
        try:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        except socket.gaierror as inner:
            try:
                raise httpx.ConnectError("[Errno -2] Name or service not known") from inner
            except httpx.ConnectError as exc:
                return exc

    script = Script(dns_error())
    client, sleeps = make(script)
    with pytest.raises(RunError, match="cannot resolve host acme.atlassian.net"):
        client.myself()
    assert sleeps == []
    script = Script((200, {"a": 1}), dns_error(), (200, {"a": 2}))
    client, sleeps = make(script)
    client.myself()
    assert client.myself() == {"a": 2} and len(sleeps) == 1


def test_connection_refused_real_socket() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    sleeps: list[float] = []
    client = JiraClient(f"http://127.0.0.1:{port}", "e@x.example", TOKEN, sleep=sleeps.append)
    with pytest.raises(RunError, match=f"cannot connect to http://127.0.0.1:{port}") as err:
        client.myself()
    assert sleeps == [] and "\n" not in str(err.value)
    _no_secret(str(err.value))


def test_connect_timeout_on_first_contact_fails_fast() -> None:
    script = Script(httpx.ConnectTimeout("timed out"))
    client, sleeps = make(script)
    with pytest.raises(RunError, match="cannot connect to https://acme.atlassian.net: the connection timed out"):
        client.myself()
    assert sleeps == [] and len(script.seen) == 1
    script = Script((200, {}), httpx.ConnectTimeout("timed out"), (200, {"ok": 1}))
    client, sleeps = make(script)
    client.myself()
    assert client.myself() == {"ok": 1} and len(sleeps) == 1


def test_auth_header_is_basic_email_token_and_tls_verified() -> None:
    script = Script((200, {}))
    client, _ = make(script)
    client.myself()
    import base64

    assert script.seen[0].headers["Authorization"] == "Basic " + base64.b64encode(
        f"lead@acme.example:{TOKEN}".encode()).decode()
    assert TOKEN not in repr(client)
    import ssl

    real = JiraClient("https://acme.atlassian.net", "a@x.example", TOKEN)
    ctx = real._http._transport._pool._ssl_context  # httpx internals: certificate and host name checked
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    with pytest.raises(InputError, match="plain http"):
        JiraClient("http://acme.atlassian.net", "a@x.example", TOKEN)


# --------------------------------------------------------------------------
# Paging helpers
# --------------------------------------------------------------------------


def test_search_token_paging_and_request_shape() -> None:
    pages = {None: {"issues": [{"id": "1"}, {"id": "2"}], "nextPageToken": "t1", "isLast": False},
             "t1": {"issues": [{"id": "3"}], "isLast": True}}

    def answer(request):
        body = json.loads(request.content)
        assert request.url.path == "/rest/api/3/search/jql" and request.method == "POST"
        assert body["fields"] == ["summary"] and body["maxResults"] == 100 and body["jql"] == "project = A"
        return httpx.Response(200, json=pages[body.get("nextPageToken")])

    client, _ = make(Script(answer))
    assert [[i["id"] for i in p] for p in client.search_pages("project = A", ["summary"])] == [["1", "2"], ["3"]]


def test_start_at_paging_and_paged_dto() -> None:
    def bean(request):
        start = int(request.url.params["startAt"])
        values = [{"id": str(n)} for n in range(start, min(start + 2, 5))]
        return httpx.Response(200, json={"startAt": start, "maxResults": 2, "total": 5, "values": values,
                                         "isLast": start + 2 >= 5})

    client, _ = make(Script(bean))
    assert [p["id"] for p in client.priorities()] == ["0", "1", "2", "3", "4"]

    def dto(request):
        start = int(request.url.params["start"])
        values = [{"id": str(n)} for n in range(start, min(start + 2, 3))]
        return httpx.Response(200, json={"start": start, "limit": 2, "size": len(values), "values": values,
                                         "isLastPage": start + 2 >= 3})

    client, _ = make(Script(dto))
    assert [o["id"] for o in client.organizations()] == ["0", "1", "2"]

    def worklogs(request):
        start = int(request.url.params["startAt"])
        values = [{"id": str(n)} for n in range(start, min(start + 1000, 2500))]
        return httpx.Response(200, json={"startAt": start, "maxResults": 1000, "total": 2500, "worklogs": values})

    client, _ = make(Script(worklogs))
    assert len(client.issue_worklogs(7)) == 2500


def test_changed_worklog_feed_follows_next_page_and_refuses_other_hosts() -> None:
    def feed(request):
        since = int(request.url.params["since"])
        if since == 0:
            return httpx.Response(200, json={"values": [{"worklogId": 1, "updatedTime": 10}], "since": 0,
                                             "until": 10, "lastPage": False,
                                             "nextPage": "https://acme.atlassian.net/rest/api/3/worklog/updated?since=10"})
        return httpx.Response(200, json={"values": [{"worklogId": 2, "updatedTime": 20}], "since": 10,
                                         "until": 20, "lastPage": True})

    client, _ = make(Script(feed))
    pages = list(client.changed_worklogs("updated", 0))
    assert [v["worklogId"] for p in pages for v in p["values"]] == [1, 2]

    evil = Script((200, {"values": [], "lastPage": False, "nextPage": "https://evil.example/steal?since=1"}))
    client, _ = make(evil)
    with pytest.raises(RunError, match="another host"):
        list(client.changed_worklogs("deleted", 0))
    assert len(evil.seen) == 1


def test_worklog_list_chunks_of_1000() -> None:
    def answer(request):
        ids = json.loads(request.content)["ids"]
        assert len(ids) <= 1000
        return httpx.Response(200, json=[{"id": str(i)} for i in ids])

    script = Script(answer)
    client, _ = make(script)
    assert len(client.worklog_list(list(range(2345)))) == 2345
    assert len(script.seen) == 3


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------


def test_urls_https_required_http_only_on_loopback() -> None:
    assert normalize_url("https://acme.atlassian.net/") == "https://acme.atlassian.net"
    for ok in ("http://127.0.0.1:8080", "http://localhost:1", "http://LOCALHOST.:2", "http://[::1]:9", "http://127.5.0.1"):
        assert normalize_url(ok).startswith("http://")
    for bad in ("http://acme.atlassian.net", "http://10.0.0.1", "ftp://x", "acme.atlassian.net",
                "https://user:pw@acme.atlassian.net", "http://localhost.evil.com", "http://jira.localhost:8080"):
        with pytest.raises(InputError):
            normalize_url(bad)


def test_env_overrides_file_and_token_never_shown(tmp_path, monkeypatch) -> None:
    path = save_config("https://file.atlassian.net", "file@x.example", TOKEN, projects=["abc"],
                       start_date="2025-01-01", path=tmp_path / "cfg" / "config.toml")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name != "config.toml"]  # no temp file left
    cfg = load_config(path, env={})
    assert cfg.url == "https://file.atlassian.net" and cfg.token.reveal() == TOKEN
    assert cfg.scope == SyncScope(projects=("ABC",), start_date=__import__("datetime").date(2025, 1, 1))
    cfg = load_config(path, env={"TICKETBOOK_JIRA_URL": "https://env.atlassian.net",
                                 "TICKETBOOK_SYNC_PROJECTS": "X, Y"})
    assert cfg.url == "https://env.atlassian.net" and cfg.email == "file@x.example"
    assert cfg.scope.projects == ("X", "Y") and cfg.sources["TICKETBOOK_JIRA_URL"] == "env"
    settings = cfg.jira()
    for text in (repr(cfg), str(cfg), repr(settings), f"{settings.token}", str(settings.token)):
        assert TOKEN not in text
    assert repr(Secret("abc")) == "***"


def test_group_readable_config_is_refused(tmp_path) -> None:
    path = save_config("https://a.atlassian.net", "a@x.example", TOKEN, path=tmp_path / "config.toml")
    os.chmod(path, 0o644)
    with pytest.raises(InputError, match="chmod 600") as err:
        load_config(path, env={})
    assert TOKEN not in str(err.value)


def test_missing_settings_name_what_to_set(tmp_path) -> None:
    cfg = load_config(tmp_path / "none.toml", env={"TICKETBOOK_JIRA_URL": "https://a.atlassian.net"})
    with pytest.raises(InputError, match="TICKETBOOK_JIRA_EMAIL, TICKETBOOK_JIRA_TOKEN"):
        cfg.jira()


def test_save_config_overwrites_atomically_and_validates(tmp_path) -> None:
    path = tmp_path / "config.toml"
    save_config("https://a.atlassian.net", "a@x.example", "one", path=path)
    save_config("https://b.atlassian.net", "b@x.example", Secret('t"w\\o'), path=path)
    cfg = load_config(path, env={})
    assert cfg.url == "https://b.atlassian.net" and cfg.token.reveal() == 't"w\\o'
    with pytest.raises(InputError):
        save_config("http://b.example", "b@x.example", "x", path=path)
    with pytest.raises(InputError):
        save_config("https://b.example", "not-an-email", "x", path=path)
    assert load_config(path, env={}).url == "https://b.atlassian.net"  # the bad saves changed nothing
