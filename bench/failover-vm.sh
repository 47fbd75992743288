#!/usr/bin/env bash
# Builds the VM bench/failover.ts boots: ../shared/tools/linux-vm with what iscsid and multipathd need
# beyond the base image (as root, about a minute):
#   - libisns0, libssl3: iscsid's libraries (without them iscsid does not start);
#   - libmultipath, libmpathutil, libmpathcmd, libmpathpersist: in Debian's /lib, which build.sh's
#     library copy does not search (they land in the guest's /sbin; the guest script links them);
#   - libgcc_s.so.1: multipathd's threads need it for pthread_cancel.
#   usage: bench/failover-vm.sh [OUTDIR]     (default /tmp/linux-vm-failover)
set -euo pipefail
OUT=${1:-/tmp/linux-vm-failover}
HERE=$(cd "$(dirname "$0")" && pwd)
TOOL=${LINUX_VM_TOOL:-$HERE/../../shared/tools/linux-vm}
[ -x "$TOOL/build.sh" ] || TOOL=/work/shared/tools/linux-vm
EXTRA_DEBS="libisns0 libssl3 libgcc-s1" \
EXTRA_BINS="lib/libmultipath.so.0 lib/libmpathutil.so.0 lib/libmpathcmd.so.0 lib/libmpathpersist.so.0 lib/x86_64-linux-gnu/libgcc_s.so.1" \
  "$TOOL/build.sh" "$OUT"
