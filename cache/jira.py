"""A small Jira Cloud REST client for the sync (httpx, synchronous).

* HTTP Basic auth with the account email and an API token; TLS verification
  is always on.  The token never appears in an error message, a repr or a log
  line (errors name the method, the path and the site only).
* Retries (jira-sync.md, "Being a good API citizen"): 429 and 503 honour
  ``Retry-After``; otherwise exponential backoff with jitter (5 s doubling to
  30 s, x0.7-1.3, :attr:`JiraClient.max_retries` retries).  Timeouts, dropped
  or cut connections, malformed JSON bodies and 500/502/503/504 are retried on
  idempotent calls only: GETs and the read-only POSTs in
  :data:`READ_ONLY_POSTS`.  429 (the request was not processed) is retried
  for any call.  Connection refused / DNS failures are retried only after the
  client has once reached the site (a wrong URL fails at once; a site that
  restarts mid-sync is waited for).
* Waits go through an injectable ``sleep``; a ``cancel`` event interrupts them
  (:class:`Cancelled`).
* Paging helpers for every paging style used: ``nextPageToken`` (search/jql),
  ``startAt``/``isLast`` (PageBean), ``startAt``/``total`` (PageOfWorklogs),
  ``start``/``isLastPage`` (Service Management PagedDTO) and the
  ``nextPage``/``lastPage`` worklog change feeds.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from cache.config import JiraSettings, Secret, normalize_url
from tickets.errors import InputError, RunError, TicketbookError

log = logging.getLogger("ticketbook.jira")

READ_ONLY_POSTS = frozenset({
    "/rest/api/3/search/jql",
    "/rest/api/3/search/approximate-count",
    "/rest/api/3/worklog/list",
    "/rest/api/3/jql/match",
})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
SEARCH_PAGE = 100  # Jira's cap with a field list
ID_PAGE = 5000  # Jira's cap for fields=["id"]
WORKLOG_LIST_MAX = 1000


#: where the URL comes from, for messages (the connection screen writes the config file)
URL_SETTING = "the Jira URL (TICKETBOOK_JIRA_URL or the config file)"


class Cancelled(TicketbookError):
    """The caller's cancel event was set."""

    exit_code = 130

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


