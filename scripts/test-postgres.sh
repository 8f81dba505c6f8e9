#!/usr/bin/env bash
# The test suite with a real PostgreSQL server as well as SQLite.
#
# Installs Debian's postgresql package when it is missing (apt-get), makes a throw-away cluster
# listening on localhost only (trust authentication, fsync off: nothing in it is worth keeping),
# runs `.venv/bin/python -m pytest` with TEST_POSTGRES_URL pointing at it, and stops and drops
# the cluster at the end, whatever happened. Arguments go to pytest (e.g. -m both_databases for
# only the tests that run on both databases, or a test file).
#
#   PG_PORT     first port to try (default 5433; the next free one is taken)
#   PG_CLUSTER  the cluster's name (default tangqiao_ci)
#   PYTHON      the interpreter (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${PG_CLUSTER:-tangqiao_ci}
PORT=${PG_PORT:-5433}
PYTHON=${PYTHON:-.venv/bin/python}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if ! command -v pg_createcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    echo "test-postgres: installing PostgreSQL (Debian's postgresql package)"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
VERSION=${PG_VERSION:-$(ls /usr/lib/postgresql | sort -V | tail -n 1)}

# A cluster of this name left by a run that was killed goes first.
if pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c { found = 1 } END { exit !found }'; then
    $SUDO pg_dropcluster --stop "$VERSION" "$CLUSTER"
fi

# A port no other cluster is configured for and nothing listens on.
port_free() {
    pg_lsclusters -h | awk -v p="$1" '$3 == p { used = 1 } END { exit used }' || return 1
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
for _ in $(seq 1 50); do
    port_free "$PORT" && break
    PORT=$((PORT + 1))
done

cleanup() {
    status=$?
    $SUDO pg_dropcluster --stop "$VERSION" "$CLUSTER" >/dev/null 2>&1 || true
    exit "$status"
}
trap cleanup EXIT INT TERM

$SUDO install -d -o postgres -g postgres -m 2775 /var/run/postgresql  # the socket's folder (gone after a reboot)
$SUDO pg_createcluster "$VERSION" "$CLUSTER" -p "$PORT" --encoding=UTF8 --locale=C.UTF-8 --start-conf=manual \
    -o fsync=off -o synchronous_commit=off -o full_page_writes=off \
    -- --auth=trust >/dev/null
$SUDO pg_ctlcluster "$VERSION" "$CLUSTER" start
echo "test-postgres: PostgreSQL $VERSION cluster $CLUSTER on 127.0.0.1:$PORT"

export TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$PORT/tangqiao_test"
"$PYTHON" -m pytest "$@"
