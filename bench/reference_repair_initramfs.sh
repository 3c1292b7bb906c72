#!/bin/sh
# The reference: what an operator types by hand to rebuild a deleted initramfs on a disk image
# (root on partition 2, /boot on partition 1), the way vendor guides describe a chroot repair:
# mount the root and its fstab tree, bind the kernel's filesystems in, depmod and
# update-initramfs for the kernel that panicked, then take it all down again.
set -e
image=$1
mnt=$(mktemp -d /run/bench-repair.XXXXXX)
loop=$(losetup --find --show --partscan "$image")
partx -u "$loop" 2>/dev/null || true
mount "${loop}p2" "$mnt"
mount "${loop}p1" "$mnt/boot"
mount -t proc proc "$mnt/proc"
mount -t sysfs sys "$mnt/sys"
mount --bind /dev "$mnt/dev"
mount --bind /dev/pts "$mnt/dev/pts"
mount -t tmpfs run "$mnt/run"
# The kernel the panic named: here the only one installed.
version=$(ls "$mnt/lib/modules" | sort -V | tail -n 1)
chroot "$mnt" depmod -a "$version"
chroot "$mnt" update-initramfs -u -k "$version"
test -s "$mnt/boot/initrd.img-$version"
umount "$mnt/run" "$mnt/dev/pts" "$mnt/dev" "$mnt/sys" "$mnt/proc" "$mnt/boot" "$mnt"
losetup --detach "$loop"
rmdir "$mnt"
