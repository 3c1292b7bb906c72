#!/bin/sh
# The reference: what an operator types by hand to run one command in a disk image's chroot
# (root on partition 2, /boot on partition 1), then takes it all down again.
set -e
image=$1
mnt=$(mktemp -d /run/bench-reference.XXXXXX)
loop=$(losetup --find --show --partscan "$image")
partx -u "$loop" 2>/dev/null || true
mount -o ro "${loop}p2" "$mnt"
mount -o ro "${loop}p1" "$mnt/boot"
mount -t proc proc "$mnt/proc"
mount -t sysfs sys "$mnt/sys"
mount -t devtmpfs udev "$mnt/dev"
mount -t devpts devpts "$mnt/dev/pts"
mount -t tmpfs run "$mnt/run"
chroot "$mnt" true
umount "$mnt/run" "$mnt/dev/pts" "$mnt/dev" "$mnt/sys" "$mnt/proc" "$mnt/boot" "$mnt"
losetup --detach "$loop"
rmdir "$mnt"
