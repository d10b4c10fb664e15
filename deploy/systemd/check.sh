#!/usr/bin/env bash
# Offline check of the systemd units in deploy/systemd, needing no running systemd (make test runs
# it through a Swift test). It installs with install.sh into a temporary root, runs
# `systemd-analyze verify` on every unit, then `systemd-analyze security --offline=true` on every
# service, and prints one line per unit.
#
# Usage: deploy/systemd/check.sh BIN_DIR      (BIN_DIR as for install.sh, e.g. .build/release)
# Exit:  0 all good; 1 a check failed (the reasons are on stderr); 2 usage;
#        77 skipped (no usable systemd-analyze), with a one-line reason on stderr.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 BIN_DIR" >&2
  exit 2
fi
bin_dir=$1

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "check.sh: skipped: systemd-analyze is not installed (Debian package systemd)" >&2
  exit 77
fi
# `security --offline=` and `verify --recursive-errors=` came with systemd 250.
version=$(systemd-analyze --version | sed -n '1s/^systemd \([0-9][0-9]*\).*/\1/p')
if [ -z "$version" ] || [ "$version" -lt 250 ]; then
  echo "check.sh: skipped: systemd-analyze ${version:-of unknown version} is older than 250 (no security --offline)" >&2
  exit 77
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The most exposure `systemd-analyze security` may score (0.0 = locked down, 10.0 = fully exposed),
# in tenths: --threshold= takes a whole number on that scale times ten (its default, 100, is 10.0;
# "--threshold=1.2" is refused: "Failed to parse threshold").
# systemd 252 scores the units as shipped: each backend 1.1, the gateway 1.0, each backup 0.3.
# What is left: AF_UNIX and loopback-only AF_INET/AF_INET6 sockets (and AF_NETLINK for the backends,
# which libzmq needs), sched_setscheduler (libzmq again), the host's network namespace and root,
# the read access to /dev/rtc that ProtectClock= leaves. Each threshold is the unit's score plus 0.1,
# the smallest step the score takes: dropping RestrictAddressFamilies=, RestrictNamespaces=,
# SystemCallFilter=, CapabilityBoundingSet= (or, from the backup, PrivateNetwork=) goes over it.
# The score is coarse (dropping PrivateUsers= alone adds 0.1), so the sandbox lines themselves are
# also required one by one below; and another systemd version may score a little differently: the
# failure lists what it found exposed.
threshold_of() {
  case $1 in
    concert-ticketing-gateway.service) echo 11 ;;   # 1.1
    concert-ticketing-backup@*) echo 4 ;;           # 0.4
    *) echo 12 ;;                                   # 1.2, the backends
  esac
}

# Every service and the backup keep this sandbox (systemd.exec(5)); what differs between them
# (RestrictAddressFamilies=, PrivateNetwork=, IPAddressAllow=) is required per unit below.
sandbox=(
  "DynamicUser=yes" "UMask=0077" "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes"
  "PrivateDevices=yes" "PrivateMounts=yes" "PrivateUsers=yes" "NoNewPrivileges=yes"
  "ProtectKernelTunables=yes" "ProtectKernelModules=yes" "ProtectKernelLogs=yes"
  "ProtectControlGroups=yes" "ProtectClock=yes" "ProtectHostname=yes" "ProtectProc=invisible"
  "ProcSubset=pid" "RestrictNamespaces=yes" "RestrictRealtime=yes" "RestrictSUIDSGID=yes"
  "RemoveIPC=yes" "LockPersonality=yes" "MemoryDenyWriteExecute=yes" "SystemCallArchitectures=native"
  "SystemCallFilter=@system-service" "SystemCallFilter=~@privileged @resources"
  "SystemCallErrorNumber=EPERM" "CapabilityBoundingSet=" "AmbientCapabilities=" "DevicePolicy=closed"
  "KeyringMode=private" "IPAddressDeny=any"
)

backends=(queue concert payment reservation)
services=("${backends[@]}" gateway)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
units=$tmp/units
mkdir "$units"

if ! "$here/install.sh" "$bin_dir" "$root" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log" >&2
  echo "check.sh: install.sh $bin_dir failed" >&2
  exit 1
fi

failures=0
fail() {
  echo "check.sh: $*" >&2
  failures=$((failures + 1))
}

# What install.sh must have produced, beyond the units.
[ -d "$root/opt/concert-ticketing/bin/concert-ticketing_GatewayService.resources" ] ||
  fail "install.sh did not install the gateway's resource bundle beside it"
if [ "$(stat -c %a "$root/etc/concert-ticketing/stack.env")" != 600 ]; then
  fail "install.sh did not make /etc/concert-ticketing/stack.env root-only (0600)"
fi
if grep -Eqv '^[[:space:]]*(#.*)?$' "$here/stack.env.example"; then
  fail "stack.env.example sets something: every setting there must stay commented out (defaults)"
fi
if grep -Eq '^[#[:space:]]*DATA_DIR=' "$here/stack.env.example"; then
  fail "stack.env.example offers DATA_DIR=, which the units refuse (each service has its own folder)"
fi

# The conventions the docs promise, which systemd-analyze cannot know about, and the sandbox. Two
# lines keep the services alive and so would never show in the score: libzmq aborts without
# sched_setscheduler, and the backends' libzmq without AF_NETLINK (see the units' comments).
require() {
  local file=$1 line
  shift
  for line in "$@"; do
    grep -qxF -- "$line" "$root/etc/systemd/system/$file" || fail "$file lacks the line $line"
  done
}
for file in "${services[@]/#/concert-ticketing-}" concert-ticketing-backup@; do
  require "$file.service" "${sandbox[@]}" "SystemCallFilter=sched_setscheduler"
