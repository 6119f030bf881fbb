#!/usr/bin/env bash
# Runs a command inside a network namespace made for this run, then removes it whatever happens.
#
#   bash scripts/netns-run.sh <command> [args...]
#
# Janus never gathers ICE candidates on loopback and Chromium ignores loopback too, so media tests
# need a real interface address; a private namespace gives them one without touching the machine's
# network. Inside: `lo` plus a veth pair, both ends here (10.77.0.1/24 and 10.77.0.2/24), no route
# out. The command and everything it starts (jest, redis-server, HAProxy, nodes, Janus, Chromium)
# live in it and see RTC_TEST_ICE_ADDRESS (the address media servers gather on) and RTC_TEST_NETNS,
# and a TMPDIR of their own, removed with the namespace (a killed browser leaves files behind).
# Needs root (`ip netns add`); without it this fails loudly rather than skip the media tests.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: bash scripts/netns-run.sh <command> [args...]" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "netns-run: the media tests run in a network namespace and creating one needs root;" \
    "run as root (CI does), e.g. sudo -E npm run test:media" >&2
  exit 1
fi
if ! command -v ip >/dev/null 2>&1; then
  echo "netns-run: 'ip' (iproute2) is missing: bash scripts/ensure-test-deps.sh installs it" >&2
  exit 1
fi

ns="rtcha-test-$$-$RANDOM"
ice_address=10.77.0.1
peer_address=10.77.0.2
run_tmp=

# Processes still in the namespace (a crashed test's Janus or Chromium) would keep it alive after
# `ip netns del`; end them first: TERM, up to 5 s of grace, then KILL.
# shellcheck disable=SC2317 # reached through the EXIT trap
cleanup() {
  local pids tries=50
  while pids=$(ip netns pids "$ns" 2>/dev/null) && [ -n "$pids" ] && [ "$tries" -gt 0 ]; do
    # shellcheck disable=SC2086 # one PID per word
    kill -TERM $pids 2>/dev/null || true
    sleep 0.1
    tries=$((tries - 1))
  done
  if pids=$(ip netns pids "$ns" 2>/dev/null) && [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
  fi
  ip netns del "$ns" 2>/dev/null || true
  if [ -n "$run_tmp" ]; then rm -rf -- "$run_tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/$ns.XXXXXX")
started=$(date +%s%N)
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add rtc0 type veth peer name rtc1
ip -n "$ns" addr add "$ice_address/24" dev rtc0
ip -n "$ns" addr add "$peer_address/24" dev rtc1
ip -n "$ns" link set rtc0 up
ip -n "$ns" link set rtc1 up
setup_ms=$((($(date +%s%N) - started) / 1000000))
echo "netns-run: namespace $ns up in ${setup_ms} ms (ICE address $ice_address)" >&2

# In the background so a signal reaches our traps at once instead of after the command ends.
TMPDIR=$run_tmp RTC_TEST_ICE_ADDRESS=$ice_address RTC_TEST_NETNS=$ns RTC_TEST_NETNS_SETUP_MS=$setup_ms \
  ip netns exec "$ns" "$@" &
child=$!
status=0
wait "$child" || status=$?
exit "$status"
