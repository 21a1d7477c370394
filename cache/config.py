"""Jira connection and sync-scope settings.

Where settings come from, strongest first:

1. ``TICKETBOOK_JIRA_URL`` / ``TICKETBOOK_JIRA_EMAIL`` / ``TICKETBOOK_JIRA_TOKEN``
   (each overrides its own setting), ``TICKETBOOK_SYNC_PROJECTS`` (comma
   separated project keys) and ``TICKETBOOK_SYNC_START`` (YYYY-MM-DD);
2. the config file ``config.toml`` in ``platformdirs.user_config_dir("ticketbook")``
   (or ``TICKETBOOK_CONFIG``)::

       [jira]
       url = "https://example.atlassian.net"
       email = "lead@example.com"
       token = "..."

       [sync]
       projects = ["ABC", "DEF"]   # default: the projects of the site's service desks
       start_date = "2025-01-01"   # default: the earliest contract start

The file holds the API token, so it is written atomically with mode 0600 and,
like ssh, a file that group or others can read is refused.  The token is kept
in a :class:`Secret` whose ``repr``/``str`` is ``***``.

URLs must be ``https://``; plain ``http://`` is accepted only to a loopback
host (127.0.0.0/8, ::1, localhost), which is what the simulated site uses.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import os
import pathlib
import re
import stat
import tomllib
from urllib.parse import urlsplit

import platformdirs

from tickets.errors import InputError

ENV_URL = "TICKETBOOK_JIRA_URL"
ENV_EMAIL = "TICKETBOOK_JIRA_EMAIL"
ENV_TOKEN = "TICKETBOOK_JIRA_TOKEN"
ENV_PROJECTS = "TICKETBOOK_SYNC_PROJECTS"
ENV_START = "TICKETBOOK_SYNC_START"
ENV_CONFIG = "TICKETBOOK_CONFIG"

_PROJECT_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class Secret:
    """A string that never shows itself in repr/str/format/logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):  # never pickled into a file or a crash report by accident
        raise TypeError("Secret cannot be pickled")


@dataclasses.dataclass(frozen=True)
class JiraSettings:
    url: str
    email: str
    token: Secret = dataclasses.field(repr=True)  # repr shows ***

    def describe(self) -> str:
        return f"{self.email} at {self.url}"


@dataclasses.dataclass(frozen=True)
class SyncScope:
    """What to sync: project keys (empty = the service desks' projects) and a start date."""

    projects: tuple[str, ...] = ()
    start_date: dt.date | None = None


@dataclasses.dataclass(frozen=True)
class Config:
    url: str | None
    email: str | None
    token: Secret | None
    scope: SyncScope
    path: pathlib.Path
    sources: dict[str, str]  # setting -> "env" | "file"

    def missing(self) -> list[str]:
        names = []
        if not self.url:
            names.append(ENV_URL)
        if not self.email:
            names.append(ENV_EMAIL)
        if not self.token:
            names.append(ENV_TOKEN)
        return names

    def jira(self) -> JiraSettings:
        """The connection settings, or InputError naming what to set."""
        missing = self.missing()
        if missing:
            raise InputError(
                f"Jira is not configured: set {', '.join(missing)} "
                f"(or url/email/token under [jira] in {self.path}, mode 0600)"
            )
        return JiraSettings(url=self.url, email=self.email, token=self.token)  # type: ignore[arg-type]


def config_path() -> pathlib.Path:
    override = os.environ.get(ENV_CONFIG)
    if override:
        return pathlib.Path(override).expanduser()
    return pathlib.Path(platformdirs.user_config_dir("ticketbook", appauthor=False)) / "config.toml"


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost":  # not "*.localhost": a resolver may send those to the network (RFC 6761 permits it)
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_url(url: str, *, what: str = ENV_URL) -> str:
    """Check a Jira site URL; return it without trailing slash.  InputError if unusable."""
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises on a bad port
    except ValueError:
        raise InputError(f"{what}: {text!r} is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise InputError(f"{what}: {text!r} is not an https:// URL (e.g. https://your-site.atlassian.net)")
    if parts.username or parts.password:
        raise InputError(f"{what}: put the email and API token in their own settings, not in the URL")
    if parts.query or parts.fragment:
        raise InputError(f"{what}: {_safe_url(parts)} must not have a query or fragment")
    if scheme == "http" and not _is_loopback(parts.hostname):
        raise InputError(
            f"{what}: plain http:// is refused for {parts.hostname} (the API token would travel "
            "unencrypted); use https:// (http is allowed only to loopback)"
        )
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port else "")
    path = parts.path.rstrip("/")
    return f"{scheme}://{netloc}{path}"


def _safe_url(parts) -> str:
    return f"{parts.scheme}://{parts.hostname}{parts.path}"


