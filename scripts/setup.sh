#!/usr/bin/env bash
# Installs what homing's tests and demo need on a fresh Debian machine: the Debian packages of
# the real servers the tests run (OpenLDAP, Dovecot, PostgreSQL, MariaDB) and the npm
# dependencies. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

need_node="20.19.0"
have_node="$(node -p 'process.versions.node')"
if [ "$(printf '%s\n%s\n' "$need_node" "$have_node" | sort -V | head -n1)" != "$need_node" ]; then
  echo "homing needs Node.js >= $need_node (found $have_node)" >&2
  exit 1
fi

# program -> Debian package
declare -A programs=(
  [slapd]=slapd
  [ldapsearch]=ldap-utils
  [dovecot]=dovecot-core
  [curl]=curl
  [openssl]=openssl
  [postfix]=postfix
  [redis-server]=redis-server
  [sieve-connect]=sieve-connect
  [pg_ctlcluster]=postgresql
  [mariadbd]=mariadb-server
  [mariadb]=mariadb-client
  [promtool]=prometheus
  # the kernel relay (packages/proxy-core/native) is built with it
  [gcc]=gcc
)
# Dovecot's protocol binaries have no program on PATH; check their files.
declare -A files=(
  [/usr/lib/dovecot/imap]=dovecot-imapd
  [/usr/lib/dovecot/pop3]=dovecot-pop3d
  [/usr/lib/dovecot/lmtp]=dovecot-lmtpd
  [/usr/lib/dovecot/submission]=dovecot-submissiond
  [/usr/lib/dovecot/managesieve]=dovecot-managesieved
  [/usr/lib/dovecot/modules/lib90_sieve_plugin.so]=dovecot-sieve
)

missing=()
for program in "${!programs[@]}"; do
  command -v "$program" >/dev/null 2>&1 || [ -x "/usr/sbin/$program" ] || missing+=("${programs[$program]}")
done
for file in "${!files[@]}"; do
  [ -e "$file" ] || missing+=("${files[$file]}")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "homing's tests need these Debian packages: ${missing[*]}" >&2
    echo "install them as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix asks what kind of mail system this is: none. The tests run their own instances.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# npm ci when node_modules is missing or older than the lock file: it installs exactly what the
# lock file names (every platform's optional packages are listed, npm picks this one's) and fails
# when package.json and the lock file disagree.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
