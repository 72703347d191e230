#!/bin/sh
# One-command kernel rollback: `sh rollback.sh HOST`, run on HOST itself.
#
# Boots the host back into the kernel it ran before the upgrade. The previous kernel
# stays installed during the upgrade, so this is fast; if it is missing, the host has
# to be rebuilt from its pre-upgrade image, and the script says so and fails.
#
# The host name is a guard against running the rollback on the wrong machine.
# Exit codes: 0 reboot scheduled into the previous kernel, 1 cannot roll back here,
# 2 usage error.
set -eu

if [ "$#" -ne 1 ]; then
    echo "usage: sh rollback.sh HOST" >&2
    exit 2
fi
target=$1
here=$(hostname -s)
if [ "$target" != "$here" ]; then
    echo "rollback.sh: asked to roll back $target but this is $here; refusing" >&2
    exit 2
fi

# Written by the backup step before the upgrade (see backup_config in the runbooks);
# the most recently written one belongs to the current upgrade.
manifest=$(ls -1t /var/backups/pre-upgrade-*/kernel.txt 2>/dev/null | head -n 1)
if [ -z "$manifest" ]; then
    echo "rollback.sh: no pre-upgrade kernel recorded on $here; rebuild it from its image" >&2
    exit 1
fi
previous=$(cat "$manifest")
image=/boot/vmlinuz-$previous
if [ ! -e "$image" ]; then
    echo "rollback.sh: kernel $previous is no longer installed on $here; rebuild it from its image" >&2
    exit 1
fi

logger -t kernel-rollback "host=$here rolling back to $previous"
grubby --set-default "$image"
echo "rollback.sh: $here will boot $previous; rebooting in 5 seconds"
systemd-run --on-active=5 systemctl reboot
