#!/usr/bin/env bash
# A throwaway PostgreSQL server for developers (the same one CI starts: .ci/pg-start.sh).
#
#   scripts/pg-dev.sh start   # start it, print the URL (and an export line)
#   scripts/pg-dev.sh url     # print the URL of the running one
#   scripts/pg-dev.sh stop    # stop it and delete its data
#
# Run the tests against it:
#   export TICKETBOOK_TEST_PG_URL=$(scripts/pg-dev.sh url)
#   .venv/bin/python -m pytest -q tests/test_store.py
#
# Try the app on it (a database of its own; the maintenance DB is the tests' playground):
#   .venv/bin/python -c "import psycopg2; c=psycopg2.connect('$(scripts/pg-dev.sh url)'); \
#       c.autocommit=True; c.cursor().execute('CREATE DATABASE ticketbook')"
#   ticketbook --db "$(scripts/pg-dev.sh url | sed 's#/postgres$#/ticketbook#')" sync
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${TICKETBOOK_PG_DEV_STATE:-${TMPDIR:-/tmp}/ticketbook-pg-dev-$(id -un).env}"
# shellcheck source=../.ci/pg-start.sh
. "$here/.ci/pg-start.sh"

case "${1:-}" in
start)
    if [ -f "$STATE" ]; then
        # shellcheck disable=SC1090
        . "$STATE"
        echo "already running: $TICKETBOOK_TEST_PG_URL (scripts/pg-dev.sh stop first)" >&2
        echo "$TICKETBOOK_TEST_PG_URL"
        exit 0
    fi
    unset TICKETBOOK_TEST_PG_URL
    pg_start
    if [ -z "${TICKETBOOK_TEST_PG_URL:-}" ]; then
        exit 1
    fi
    printf 'PG_TMP=%q\nPG_DATA=%q\nPG_BIN=%q\nTICKETBOOK_TEST_PG_URL=%q\n' \
        "$PG_TMP" "$PG_DATA" "$PG_BIN" "$TICKETBOOK_TEST_PG_URL" >"$STATE"
    echo "export TICKETBOOK_TEST_PG_URL=$TICKETBOOK_TEST_PG_URL" >&2
    echo "$TICKETBOOK_TEST_PG_URL"
    ;;
url)
    [ -f "$STATE" ] || { echo "not running (scripts/pg-dev.sh start)" >&2; exit 1; }
    # shellcheck disable=SC1090
    . "$STATE"
    echo "$TICKETBOOK_TEST_PG_URL"
    ;;
stop)
    [ -f "$STATE" ] || { echo "not running" >&2; exit 0; }
    # shellcheck disable=SC1090
    . "$STATE"
    if [ "$(id -u)" = 0 ]; then
        if command -v runuser >/dev/null 2>&1; then PG_AS=(runuser -u postgres --); else PG_AS=(su); fi
    fi
    pg_stop
    rm -f "$STATE"
    echo "stopped" >&2
    ;;
*)
    echo "usage: $0 start|url|stop" >&2
    exit 2
    ;;
esac