def _check_email(email: str, what: str = ENV_EMAIL) -> str:
    email = (email or "").strip()
    if not email or "@" not in email or any(c.isspace() for c in email):
        raise InputError(f"{what}: {email!r} is not an email address (the Atlassian account's email)")
    return email


def _check_projects(value, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [p for p in (x.strip() for x in value.split(",")) if p]
    if not isinstance(value, (list, tuple)):
        raise InputError(f"{what}: must be a list of project keys")
    keys = []
    for item in value:
        if not isinstance(item, str) or not _PROJECT_KEY.match(item.strip()):
            raise InputError(f"{what}: {item!r} is not a Jira project key")
        keys.append(item.strip().upper())
    return tuple(dict.fromkeys(keys))


def _check_date(value, what: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{what}: {value!r} is not a date (YYYY-MM-DD)") from None


# --------------------------------------------------------------------------
# Reading and writing
# --------------------------------------------------------------------------


def _read_file(path: pathlib.Path) -> dict:
    try:
        st = path.stat()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InputError(f"config file {path}: {exc.strerror}") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(
            f"config file {path} is accessible by others (mode {stat.S_IMODE(st.st_mode):04o}) and holds "
            f"an API token; refusing to use it: run chmod 600 {path}"
        )
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"config file {path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise InputError(f"config file {path}: {exc.strerror}") from None
    return data


def load_config(path: pathlib.Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Settings from the environment over the config file (validated)."""
    env = os.environ if env is None else env
    path = path or config_path()
    data = _read_file(path)
    jira = data.get("jira") or {}
    sync = data.get("sync") or {}
    if not isinstance(jira, dict) or not isinstance(sync, dict):
        raise InputError(f"config file {path}: [jira] and [sync] must be tables")
    sources: dict[str, str] = {}

    def pick(env_name: str, file_value):
        if env.get(env_name):
            sources[env_name] = "env"
            return env[env_name], f"{env_name}"
        if file_value not in (None, ""):
            sources[env_name] = "file"
            return file_value, f"{path}"
        return None, ""

    url, where = pick(ENV_URL, jira.get("url"))
    url = normalize_url(str(url), what=where) if url else None
    email, where = pick(ENV_EMAIL, jira.get("email"))
    email = _check_email(str(email), what=where) if email else None
    token, _ = pick(ENV_TOKEN, jira.get("token"))
    token_secret = Secret(str(token).strip()) if token else None
    projects, where = pick(ENV_PROJECTS, sync.get("projects"))
    start, where2 = pick(ENV_START, sync.get("start_date"))
    scope = SyncScope(projects=_check_projects(projects, where or "projects"),
                      start_date=_check_date(start, where2 or "start_date"))
    return Config(url=url, email=email, token=token_secret, scope=scope, path=path, sources=sources)


def _toml_str(value: str) -> str:
    # A JSON string with ensure_ascii is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=True)


def render_config(url: str, email: str, token: Secret | str, projects=(), start_date=None) -> str:
    tok = token.reveal() if isinstance(token, Secret) else token
    lines = [
        "# TicketBook settings. Holds an API token: keep this file mode 0600.",
        "[jira]",
        f"url = {_toml_str(url)}",
        f"email = {_toml_str(email)}",
        f"token = {_toml_str(tok)}",
        "",
        "[sync]",
        "# project keys to sync; empty = the projects of the site's service desks",
        f"projects = [{', '.join(_toml_str(p) for p in projects)}]",
    ]
    if start_date:
        lines.append(f"start_date = {_toml_str(start_date.isoformat())}")
    else:
        lines.append("# start_date = \"2025-01-01\"   # default: the earliest contract start")
    return "\n".join(lines) + "\n"


def save_config(url: str, email: str, token: Secret | str, *, projects=(), start_date=None,
                path: pathlib.Path | None = None) -> pathlib.Path:
    """Validate and write the config file atomically with mode 0600; return its path."""
    url = normalize_url(url, what="url")
    email = _check_email(email, what="email")
    tok = token.reveal() if isinstance(token, Secret) else (token or "")
    if not tok.strip():
        raise InputError("token: the API token is empty")
    projects = _check_projects(list(projects or ()), "projects")
    start_date = _check_date(start_date, "start_date")
    path = path or config_path()
    text = render_config(url, email, Secret(tok.strip()), projects, start_date)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)  # in case the umask or an ACL widened it
            os.replace(tmp, path)
        except BaseException:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise
    except OSError as exc:
        raise InputError(f"cannot write config file {path}: {exc.strerror}") from None
    return path


def check_email(email: str, what: str = ENV_EMAIL) -> str:
    """Public form of the email check (the TUI's connection screen)."""
    return _check_email(email, what)
