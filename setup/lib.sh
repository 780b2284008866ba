# shellcheck shell=bash
# Shared bootstrap for setup/run, setup/test and setup/lint.
#
# Source it from a script that has `set -euo pipefail`. It defines functions only;
# the caller decides what to bootstrap. State lives in .venv/ and .local/ (both
# ignored by git); Odoo's source and the PostgreSQL binaries stay outside the repo.
#
# Environment knobs (all optional):
#   ODOO_VERSION        18.0 (default) or 19.0: which Odoo to use (ODOO_SRC's own version wins)
#   ODOO_SRC            an Odoo source tree (has odoo-bin); else the cache below
#   EINVOICE_CACHE      cache folder (default ${XDG_CACHE_HOME:-$HOME/.cache}/einvoice-connectors),
#                       holding odoo-18.0/ and odoo-19.0/
#   EINVOICE_PYTHON     interpreter for the virtualenv (default: the first python3.x that the Odoo
#                       version supports: 3.10-3.12 for 18.0, 3.10-3.14 for 19.0)
#   PGHOST/PGPORT/PGUSER/PGPASSWORD  use that PostgreSQL server instead of the private cluster
#   EINVOICE_PG_PORT    port of the private cluster (default: a free one from 54329 up)

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
LOCAL="$REPO/.local"
ODOO_VERSION="${ODOO_VERSION:-18.0}"
VENV="" PY="" ODOO_CFG=""  # set by use_odoo_version
LOG_DIR="$LOCAL/logs"
STATE_DIR="$LOCAL/state"
EINVOICE_CACHE="${EINVOICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/einvoice-connectors}"
ODOO=""            # set by find_odoo
PG_STARTED_HERE=0  # set by ensure_pg when this process started the cluster
PG_INITED_HERE=0   # set by ensure_pg when this process created the cluster
TS="$(date +%Y%m%d-%H%M%S)"

mkdir -p "$LOG_DIR" "$STATE_DIR"

# ---------------------------------------------------------------- output helpers
_t_start=0
_t_label=""
say() { printf '%s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# step "label": announce a slow step; step_done closes it with its duration.
step() { _t_label="$*"; _t_start="$(now)"; say "==> $_t_label ..."; }
step_done() { say "    done in $(elapsed "$_t_start")s${1:+ ($1)}"; }
# with_lock NAME cmd...: serialise bootstrap steps between concurrent runs.
with_lock() {
    local name="$1"; shift
    (
        if ! flock -n 9; then
            say "    (waiting for another setup run holding .local/$name.lock ...)"
            flock 9
        fi
        "$@"
    ) 9>"$LOCAL/$name.lock"
}
# quiet LOGNAME cmd...: run cmd with output to a log file, show its tail on failure.
quiet() {
    local log="$LOG_DIR/$1-$TS.log"; shift
    if ! "$@" >"$log" 2>&1; then
        warn "command failed: $*"
        grep -v 'is ignored' "$log" | tail -n 40 >&2 || true
        die "full output in $log"
    fi
}
free_port() {
    # free_port [start]: first free TCP port on 127.0.0.1 from start, or any if no start.
    python3 - "${1:-0}" <<'EOF'
import socket, sys
start = int(sys.argv[1])
for port in ([0] if not start else range(start, start + 500)):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    if not port:
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    print(port)
    break
else:
    sys.exit("no free port")
EOF
}
short_hash() { printf '%s' "$1" | sha256sum | cut -c1-10; }
is_interactive() { [[ -t 0 && -z "${CI:-}" ]]; }

# ---------------------------------------------------------------- Odoo source
# One virtualenv and one Odoo config per Odoo version: .venv and .local/odoo.cfg for 18.0,
# .venv-19.0 and .local/odoo-19.0.cfg for 19.0.
KNOWN_VERSIONS=(18.0 19.0)
use_odoo_version() {
    case "$1" in
        18.0) VENV="$REPO/.venv" ODOO_CFG="$LOCAL/odoo.cfg" ;;
        19.0) VENV="$REPO/.venv-19.0" ODOO_CFG="$LOCAL/odoo-19.0.cfg" ;;
        *) die "Odoo $1 is not supported (ODOO_VERSION must be one of: ${KNOWN_VERSIONS[*]})" ;;
    esac
    ODOO_VERSION="$1"
    PY="$VENV/bin/python"
}
use_odoo_version "$ODOO_VERSION"

