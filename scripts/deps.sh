#!/usr/bin/env bash
# deps.sh — make sure RabbitMQ and PostgreSQL run on this machine for Hopper.
#
#   1. Both already answer on 127.0.0.1 (5672, 5432)?  Use them.
#   2. A Docker engine runs?  docker compose up RabbitMQ + Postgres.
#   3. Debian/Ubuntu?  Install rabbitmq-server and postgresql from the OS
#      packages if missing, and start them.
# Then: Postgres user postgres/postgres and database "hopper" exist, and the
# RabbitMQ management plugin is enabled. pdftotext (poppler-utils), which
# document.ingest runs to read PDFs, is installed from the OS packages if
# missing. Safe to run again and again.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PG_PORT=5432
AMQP_PORT=5672
PG_URL_ADMIN="postgres://postgres:postgres@127.0.0.1:${PG_PORT}/postgres?sslmode=disable"

log() { echo "deps: $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() {
  if command -v runuser >/dev/null && [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

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
  docker compose -f "$ROOT/deployments/compose/compose.yaml" up -d --wait rabbitmq postgres
}

apt_install() {
  if ! command -v apt-get >/dev/null; then
    log "no Docker engine and no apt-get: install RabbitMQ and PostgreSQL yourself, then run me again"
    exit 1
  fi
  log "installing $* from the OS packages"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
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
  if ! command -v rabbitmq-server >/dev/null; then
    apt_install rabbitmq-server
  fi
  log "starting RabbitMQ"
  as_root rabbitmq-server -detached || true
}

ensure_pdftotext() {
  command -v pdftotext >/dev/null && return 0
  if ! command -v apt-get >/dev/null; then
    log "pdftotext not found and no apt-get: install poppler-utils yourself (PDF ingestion needs it)"
    return 0
  fi
  apt_install poppler-utils
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
  command -v rabbitmq-plugins >/dev/null || return 0
  if as_root rabbitmq-plugins list -e -m 2>/dev/null | grep -qx rabbitmq_management; then
    return 0
  fi
  log "enabling the RabbitMQ management plugin"
  as_root rabbitmq-plugins enable rabbitmq_management >/dev/null 2>&1 || log "could not enable rabbitmq_management (continuing)"
}

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

ensure_pdftotext

wait_port PostgreSQL $PG_PORT 60
wait_port RabbitMQ $AMQP_PORT 120
configure_postgres
enable_management
log "RabbitMQ on 127.0.0.1:$AMQP_PORT, PostgreSQL on 127.0.0.1:$PG_PORT (database hopper) are ready"
