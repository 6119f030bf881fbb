#!/usr/bin/env bash
# Installs the real servers the tests start (redis-server, haproxy, janus, coturn, keepalived; chromium and
# iproute2 for the media tests' browser and the network namespaces), shellcheck, and what the node
# image test builds a Debian 12 root file system with (debootstrap, openssl, systemd-analyze), when missing.
# Runs before `npm test` (the npm "pretest" hook), so a fresh Debian machine needs nothing by hand.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v janus >/dev/null 2>&1 || missing+=(janus)
command -v turnserver >/dev/null 2>&1 || missing+=(coturn)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v keepalived >/dev/null 2>&1 || missing+=(keepalived)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "rtc-ha tests need: ${missing[*]} (installing with apt-get)" >&2
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "cannot install them here: run as root on Debian/Ubuntu, or install ${missing[*]} yourself" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packages start their own services; the tests start private instances on free ports instead.
for service in redis-server haproxy janus coturn keepalived; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$service" >/dev/null 2>&1 || true; fi
done
echo "installed: ${missing[*]}" >&2