class JiraError(RunError):
    """A Jira request failed for good (after retries)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class JiraInputError(InputError):
    """Jira says the configured input is wrong (credentials, URL)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Retry(Exception):
    def __init__(self, reason: str, delay: float | None = None, final: TicketbookError | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay
        self.final = final


def backoff_delay(attempt: int, *, base: float = 5.0, cap: float = 30.0, rng: random.Random | None = None) -> float:
    """Delay before retry number ``attempt`` (0-based): base*2^attempt capped, times U(0.7, 1.3)."""
    rng = rng or random
    return min(cap, base * (2 ** attempt)) * rng.uniform(0.7, 1.3)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent/unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _cause_chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _is_dns_failure(exc: BaseException) -> bool:
    for e in _cause_chain(exc):
        if isinstance(e, socket.gaierror):
            return True
        text = str(e).lower()
        if "name or service not known" in text or "nodename nor servname" in text \
                or "name resolution" in text or "no address associated" in text or "getaddrinfo failed" in text:
            return True
    return False


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


class JiraClient:
    """One Jira Cloud site.  Thread-compatible (use one client per thread for safety)."""

    def __init__(
        self,
        url: str,
        email: str,
        token: Secret | str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_retries: int = 4,
        backoff_base: float = 5.0,
        backoff_cap: float = 30.0,
        max_retry_after: float = 300.0,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        cancel: threading.Event | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = normalize_url(url, what="Jira URL")  # https, or http to loopback only
        self.email = email
        self._token = token if isinstance(token, Secret) else Secret(token)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self.cancel = cancel
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._reached = False  # set once any HTTP response came back
        self.requests = 0  # count of HTTP attempts (for tests and stats)
        self._http = httpx.Client(
            base_url=self.url,
            auth=httpx.BasicAuth(email, self._token.reveal()),
            headers={"Accept": "application/json", "User-Agent": "ticketbook-sync/0.1"},
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            verify=True,
            follow_redirects=False,
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: JiraSettings, **kwargs: Any) -> JiraClient:
        return cls(settings.url, settings.email, settings.token, **kwargs)

    def __repr__(self) -> str:
        return f"JiraClient({self.url!r}, {self.email!r}, token=***)"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JiraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------
    # Waiting and cancelling
    # ------------------------------------------------------------------

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()

    def _wait(self, seconds: float) -> None:
        self.check_cancel()
        if self._sleep is not None:
            self._sleep(seconds)
        elif self.cancel is not None:
            if self.cancel.wait(seconds):
                raise Cancelled()
        else:
            time.sleep(seconds)
        self.check_cancel()

    # ------------------------------------------------------------------
    # One request with the retry policy
    # ------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Any = None, json_body: Any = None,
                idempotent: bool | None = None) -> Any:
        """Send a request, retrying per the policy; return the parsed JSON body (None when empty)."""
        method = method.upper()
        if idempotent is None:
            idempotent = method == "GET" or (method == "POST" and path in READ_ONLY_POSTS)
        attempt = 0
        while True:
            self.check_cancel()
            try:
                return self._attempt(method, path, params, json_body, idempotent)
            except _Retry as retry:
                if retry.final is not None and attempt >= self.max_retries:
                    raise retry.final from None
                delay = retry.delay
                if delay is None:
                    delay = backoff_delay(attempt, base=self.backoff_base, cap=self.backoff_cap, rng=self._rng)
                delay = min(delay, self.max_retry_after)
                log.info("jira %s %s: %s; retry %d/%d in %.1f s", method, path, retry.reason,
                         attempt + 1, self.max_retries, delay)
                attempt += 1
                self._wait(delay)

    def _where(self, method: str, path: str) -> str:
        return f"{method} {path} at {self.url}"

    def _attempt(self, method: str, path: str, params: Any, json_body: Any, idempotent: bool) -> Any:
        self.requests += 1
        host = urlsplit(self.url).hostname
        try:
            response = self._http.request(method, path, params=params, json=json_body)
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout) and not self._reached:  # never reached: fail fast
                raise JiraError(f"cannot connect to {self.url}: the connection timed out "
                                f"(check {URL_SETTING}, the network or a proxy)") from None
            final = JiraError(f"Jira did not answer in time ({self.timeout:g} s): {self._where(method, path)}")
            if idempotent:
                raise _Retry(f"timeout ({type(exc).__name__})", final=final) from None
            raise final from None
        except httpx.ConnectError as exc:
            if _is_dns_failure(exc):
                final = JiraError(f"cannot resolve host {host} (check {URL_SETTING} and the network)")
                if idempotent and self._reached:  # the site was reachable before: a resolver hiccup
                    raise _Retry("DNS failure", final=final) from None
                raise final from None
            final = JiraError(f"cannot connect to {self.url}: {_short(exc)}")
            if idempotent and self._reached:
                raise _Retry(f"connect error: {_short(exc)}", final=final) from None
            raise final from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.NetworkError) as exc:
            final = JiraError(f"the connection to Jira broke ({_short(exc)}): {self._where(method, path)}")
            if idempotent:
                raise _Retry(f"connection broken: {_short(exc)}", final=final) from None
            raise final from None
        except httpx.HTTPError as exc:  # anything else from httpx: one line, no retry
            raise JiraError(f"HTTP error talking to Jira ({type(exc).__name__}: {_short(exc)}): "
                            f"{self._where(method, path)}") from None

        self._reached = True
        status = response.status_code
        if status == 429 or (status == 503 and idempotent):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            final = JiraError(f"Jira kept refusing with {status} "
                              f"({'rate limited' if status == 429 else 'service unavailable'}) after "
                              f"{self.max_retries} retries: {self._where(method, path)}", status)
            raise _Retry(f"HTTP {status}", delay=retry_after, final=final)
        if status in RETRY_STATUSES and idempotent:
            final = JiraError(f"Jira failed with HTTP {status} after {self.max_retries} retries: "
                              f"{self._where(method, path)}", status)
            raise _Retry(f"HTTP {status}", final=final)
        if status >= 400:
            raise self._status_error(method, path, response)
        if 300 <= status < 400:
            raise JiraError(f"Jira answered with a redirect ({status}) to {self._redirect_target(response)}: "
                            f"check {URL_SETTING} ({self.url})", status)
        if status == 204 or not response.content:
            return None
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            final = JiraError(f"Jira sent a malformed JSON body: {self._where(method, path)}", status)
            if idempotent:
                raise _Retry("malformed JSON", final=final) from None
            raise final from None

    @staticmethod
    def _redirect_target(response: httpx.Response) -> str:
        loc = response.headers.get("Location", "")
        parts = urlsplit(loc)
        return f"{parts.scheme}://{parts.hostname}{parts.path}" if parts.hostname else (parts.path or "?")

    def _status_error(self, method: str, path: str, response: httpx.Response) -> TicketbookError:
        status = response.status_code
        detail = _jira_messages(response)
        suffix = f": {detail}" if detail else ""
        if status == 401:
            return JiraInputError(
                f"Jira rejected the credentials for {self.email} at {self.url} "
                "(check TICKETBOOK_JIRA_EMAIL / the API token)", status)
        if status == 403:
            return JiraError(f"Jira refused access (403 Forbidden) for {self.email}: {self._where(method, path)}"
                             f"{suffix} (the account lacks a permission, or the API token is restricted)", status)
        if status == 404:
            if path == "/rest/api/3/myself":
                return JiraInputError(f"{self.url} does not look like a Jira Cloud site "
                                      f"(404 for {path}); check {URL_SETTING}", status)
            return JiraError(f"Jira has no such resource (404): {self._where(method, path)}{suffix}", status)
        if status == 410:
            return JiraError(f"{method} {path} was removed by Atlassian (410 Gone at {self.url}); "
                             "this version of TicketBook uses a retired API: upgrade it", status)
        if status == 400:
            return JiraError(f"Jira rejected the request (400): {self._where(method, path)}{suffix}", status)
        return JiraError(f"Jira failed with HTTP {status}: {self._where(method, path)}{suffix}", status)

    # ------------------------------------------------------------------
    # Convenience
    # ------------------------------------------------------------------

    def get(self, path: str, params: Any = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, json_body=body)

    def _expect(self, value: Any, kind: type, what: str) -> Any:
        if not isinstance(value, kind):
            raise JiraError(f"Jira sent an unexpected answer for {what} (expected a JSON {kind.__name__})")
        return value

    # ------------------------------------------------------------------
    # Paging helpers
    # ------------------------------------------------------------------

    def paged_start_at(self, path: str, params: dict | None = None, *, page_size: int = 50,
                       key: str = "values") -> Iterator[dict]:
        """PageBean paging (``startAt``/``maxResults``, ``isLast``)."""
        start = 0
        while True:
            self.check_cancel()
            page = self._expect(self.get(path, {**(params or {}), "startAt": start, "maxResults": page_size}),
                                dict, path)
            values = page.get(key) or []
            yield from values
            if page.get("isLast", True) or not values:
                return
            total = page.get("total")
            start += len(values)
            if isinstance(total, int) and start >= total:
                return

    def paged_service_desk(self, path: str, params: dict | None = None, *, limit: int = 50) -> Iterator[dict]:
        """Service Management PagedDTO paging (``start``/``limit``, ``isLastPage``)."""
        start = 0
        while True:
            self.check_cancel()
            page = self._expect(self.get(path, {**(params or {}), "start": start, "limit": limit}), dict, path)
            values = page.get("values") or []
            yield from values
            if page.get("isLastPage", True) or not values:
                return
            start += len(values)

    def search_pages(self, jql: str, fields: list[str], *, max_results: int = SEARCH_PAGE,
                     expand: str | None = None) -> Iterator[list[dict]]:
        """``POST /rest/api/3/search/jql`` with ``nextPageToken`` paging; yields each page's issues."""
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            self.check_cancel()
            body: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": max_results}
            if expand:
                body["expand"] = expand
            if token:
                body["nextPageToken"] = token
            page = self._expect(self.post("/rest/api/3/search/jql", body), dict, "search/jql")
            issues = page.get("issues") or []
            yield issues
            token = page.get("nextPageToken")
            if page.get("isLast") or not token:
                return
            if token in seen_tokens:
                raise JiraError("Jira repeated a search page token (paging loop); giving up")
            seen_tokens.add(token)

    def search_ids(self, jql: str) -> Iterator[int]:
        for issues in self.search_pages(jql, ["id"], max_results=ID_PAGE):
            for issue in issues:
                yield int(issue["id"])

    def approximate_count(self, jql: str) -> int | None:
        answer = self.post("/rest/api/3/search/approximate-count", {"jql": jql})
        if isinstance(answer, dict) and isinstance(answer.get("count"), int):
            return answer["count"]
        return None

    def issue_worklogs(self, issue_id: int | str, *, page_size: int = 1000) -> list[dict]:
        """Every worklog of one issue (``PageOfWorklogs``: startAt/maxResults/total)."""
        out: list[dict] = []
        start = 0
        path = f"/rest/api/3/issue/{issue_id}/worklog"
        while True:
            self.check_cancel()
            page = self._expect(self.get(path, {"startAt": start, "maxResults": page_size}), dict, path)
            values = page.get("worklogs") or []
            out.extend(values)
            total = page.get("total")
            start += len(values)
            if not values or not isinstance(total, int) or start >= total:
                return out

    def changed_worklogs(self, kind: str, since_ms: int) -> Iterator[dict]:
        """``GET /rest/api/3/worklog/{updated|deleted}?since=`` following ``nextPage`` until ``lastPage``.

        Yields each page (``values``, ``since``, ``until``, ``lastPage``).
        """
        assert kind in ("updated", "deleted")
        path = f"/rest/api/3/worklog/{kind}"
        params: Any = {"since": since_ms}
        base = urlsplit(self.url)
        pages = 0
        while True:
            self.check_cancel()
            page = self._expect(self.get(path, params), dict, path)
            yield page
            pages += 1
            next_page = page.get("nextPage")
            if page.get("lastPage", True) or not next_page or pages > 100_000:
                return
            nxt = urlsplit(next_page)
            if nxt.hostname and (nxt.hostname != base.hostname or (nxt.port or None) != (base.port or None)):
                raise JiraError(f"Jira's worklog feed pointed to another host ({nxt.hostname}); refusing to send "
                                "credentials there")
            params = dict(parse_qsl(nxt.query))
            if nxt.path:
                prefix = base.path.rstrip("/")
                path = nxt.path[len(prefix):] if prefix and nxt.path.startswith(prefix) else nxt.path

    def worklog_list(self, ids: list[int]) -> list[dict]:
        out: list[dict] = []
        for i in range(0, len(ids), WORKLOG_LIST_MAX):
            self.check_cancel()
            chunk = [int(x) for x in ids[i:i + WORKLOG_LIST_MAX]]
            answer = self._expect(self.post("/rest/api/3/worklog/list", {"ids": chunk}), list, "worklog/list")
            out.extend(answer)
        return out

    # ------------------------------------------------------------------
    # Endpoints
    # ------------------------------------------------------------------

    def myself(self) -> dict:
        return self._expect(self.get("/rest/api/3/myself"), dict, "myself")

    def server_info(self) -> dict:
        return self._expect(self.get("/rest/api/3/serverInfo"), dict, "serverInfo")

    def fields(self) -> list[dict]:
        return self._expect(self.get("/rest/api/3/field"), list, "field")

    def priorities(self) -> list[dict]:
        return list(self.paged_start_at("/rest/api/3/priority/search", page_size=50))

    def statuses(self) -> list[dict]:
        return self._expect(self.get("/rest/api/3/status"), list, "status")

    def status_categories(self) -> list[dict]:
        return self._expect(self.get("/rest/api/3/statuscategory"), list, "statuscategory")

    def resolutions(self) -> list[dict]:
        return list(self.paged_start_at("/rest/api/3/resolution/search", page_size=50))

    def issue_types(self) -> list[dict]:
        return self._expect(self.get("/rest/api/3/issuetype"), list, "issuetype")

    def projects(self) -> list[dict]:
        return list(self.paged_start_at("/rest/api/3/project/search", page_size=50))

    def service_desks(self) -> list[dict]:
        return list(self.paged_service_desk("/rest/servicedeskapi/servicedesk"))

    def organizations(self) -> list[dict]:
        return list(self.paged_service_desk("/rest/servicedeskapi/organization"))

    def organization_users(self, org_id: str | int) -> list[dict]:
        return list(self.paged_service_desk(f"/rest/servicedeskapi/organization/{org_id}/user"))

    def service_desk_organizations(self, desk_id: str | int) -> list[dict]:
        return list(self.paged_service_desk(f"/rest/servicedeskapi/servicedesk/{desk_id}/organization"))

    def jql_match(self, issue_ids: list[int], jqls: list[str]) -> dict:
        return self._expect(self.post("/rest/api/3/jql/match", {"issueIds": issue_ids, "jqls": jqls}), dict,
                            "jql/match")


def _jira_messages(response: httpx.Response) -> str:
    """Jira's errorMessages/errors, one line, bounded (never headers)."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return ""
    parts: list[str] = []
    if isinstance(body, dict):
        msgs = body.get("errorMessages")
        if isinstance(msgs, list):
            parts.extend(str(m) for m in msgs if m)
        errs = body.get("errors")
        if isinstance(errs, dict):
            parts.extend(f"{k}: {v}" for k, v in errs.items())
        if not parts and isinstance(body.get("message"), str):
            parts.append(body["message"])
    text = "; ".join(parts).replace("\n", " ").strip()
    return text[:300]


def json_dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
