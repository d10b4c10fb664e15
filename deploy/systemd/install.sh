#!/usr/bin/env bash
# Installs the concert ticketing stack as systemd services on one Debian server (docs/deploy.md).
#
# Usage: deploy/systemd/install.sh BIN_DIR [ROOT]
#   BIN_DIR  the build output holding the five executables and the gateway's resource bundle
#            (for example .build/release, after `swift build -c release`)
#   ROOT     install below this folder instead of / (a staging tree, or deploy/systemd/check.sh);
#            empty or / means a real install: it must run as root and ends with daemon-reload.
#
# What goes where (below ROOT):
#   /opt/concert-ticketing/bin/{gateway,queue,concert,payment,reservation}
#   /opt/concert-ticketing/bin/concert-ticketing_GatewayService.resources/   (the gateway needs it)
#   /etc/systemd/system/concert-ticketing*.{service,target,timer}
#   /etc/concert-ticketing/stack.env     (from stack.env.example, only if there is none yet)
#   /usr/share/doc/concert-ticketing/deploy.md   (the units' Documentation=, when docs/ has it)
# Running services keep their old executables until restarted: systemctl restart concert-ticketing.target
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
  echo "usage: $0 BIN_DIR [ROOT]" >&2
  exit 2
fi
bin_dir=$1
root=${2:-}
root=${root%/}   # "/" and "" both mean the real system
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

services=(queue concert payment reservation gateway)
bundle=concert-ticketing_GatewayService.resources
units=(
  concert-ticketing.target
  concert-ticketing-queue.service
  concert-ticketing-concert.service
  concert-ticketing-payment.service
  concert-ticketing-reservation.service
  concert-ticketing-gateway.service
  concert-ticketing-backup@.service
  concert-ticketing-backup@.timer
)

# Refuse before copying anything.
for name in "${services[@]}"; do
  if [ ! -f "$bin_dir/$name" ] || [ ! -x "$bin_dir/$name" ]; then
    echo "install.sh: $bin_dir/$name is missing or not executable; build first (swift build -c release)" >&2
    exit 1
  fi
done
if [ ! -d "$bin_dir/$bundle" ]; then
  echo "install.sh: $bin_dir/$bundle is missing (the gateway will not start without it); build first" >&2
  exit 1
fi
for unit in "${units[@]}" stack.env.example; do
  if [ ! -f "$here/$unit" ]; then
    echo "install.sh: $here/$unit is missing; run this script from a complete checkout" >&2
    exit 1
  fi
done
if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: a real install (no ROOT) must run as root, for example: sudo $0 $bin_dir" >&2
  exit 1
fi

# Executables. install(1) replaces each file by a new one (it unlinks the old first), so a running
# service keeps running its old copy, never a half-written one.
bin="$root/opt/concert-ticketing/bin"
install -d -m 0755 "$root/opt/concert-ticketing" "$bin"
for name in "${services[@]}"; do
  install -m 0755 "$bin_dir/$name" "$bin/$name"
done

# The gateway's resource bundle: a fresh copy next to the gateway, readable by the services'
# transient users (the gateway reads it once at start).
rm -rf "$bin/$bundle.new"
cp -RH "$bin_dir/$bundle" "$bin/$bundle.new"   # -H: BIN_DIR may hold symlinks
chmod -R u=rwX,go=rX "$bin/$bundle.new"
rm -rf "${bin:?}/$bundle"
mv "$bin/$bundle.new" "$bin/$bundle"

# Units.
for unit in "${units[@]}"; do
  install -D -m 0644 "$here/$unit" "$root/etc/systemd/system/$unit"
done

# Settings: never overwrite what the operator has written. Root-only, as it may hold ADMIN_TOKEN.
install -d -m 0755 "$root/etc/concert-ticketing"
if [ ! -e "$root/etc/concert-ticketing/stack.env" ]; then
  install -m 0600 "$here/stack.env.example" "$root/etc/concert-ticketing/stack.env"
  echo "install.sh: wrote $root/etc/concert-ticketing/stack.env (every setting at its default)"
else
  echo "install.sh: kept the existing $root/etc/concert-ticketing/stack.env (see $here/stack.env.example for new settings)"
fi

# The page the units' Documentation= names, when this checkout has it.
if [ -f "$here/../../docs/deploy.md" ]; then
  install -D -m 0644 "$here/../../docs/deploy.md" "$root/usr/share/doc/concert-ticketing/deploy.md"
fi

echo "install.sh: installed into $root/opt/concert-ticketing/bin and $root/etc/systemd/system"
if [ -n "$root" ]; then
  exit 0
fi

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
else
  echo "install.sh: systemd is not running here; run 'systemctl daemon-reload' once it is" >&2
fi
cat <<'EOF'
Next:
  systemctl enable --now concert-ticketing.target      # start now and at every boot
  systemctl restart concert-ticketing.target           # after an upgrade: run the new executables
  systemctl enable --now concert-ticketing-backup@{queue,concert,payment,reservation}.timer   # daily backups (optional)
EOF