# odoo_series DIR: prints "18.0" for an Odoo 18.0 source tree; fails for anything else.
odoo_series() {
    [[ -f "$1/odoo-bin" && -f "$1/odoo/release.py" ]] || return 1
    sed -nE 's/^version_info = \(([0-9]+), ([0-9]+),.*/\1.\2/p' "$1/odoo/release.py"
}

find_odoo() {
    local cached="$EINVOICE_CACHE/odoo-$ODOO_VERSION" series
    if [[ -n "${ODOO_SRC:-}" ]]; then
        series="$(odoo_series "$ODOO_SRC" || true)"
        [[ -n "$series" ]] || die "ODOO_SRC=$ODOO_SRC is not an Odoo source tree (no odoo-bin / odoo/release.py)"
        use_odoo_version "$series"
        ODOO="$(cd "$ODOO_SRC" && pwd -P)"
    elif [[ "$(odoo_series "$cached" || true)" == "$ODOO_VERSION" ]]; then
        ODOO="$cached"
    elif [[ "${1:-}" == offer ]] && is_interactive && command -v git >/dev/null; then
        say "No Odoo $ODOO_VERSION source found (ODOO_SRC unset, nothing in $cached)."
        local answer
        read -r -p "Download the official Odoo $ODOO_VERSION source into $cached (about 1 GB, git clone --depth 1)? [y/N] " answer
        if [[ "$answer" == [yY]* ]]; then
            step "Cloning Odoo $ODOO_VERSION into $cached"
            mkdir -p "$EINVOICE_CACHE"
            rm -rf "$cached.partial"
            git clone -q --depth 1 -b "$ODOO_VERSION" https://github.com/odoo/odoo "$cached.partial"
            mv "$cached.partial" "$cached"
            step_done
            ODOO="$cached"
        fi
    fi
    if [[ -n "$ODOO" ]]; then
        say "Odoo $ODOO_VERSION source: $ODOO"
        return 0
    fi
    return 1
}

# found_odoo_versions: the Odoo versions this machine has (ODOO_SRC's alone when it is set).
found_odoo_versions() {
    if [[ -n "${ODOO_SRC:-}" ]]; then
        odoo_series "$ODOO_SRC" || true
        return 0
    fi
    local v
    for v in "${KNOWN_VERSIONS[@]}"; do
        [[ "$(odoo_series "$EINVOICE_CACHE/odoo-$v" || true)" == "$v" ]] && echo "$v"
    done
    return 0
}

odoo_missing_message() {
    cat <<EOF
No Odoo $ODOO_VERSION source found. Provide it in one of these ways:
  - export ODOO_SRC=/path/to/odoo   (an Odoo 18.0 or 19.0 checkout with odoo-bin)
  - put it in $EINVOICE_CACHE/odoo-$ODOO_VERSION
    e.g. git clone --depth 1 -b $ODOO_VERSION https://github.com/odoo/odoo $EINVOICE_CACHE/odoo-$ODOO_VERSION
  - run setup/run from a terminal (outside CI) and accept the download offer
EOF
}

# ---------------------------------------------------------------- virtualenv
# The newest Python minor version the current Odoo version supports.
max_python_minor() { if [[ "$ODOO_VERSION" == 18.0 ]]; then echo 12; else echo 14; fi; }
python_fits() {
    "$1" -c "import sys, venv; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, $(max_python_minor)))" 2>/dev/null
}
pick_python() {
    local c
    for c in ${EINVOICE_PYTHON:-} python3 python3.14 python3.13 python3.12 python3.11 python3.10; do
        command -v "$c" >/dev/null || continue
        if python_fits "$c"; then
            command -v "$c"
            return 0
        fi
    done
    die "need Python 3.10-3.$(max_python_minor) with the venv module for Odoo $ODOO_VERSION (set EINVOICE_PYTHON)"
}

requirements_hash() {
    {
        "$1" -c 'import sys; print(sys.version)'
        cat "$REPO/requirements.txt" "$REPO/test-requirements.txt" "$REPO/setup/odoo_requirements.py" 2>/dev/null
        if [[ -n "$ODOO" ]]; then cat "$ODOO/requirements.txt"; else echo "no-odoo"; fi
        printf '%s\n' "${EINVOICE_EXTRA_PIP:-}"
    } | sha256sum | cut -d' ' -f1
}

