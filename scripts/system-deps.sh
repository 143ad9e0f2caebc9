#!/usr/bin/env bash
# Installs the Debian packages the integration tests and benchmarks start for real
# (MariaDB, PostgreSQL, Redis, pt-query-digest, pgBadger) when they are missing. Idempotent.
set -euo pipefail
want=(mariadb-server mariadb-client percona-toolkit postgresql redis-server pgbadger default-jdk-headless maven)
missing=()
for p in "${want[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# a JDK / maven already on PATH (the machine's own) is as good as Debian's
if command -v java >/dev/null 2>&1; then missing=("${missing[@]/default-jdk-headless}"); fi
if command -v mvn >/dev/null 2>&1; then missing=("${missing[@]/maven}"); fi
read -r -a missing <<< "${missing[*]:-}"
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing Debian packages: ${missing[*]} (run as root or install them)" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the services on install; the tests start their own private instances.
for s in mariadb redis-server postgresql; do
  (service "$s" stop || true) >/dev/null 2>&1
done
