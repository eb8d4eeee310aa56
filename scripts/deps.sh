#!/usr/bin/env bash
# deps.sh — make sure RabbitMQ and PostgreSQL run on this machine for Hopper.
#
#   1. Both already answer on 127.0.0.1 (5672, 5432)?  Use them.
#   2. A Docker engine runs?  docker compose up RabbitMQ + Postgres.
#   3. Debian/Ubuntu?  Install rabbitmq-server and postgresql from the OS
#      packages if missing, and start them.
# Then: Postgres user postgres/postgres and database "hopper" exist, and the
# RabbitMQ management plugin is enabled and answering.
# Also installs from the OS packages, when missing, what `make run` and
# `make test` use: gcc and libc6-dev (go test -race needs cgo), make, git,
# curl, jq, ca-certificates, and poppler-utils (pdftotext, which
# document.ingest runs to read PDFs), and python3, nodejs and npm (the
# SDK tests run sdk/python and sdk/typescript; scripts/sdk.sh builds the
# latter). Go itself (1.26+) is not packaged:
# see https://go.dev/dl. Uses sudo when not root.
# Safe to run again and again: it never stops or restarts a running server.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PG_PORT=5432
AMQP_PORT=5672
PG_URL_ADMIN="postgres://postgres:postgres@127.0.0.1:${PG_PORT}/postgres?sslmode=disable"

log() { echo "deps: $*" >&2; }
# sbin_cmd prints the path of an admin command, also when /usr/sbin (where
# the RabbitMQ packages put theirs) is not on a non-root user's PATH.
sbin_cmd() { command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; }; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    log "not root and no sudo: cannot run '$*'; run me as root, or install sudo"
    exit 1
  fi
}
# as_postgres runs a command as the postgres user from /: that user may not
# enter the current directory (psql would warn it cannot change into it).
as_postgres() (
  cd /
  if command -v runuser >/dev/null && [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
)

wait_port() { # name port seconds
  local i
  for ((i = 0; i < $3 * 2; i++)); do
    port_open "$2" && return 0
    sleep 0.5
  done
  log "$1 did not open 127.0.0.1:$2 within $3s"
  return 1
}

docker_ok() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }

start_with_docker() {
  log "starting RabbitMQ + Postgres with docker compose (just those two services of the stack)"
  # Compose reads the whole file, whose services require an admin token;
  # these two never use it.
  HOPPER_ADMIN_TOKEN="${HOPPER_ADMIN_TOKEN:-deps-only-unused-by-rabbitmq-and-postgres}" \
    docker compose -f "$ROOT/deployments/compose/compose.yaml" up -d --wait rabbitmq postgres
}

apt_install() {
  if ! command -v apt-get >/dev/null; then
    log "no apt-get (not Debian/Ubuntu): install $* yourself, then run me again"
    exit 1
  fi
  log "installing $* from the OS packages"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# ensure_tools installs, in one go, the packages whose command (or files)
# `make run` and `make test` need and this machine lacks.
ensure_tools() {
  local missing=() cmd_pkg cmd pkg
  for cmd_pkg in gcc:gcc make:make git:git curl:curl jq:jq pdftotext:poppler-utils python3:python3 node:nodejs npm:npm; do
    cmd="${cmd_pkg%%:*}" pkg="${cmd_pkg#*:}"
    command -v "$cmd" >/dev/null || missing+=("$pkg")
  done
  if command -v dpkg-query >/dev/null; then
    pkg_installed libc6-dev || missing+=(libc6-dev)             # C headers for cgo (go test -race)
    pkg_installed ca-certificates || missing+=(ca-certificates) # TLS to the Go module proxy
  fi
  [ ${#missing[@]} = 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    log "missing: ${missing[*]} (package names as on Debian); install them yourself: make test needs them"
    return 0
  fi
  apt_install "${missing[@]}"
}

check_go() {
  if ! command -v go >/dev/null; then
    log "Go is not installed: install Go 1.26+ from https://go.dev/dl (not packaged by Debian/Ubuntu)"
    return 0
  fi
  if [ "$(go env CGO_ENABLED 2>/dev/null)" != 1 ]; then
    log "go env CGO_ENABLED is not 1: go test -race (make test) needs cgo; unset CGO_ENABLED or set it to 1"
  fi
}

start_postgres_local() {
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
  fi
  local ver
  ver="$(ls /etc/postgresql | sort -V | tail -1)"
  log "starting PostgreSQL $ver"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
}

start_rabbitmq_local() {
  if ! sbin_cmd rabbitmq-server >/dev/null; then
    apt_install rabbitmq-server
  fi
  log "starting RabbitMQ"
  as_root "$(sbin_cmd rabbitmq-server)" -detached || true
}

configure_postgres() {
  if ! command -v psql >/dev/null; then
    return 0 # docker path: the container made user and database
  fi
  if ! psql "$PG_URL_ADMIN" -qtAc 'select 1' >/dev/null 2>&1; then
    log "setting the postgres user's password (local socket)"
    as_postgres psql -qtAc "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
  fi
  if [ "$(psql "$PG_URL_ADMIN" -qtAc "select 1 from pg_database where datname = 'hopper'")" != 1 ]; then
    log "creating database hopper"
    psql "$PG_URL_ADMIN" -qtAc 'CREATE DATABASE hopper' >/dev/null
  fi
}

enable_management() {
  port_open 15672 && return 0 # management already listening
  local plugins
  plugins="$(sbin_cmd rabbitmq-plugins)" || return 0 # docker path: the image enables it
  if as_root "$plugins" list -e -m 2>/dev/null | grep -qx rabbitmq_management; then
    return 0
  fi
  log "enabling the RabbitMQ management plugin"
  if as_root "$plugins" enable rabbitmq_management >/dev/null 2>&1; then
    wait_port "the RabbitMQ management plugin" 15672 60 || true
  else
    log "could not enable rabbitmq_management (continuing)"
  fi
}

ensure_tools
check_go

need_pg=1; need_amqp=1
port_open $PG_PORT && need_pg=0
port_open $AMQP_PORT && need_amqp=0

if [ $need_pg = 1 ] || [ $need_amqp = 1 ]; then
  if docker_ok; then
    start_with_docker
  else
    [ $need_pg = 1 ] && start_postgres_local
    [ $need_amqp = 1 ] && start_rabbitmq_local
  fi
fi

wait_port PostgreSQL $PG_PORT 60
wait_port RabbitMQ $AMQP_PORT 120
configure_postgres
enable_management
log "RabbitMQ on 127.0.0.1:$AMQP_PORT, PostgreSQL on 127.0.0.1:$PG_PORT (database hopper) are ready"