_ensure_venv_locked() {
    local python hash_file="$VENV/.einvoice-requirements.sha256" want have=""
    if [[ -x "$PY" ]] && python_fits "$PY"; then
        python="$PY"
    else
        python="$(pick_python)"
        rm -rf "$VENV"
    fi
    want="$(requirements_hash "$python")"
    [[ -f "$hash_file" ]] && have="$(cat "$hash_file")"
    if [[ "$want" == "$have" ]]; then
        say "==> virtualenv ${VENV#"$REPO"/} is up to date ($("$PY" -V))"
        return 0
    fi
    step "Creating/refreshing virtualenv ${VENV#"$REPO"/} with $("$python" -V) (pip output in .local/logs/pip-$TS.log)"
    [[ -x "$PY" ]] || quiet venv "$python" -m venv "$VENV"
    quiet pip "$PY" -m pip install -q packaging
    local reqs=(-r "$REPO/requirements.txt" -r "$REPO/test-requirements.txt")
    if [[ -n "$ODOO" ]]; then
        "$PY" "$REPO/setup/odoo_requirements.py" "$ODOO/requirements.txt" >"$LOCAL/odoo-pins-$ODOO_VERSION.txt"
        reqs=(-r "$LOCAL/odoo-pins-$ODOO_VERSION.txt" "${reqs[@]}")
    fi
    # shellcheck disable=SC2086
    quiet pip "$PY" -m pip install -q "${reqs[@]}" ${EINVOICE_EXTRA_PIP:-}
    echo "$want" >"$hash_file"
    step_done
}
ensure_venv() { with_lock "venv-$ODOO_VERSION" _ensure_venv_locked; }

# ---------------------------------------------------------------- addons
# Addon folders at the top level of the repo with "installable" not False.
list_addons() {
    python3 - "$REPO" <<'EOF'
import ast, pathlib, sys
for manifest in sorted(pathlib.Path(sys.argv[1]).glob("*/__manifest__.py")):
    try:
        data = ast.literal_eval(manifest.read_text(encoding="utf-8"))
    except (SyntaxError, ValueError) as exc:
        sys.exit(f"cannot read {manifest}: {exc}")
    if data.get("installable", True):
        print(manifest.parent.name)
EOF
}

