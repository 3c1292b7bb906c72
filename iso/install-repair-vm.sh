#!/usr/bin/env bash
# Install rescuetui on a stock cloud repair VM (Debian/Ubuntu or RHEL-family), as root:
#   bash iso/install-repair-vm.sh            (from a checkout of this repository)
# It installs the tools the fixes drive and a Python environment in /opt/rescuetui, and links
# /usr/local/bin/rescuetui. Then attach the copy of the broken OS disk and run `rescuetui`: the
# repair VM's own disks are never offered; a disk that is a copy of the VM's own image (same
# XFS UUID) is mounted with nouuid.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
if command -v apt-get >/dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        python3 python3-venv python3-dev gcc pkg-config libblkid-dev util-linux fdisk \
        e2fsprogs xfsprogs dosfstools btrfs-progs cryptsetup-bin lvm2 mdadm kmod psmisc
elif command -v dnf >/dev/null; then
    dnf install -y python3 python3-devel gcc pkgconf-pkg-config libblkid-devel util-linux \
        e2fsprogs xfsprogs dosfstools cryptsetup lvm2 mdadm kmod psmisc
else
    echo "install-repair-vm: neither apt-get nor dnf found; install python3 (3.11+), a C" \
         "compiler and the libblkid headers by hand, then: python3 -m venv /opt/rescuetui &&" \
         "/opt/rescuetui/bin/pip install $HERE" >&2
    exit 1
fi
python3 -m venv /opt/rescuetui
/opt/rescuetui/bin/pip install -q --upgrade pip
/opt/rescuetui/bin/pip install -q "$HERE"
/opt/rescuetui/bin/python -m compileall -q /opt/rescuetui
ln -sf /opt/rescuetui/bin/rescuetui /usr/local/bin/rescuetui
echo "rescuetui installed: run \`rescuetui\` (the guided TUI) or \`rescuetui scan\`."