done
for name in "${backends[@]}"; do
  require "concert-ticketing-$name.service" "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK" \
    "IPAddressAllow=localhost"
done
require concert-ticketing-gateway.service "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" "IPAddressAllow=localhost"
require concert-ticketing-backup@.service "RestrictAddressFamilies=AF_UNIX" "PrivateNetwork=yes"
for name in "${services[@]}"; do
  expected=(
    "Type=notify" "NotifyAccess=main" "ExecStart=/opt/concert-ticketing/bin/$name serve"
    "EnvironmentFile=-/etc/concert-ticketing/stack.env" "TimeoutStopSec=20"
    "Restart=on-failure" "RestartSec=1" "PartOf=concert-ticketing.target" "WantedBy=concert-ticketing.target"
  )
  if [ "$name" != gateway ]; then
    expected+=("StateDirectory=concert-ticketing/$name" "Environment=DATA_DIR=%S/concert-ticketing/$name")
  fi
  require "concert-ticketing-$name.service" "${expected[@]}"
  grep -qE "^Wants=.*concert-ticketing-$name\.service" "$root/etc/systemd/system/concert-ticketing.target" ||
    fail "concert-ticketing.target does not want concert-ticketing-$name.service"
done

# How verify finds the executables: `systemd-analyze verify` insists that every Exec*= command
# exists and is executable. Its --root= (v252) does resolve those commands inside the root, but it
# also takes the unit search path from there, so systemd's own units (sysinit.target, ...) and
# /bin/sh (the ExecStartPre= check) would be "not found" unless copied into the root as well.
# Instead, verify copies of the installed units in which only the leading /opt/concert-ticketing/
# of each Exec*= command is rewritten to the temporary root's: the executables are the ones
# install.sh just put there, everything else (/bin/sh, sysinit.target, network.target) is the
# host's. A unit naming a missing executable or a path outside /opt/concert-ticketing still fails.
# The templates are verified through instance-named copies, as systemd would load an instance.
root_sed=$(printf '%s' "$root" | sed 's/[\\&#]/\\&/g')
rewrite() {
  sed -E "s#^(Exec[A-Za-z]+=[-+@:!]*)/opt/concert-ticketing/#\\1$root_sed/opt/concert-ticketing/#" "$1" >"$2"
}
for file in "$root"/etc/systemd/system/*; do
  name=${file##*/}
  case $name in
    *@.service | *@.timer)
      for backend in "${backends[@]}"; do
        rewrite "$file" "$units/${name/@./@$backend.}"
      done
      ;;
    *) rewrite "$file" "$units/$name" ;;
  esac
done

# verify prints nothing for a sound unit. Plain verify exits 0 on warnings such as an unknown
# directive ("Unknown key 'ProtectHom' in section [Service], ignoring."); --recursive-errors=no makes
# it exit 1 on warnings about the unit given (not about systemd's own units it pulls in). On top of
# that, any line naming these units is a failure; lines about other units (on a host whose own units
# have problems) are shown but do not count. In a container without a running systemd,
# systemd 252 prints nothing extra: verify loads the units itself, without asking PID 1.
verify() {
  local unit=$1 output line status=0
  output=$(systemd-analyze verify --man=no --recursive-errors=no "$units/$unit" 2>&1) || status=$?
  while IFS= read -r line; do
    case $line in
      "") ;;
      *concert-ticketing*) status=1; echo "  $line" >&2 ;;
      *) echo "  (not about these units) $line" >&2 ;;
    esac
  done <<<"$output"
  return "$status"
}

# security --offline=true scores the unit file it is given (no PID 1 needed) and exits non-zero when
# the overall exposure is above --threshold=; the score is its "Overall exposure level" line.
# Sets $score.
exposure() {
  local unit=$1 threshold=$2 output status=0 limit
  limit=$((threshold / 10)).$((threshold % 10))
  output=$(systemd-analyze security --offline=true --threshold="$threshold" "$units/$unit" 2>&1) || status=$?
  score=$(printf '%s\n' "$output" | sed -n 's/^.*Overall exposure level for .*: \([0-9][0-9.]*\).*$/\1/p')
  if [ -z "$score" ]; then
    printf '%s\n' "$output" | sed 's/^/  /' >&2
    score="?"
    fail "$unit: systemd-analyze security printed no exposure level"
  elif [ "$status" -ne 0 ]; then
    # What is left exposed, to show which setting went missing.
    printf '%s\n' "$output" | grep -E '^(✗|- )' | sed 's/^/  /' >&2 || true   # "-" in the C locale
    fail "$unit: exposure $score is above the threshold $limit"
  fi
}

# report UNIT [scored]: verify, and with "scored" also the exposure; one summary line.
report() {
  local unit=$1 scored=${2:-} result threshold
  if verify "$unit"; then
    result="verify ok"
  else
    fail "$unit: systemd-analyze verify found problems (above)"
    result="verify FAILED"
  fi
  if [ -n "$scored" ]; then
    threshold=$(threshold_of "$unit")
    exposure "$unit" "$threshold"
    result="$result, exposure $score (threshold $((threshold / 10)).$((threshold % 10)))"
  fi
  echo "$unit: $result"
}

report concert-ticketing.target
for name in "${services[@]}"; do
  report "concert-ticketing-$name.service" scored
done
for backend in "${backends[@]}"; do
  report "concert-ticketing-backup@$backend.service" scored
  report "concert-ticketing-backup@$backend.timer"
done

if [ "$failures" -ne 0 ]; then
  echo "check.sh: $failures problem(s) in deploy/systemd" >&2
  exit 1
fi
echo "check.sh: all units sound"