# Hash of the addons' files that matter for an installed database: everything but
# their tests/ folders and byte code. Test-only edits keep the database reusable.
addons_hash() {
    (
        cd "$REPO"
        printf '%s\n' "$@" "$ODOO"
        (($#)) || exit 0
        find "$@" -type f ! -path '*/tests/*' ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 |
            LC_ALL=C sort -z | xargs -0 -r sha256sum
    ) | sha256sum | cut -d' ' -f1
}

# ---------------------------------------------------------------- PostgreSQL
# After ensure_pg: DB_HOST DB_PORT DB_USER DB_PASSWORD describe the server; psql_ runs a client.
PG_BIN=""
find_pg_bin() {
    local d
    if command -v pg_config >/dev/null && d="$(pg_config --bindir 2>/dev/null)" && [[ -x "$d/initdb" ]]; then
        PG_BIN="$d"
    else
        for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
            [[ -x "$d/initdb" ]] && { PG_BIN="$d"; break; }
        done
    fi
    if [[ -z "$PG_BIN" ]]; then
        command -v initdb >/dev/null && PG_BIN="$(dirname "$(command -v initdb)")"
    fi
    [[ -n "$PG_BIN" ]] || die "PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian package postgresql (apt-get install postgresql)"
}

PG_OS_USER=""
as_pg() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u "$PG_OS_USER" -- "$@"
    else
        "$@"
    fi
}

pg_choose_user_and_dir() {
    if [[ "$(id -u)" == 0 ]]; then
        PG_OS_USER=postgres
        if ! id -u postgres >/dev/null 2>&1; then
            PG_OS_USER=einvoice-pg
            id -u "$PG_OS_USER" >/dev/null 2>&1 ||
                useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_OS_USER"
        fi
        mkdir -p "$LOCAL"
        chmod 755 "$LOCAL" 2>/dev/null || true
        if runuser -u "$PG_OS_USER" -- test -x "$LOCAL" 2>/dev/null; then
            PG_BASE="$LOCAL/pg"
        else
            PG_BASE="/var/tmp/einvoice-connectors/pg-$(short_hash "$REPO")"
            mkdir -p /var/tmp/einvoice-connectors
            chmod 755 /var/tmp/einvoice-connectors
        fi
        mkdir -p "$PG_BASE"
        chown "$PG_OS_USER" "$PG_BASE"
        chmod 700 "$PG_BASE"
    else
        PG_OS_USER="$(id -un)"
        PG_BASE="$LOCAL/pg"
        mkdir -p "$PG_BASE"
    fi
    PGDATA_DIR="$PG_BASE/data"
}

pg_running_port() {
    # prints the port of the running cluster, or fails
    as_pg "$PG_BIN/pg_ctl" status -D "$PGDATA_DIR" >/dev/null 2>&1 || return 1
    sed -n 4p "$PGDATA_DIR/postmaster.pid"
}

_ensure_pg_locked() {
    find_pg_bin
    pg_choose_user_and_dir
    if [[ ! -f "$PGDATA_DIR/PG_VERSION" ]]; then
        step "Initialising a private PostgreSQL cluster in $PGDATA_DIR (as OS user $PG_OS_USER)"
        rm -rf "$PGDATA_DIR"
        echo 1 >"$LOCAL/pg.inited.$$"
        quiet initdb as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U odoo --auth=trust -E UTF8 --locale=C.UTF-8
        cat >>"$PGDATA_DIR/postgresql.conf" <<EOF
# einvoice-connectors private cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
        step_done
    fi
    local port
    if port="$(pg_running_port)"; then
        say "==> PostgreSQL already running on 127.0.0.1:$port ($PGDATA_DIR)"
    else
        port="${EINVOICE_PG_PORT:-$(free_port 54329)}"
        step "Starting PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
        # 9>&-: the server must not inherit the lock's descriptor, or it holds the lock forever.
        quiet pg_ctl as_pg "$PG_BIN/pg_ctl" start -w -t 60 -D "$PGDATA_DIR" \
            -l "$PG_BASE/server.log" -o "-p $port" 9>&-
        echo 1 >"$LOCAL/pg.started.$$"
        step_done "log: $PG_BASE/server.log"
    fi
    printf 'PGDATA_DIR=%q\nPG_BASE=%q\nPG_OS_USER=%q\nPG_BIN=%q\nPORT=%q\n' \
        "$PGDATA_DIR" "$PG_BASE" "$PG_OS_USER" "$PG_BIN" "$port" >"$STATE_DIR/pg.env"
}

ensure_pg() {
    if [[ -n "${PGHOST:-}${PGPORT:-}${PGUSER:-}" ]]; then
        DB_HOST="${PGHOST:-localhost}" DB_PORT="${PGPORT:-5432}"
        DB_USER="${PGUSER:-$(id -un)}" DB_PASSWORD="${PGPASSWORD:-}"
        find_pg_bin 2>/dev/null || true
        say "==> Using the existing PostgreSQL server $DB_USER@$DB_HOST:$DB_PORT (from PGHOST/PGPORT/PGUSER)"
        return 0
    fi
    with_lock pg _ensure_pg_locked
    # shellcheck disable=SC1091
    source "$STATE_DIR/pg.env"
    if [[ -f "$LOCAL/pg.started.$$" ]]; then
        PG_STARTED_HERE=1
        rm -f "$LOCAL/pg.started.$$"
    fi
    if [[ -f "$LOCAL/pg.inited.$$" ]]; then
        PG_INITED_HERE=1
        rm -f "$LOCAL/pg.inited.$$"
    fi
    DB_HOST=127.0.0.1 DB_PORT="$PORT" DB_USER=odoo DB_PASSWORD=""
}

stop_pg() {
    [[ -n "${PGDATA_DIR:-}" ]] || return 0
    say "==> Stopping PostgreSQL ($PGDATA_DIR)"
    as_pg "$PG_BIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast >/dev/null 2>&1 || true
}

# In CI, a cluster created by this run outside the repo (/var/tmp/...) is removed at the
# end so that runs in fresh clones do not pile up data directories.
discard_pg_outside_repo() {
    if [[ "$PG_INITED_HERE" == 1 && -n "${PG_BASE:-}" && "$PG_BASE" == /var/tmp/einvoice-connectors/pg-* ]]; then
        say "==> Removing the CI cluster's data directory $PG_BASE"
        rm -rf "$PG_BASE"
        rm -f "$STATE_DIR/pg.env"
    fi
}

psql_() {
    PGOPTIONS="-c client_min_messages=warning" PGPASSWORD="$DB_PASSWORD" "${PG_BIN:+$PG_BIN/}psql" -X -q -v ON_ERROR_STOP=1 \
        -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d postgres "$@"
}
db_exists() {
    [[ "$(psql_ -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'")" == 1 ]]
}
drop_db() {
    psql_ -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"
    rm -rf "$LOCAL/data/filestore/$1"
}

# ---------------------------------------------------------------- PDF and browser
# Debian packages that a person meets without noticing: invoices print through
# wkhtmltopdf, and Odoo's browser tours need a Chrome. As root (CI, a fresh VM) setup
# installs Debian's packages; otherwise it says exactly what to install.
WKHTMLTOPDF=""
CHROME=""
TOURS_SKIP_REASON=""
_apt_install_locked() {
    local log="$LOG_DIR/apt-$TS.log"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1; then
        # a fresh machine has no package lists yet
        apt-get update -q >>"$log" 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1
    fi
}
# apt_install PKG...: install Debian packages as root; fails quietly elsewhere.
apt_install() {
    [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null || return 1
    with_lock apt _apt_install_locked "$@"
}

ensure_wkhtmltopdf() {
    if ! WKHTMLTOPDF="$(command -v wkhtmltopdf)"; then
        step "Installing Debian's wkhtmltopdf (invoice PDFs; log: .local/logs/apt-$TS.log)"
        if apt_install wkhtmltopdf && WKHTMLTOPDF="$(command -v wkhtmltopdf)"; then
            step_done
        else
            WKHTMLTOPDF=""
            warn "wkhtmltopdf not found: Odoo cannot print invoice PDFs (e-invoices are still sent)."
            warn "Install it: sudo apt-get install wkhtmltopdf, or the patched 0.12.6.1 build for headers and footers."
            return 0
        fi
    fi
    local version
    version="$("$WKHTMLTOPDF" --version 2>/dev/null | head -n1)"
    say "==> wkhtmltopdf: $WKHTMLTOPDF (${version:-version unknown})"
    if [[ "$version" != *"patched qt"* ]]; then
        say "    (an unpatched build: PDFs print without Odoo's header and footer; the patched 0.12.6.1 build prints them)"
    fi
}

ensure_chrome() {
    local b
    for b in google-chrome chromium chromium-browser google-chrome-stable; do
        CHROME="$(command -v "$b")" && break
    done
    if [[ -z "$CHROME" ]]; then
        step "Installing Debian's chromium for the browser tours (log: .local/logs/apt-$TS.log)"
        if apt_install chromium && CHROME="$(command -v chromium)"; then
            step_done
        else
            CHROME=""
            TOURS_SKIP_REASON="no Chrome/Chromium on this machine (install Debian's chromium: sudo apt-get install chromium)"
            warn "$TOURS_SKIP_REASON: the browser tours will be skipped"
            return 0
        fi
    fi
    say "==> browser for tours: $CHROME"
}

# ---------------------------------------------------------------- dependencies template
# Installing Odoo's own modules (account, the charts of accounts ...) is most of a fresh
# tier-2 install. They are installed once per Odoo tree into a template database that every
# fresh test database copies (CREATE DATABASE ... TEMPLATE, filestore included); only the
# repo's addons are installed into the copy.
core_depends() {
    python3 - "$REPO" "$@" <<'PYEOF'
import ast, pathlib, sys
repo = pathlib.Path(sys.argv[1])
ours = {m.parent.name: ast.literal_eval(m.read_text(encoding="utf-8")) for m in repo.glob("*/__manifest__.py")}
todo, seen, core = list(sys.argv[2:]), set(), set()
while todo:
    name = todo.pop()
    if name in seen:
        continue
    seen.add(name)
    if name in ours:
        todo.extend(ours[name].get("depends", []))
    else:
        core.add(name)
print(",".join(sorted(core)))
PYEOF
}

clone_db() {
    # clone_db SRC DST: DST becomes a copy of SRC, its filestore too.
    drop_db "$2"
    psql_ -c "CREATE DATABASE \"$2\" TEMPLATE \"$1\""
    if [[ -d "$LOCAL/data/filestore/$1" ]]; then
        mkdir -p "$LOCAL/data/filestore"
        cp -a "$LOCAL/data/filestore/$1" "$LOCAL/data/filestore/$2"
    fi
}

_ensure_deps_template_locked() {
    local deps="$1" name="$2" partial="$2_partial" log="$LOG_DIR/template-$TS-$2.log" rc=0
    db_exists "$name" && return 0
    step "Template database $name with Odoo's $deps (once per Odoo tree; log: ${log#"$REPO"/})"
    drop_db "$partial"
    local t0
    t0="$(now)"
    set +e
    odoo_bin -d "$partial" --db-filter="^$partial\$" --http-interface=127.0.0.1 --http-port="$(free_port)" \
        --stop-after-init --max-cron-threads=0 --workers=0 -i "$deps" >"$log" 2>&1 &
    local pid=$!
    watch_odoo_log "$log" "$pid" "$t0"
    wait "$pid"
    rc=$?
    set -e
    if ((rc != 0)) || ! grep -q 'odoo.modules.loading: Modules loaded.' "$log" ||
        grep -qE '^[0-9-]{10} [0-9:,]{12} [0-9]+ (ERROR|CRITICAL) ' "$log"; then
        warn "the template database could not be made (exit $rc, log $log): installing everything in the test database"
        drop_db "$partial"
        return 1
    fi
    psql_ -c "ALTER DATABASE \"$partial\" RENAME TO \"$name\""
    if [[ -d "$LOCAL/data/filestore/$partial" ]]; then
        mv "$LOCAL/data/filestore/$partial" "$LOCAL/data/filestore/$name"
    fi
    step_done
}

# fresh_db_from_template DB ADDON...: DB is a copy of the template of the addons' Odoo
# dependencies (made first if missing); fails when no template could be made.
fresh_db_from_template() {
    local db="$1" deps name
    shift
    deps="$(core_depends "$@")"
    [[ -n "$deps" && -z "${EINVOICE_NO_TEMPLATE:-}" ]] || return 1
    name="einvoice_deps_$(short_hash "$ODOO $ODOO_VERSION $deps")"
    with_lock "template-$name" _ensure_deps_template_locked "$deps" "$name" || return 1
    clone_db "$name" "$db"
}

# ---------------------------------------------------------------- Odoo config
addons_path() {
    printf '%s' "$ODOO/odoo/addons,$ODOO/addons,$REPO${EINVOICE_EXTRA_ADDONS:+,$EINVOICE_EXTRA_ADDONS}"
}

write_odoo_cfg() {
    local tmp="$ODOO_CFG.$$"
    cat >"$tmp" <<EOF
; generated by setup/ (overwritten on every run)
[options]
addons_path = $(addons_path)
data_dir = $LOCAL/data
db_host = $DB_HOST
db_port = $DB_PORT
db_user = $DB_USER
db_password = ${DB_PASSWORD:-False}
db_name = ${EINVOICE_DB:-einvoice}
list_db = False
http_interface = 127.0.0.1
http_port = ${EINVOICE_HTTP_PORT:-8069}
admin_passwd = admin
; demo data on every version (19.0 installs none unless told)
without_demo = False
EOF
    mv "$tmp" "$ODOO_CFG"
}

# watch_odoo_log LOG PID T0: while PID runs, print one line per module installed / tested.
watch_odoo_log() {
    local log="$1" pid="$2" t0="$3" last="" cur
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        cur="$(grep -oE 'module [a-z0-9_]+: creating or updating database tables|Starting post tests|odoo\.addons\.[a-z0-9_]+\.tests|HTTP service \(werkzeug\) running' "$log" 2>/dev/null |
            sed -E 's/: creating or updating database tables/: installing/; s/odoo\.addons\.([a-z0-9_]+)\.tests/running tests of \1/' |
            tail -n1 || true)"
        if [[ -n "$cur" && "$cur" != "$last" ]]; then
            say "    ... $cur ($(elapsed "$t0")s)"
            last="$cur"
        fi
    done
}

odoo_bin() { "$PY" "$ODOO/odoo-bin" -c "$ODOO_CFG" "$@"; }

# Full bootstrap shared by run and test: Odoo source, venv, database server, config.
bootstrap() {
    local offer="${1:-}"
    if ! find_odoo "$offer"; then
        ODOO=""
    fi
    ensure_venv
    if [[ -n "$ODOO" ]]; then
        ensure_pg
        write_odoo_cfg
        ensure_wkhtmltopdf
    fi
}
