# shellcheck shell=bash
# Start a throwaway PostgreSQL server for the tests.  SOURCE this file, then call
#
#     pg_start            # exports TICKETBOOK_TEST_PG_URL (a maintenance database the tests create databases in)
#     trap pg_stop EXIT   # stops the server and deletes its data dir
#
# * Uses the server binaries on PATH (initdb, pg_ctl) or the newest /usr/lib/postgresql/*/bin.
# * PostgreSQL refuses to run as root: as root the server runs as the `postgres` OS user
#   (runuser, else su), with its data dir in a fresh mktemp dir owned by that user.
# * Listens on 127.0.0.1 on a free port (and a unix socket in the same temp dir), trust auth,
#   fsync off: the data is thrown away anyway.
# * TICKETBOOK_TEST_PG_URL already set: that server is used and nothing is started.
# * No PostgreSQL binaries at all: a loud warning, TICKETBOOK_TEST_PG_URL stays unset and the
#   PostgreSQL tests are skipped.  Binaries present but the server does not start: pg_start
#   prints the server log and returns 1 (callers under `set -e` fail).

PG_TMP=""
PG_DATA=""
PG_BIN=""
PG_AS=()

_pg_find_bin() {
    local d
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        PG_BIN="$(dirname "$(command -v pg_ctl)")"
        return 0
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            PG_BIN="$d"
            return 0
        fi
    done
    return 1
}

_pg_free_port() {
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# _pg_run CMD...: run CMD as the server's OS user.
_pg_run() {
    if [ "${#PG_AS[@]}" -eq 0 ]; then
        "$@"
    elif [ "${PG_AS[0]}" = su ]; then
        su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    else
        "${PG_AS[@]}" "$@"
    fi
}

pg_start() {
    if [ -n "${TICKETBOOK_TEST_PG_URL:-}" ]; then
        echo "pg-start: using the given TICKETBOOK_TEST_PG_URL" >&2
        return 0
    fi
    if ! _pg_find_bin; then
        echo "##################################################################" >&2
        echo "WARNING: no PostgreSQL server binaries (initdb, pg_ctl) found:" >&2
        echo "WARNING: the PostgreSQL tests will be SKIPPED, only SQLite is tested." >&2
        echo "##################################################################" >&2
        return 0
    fi
    PG_AS=()
    if [ "$(id -u)" = 0 ]; then
        if ! id postgres >/dev/null 2>&1; then
            echo "pg-start: running as root and there is no 'postgres' OS user to run the server as" >&2
            return 1
        fi
        if command -v runuser >/dev/null 2>&1; then
            PG_AS=(runuser -u postgres --)
        else
            PG_AS=(su)
        fi
    fi
    PG_TMP="$(mktemp -d "${TMPDIR:-/tmp}/ticketbook-pg.XXXXXX")"
    PG_DATA="$PG_TMP/data"
    chmod 700 "$PG_TMP"
    if [ "${#PG_AS[@]}" -gt 0 ]; then
        chown postgres: "$PG_TMP"
    fi
    local port
    port="$(_pg_free_port)"
    if ! _pg_run "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C --no-sync \
            >"$PG_TMP/initdb.log" 2>&1; then
        echo "pg-start: initdb FAILED:" >&2
        cat "$PG_TMP/initdb.log" >&2
        return 1
    fi
    if ! _pg_run "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_TMP/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_TMP -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >"$PG_TMP/pg_ctl.log" 2>&1; then
        echo "pg-start: the PostgreSQL server did NOT start:" >&2
        cat "$PG_TMP/pg_ctl.log" "$PG_TMP/server.log" >&2 2>/dev/null || true
        return 1
    fi
    export TICKETBOOK_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
    echo "pg-start: PostgreSQL ($PG_BIN) on 127.0.0.1:$port (data in $PG_DATA)" >&2
}

pg_stop() {
    if [ -n "$PG_DATA" ] && [ -d "$PG_DATA" ]; then
        _pg_run "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ -n "$PG_TMP" ]; then
        rm -rf "$PG_TMP"
    fi
    PG_TMP=""
    PG_DATA=""
}
