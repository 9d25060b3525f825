#!/usr/bin/env bash
# apt-install.sh [--no-recommends] PACKAGE...: install the Debian packages not yet
# installed, quietly and idempotently (instant when all are there). No service is
# started by maintainer scripts while apt runs (a temporary policy-rc.d refuses
# it): this project starts its own daemons, and hosts may have no systemd.
set -euo pipefail

recommends=()
if [ "${1:-}" = "--no-recommends" ]; then
    recommends=(--no-install-recommends)
    shift
fi
sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "apt-install: must run as root (or have sudo)" >&2; exit 1; }
    sudo_cmd="sudo"
fi

missing=()
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -gt 0 ] || exit 0

echo "apt-install: installing ${missing[*]}"
start=$(date +%s)
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee "$policy" >/dev/null
    $sudo_cmd chmod 755 "$policy"
    added_policy=1
fi
log=$(mktemp)
cleanup() { [ "$added_policy" = 1 ] && $sudo_cmd rm -f "$policy"; rm -f "$log"; return 0; }
trap cleanup EXIT
if ! { $sudo_cmd apt-get update -qq \
       && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${recommends[@]}" "${missing[@]}"; } \
       >"$log" 2>&1; then
    cat "$log" >&2
    echo "apt-install: ERROR: apt-get failed installing: ${missing[*]}" >&2
    exit 1
fi
echo "apt-install: installed in $(( $(date +%s) - start )) s"
