#!/bin/sh
# Guest script for test/integration/alua-multipath.test.ts (runs in ../shared/tools/linux-vm as
# /guest.sh): logs in to one LU through two TPGs (tpg1 on $G_p1, tpg2 on $G_p2), assembles them with
# dm-multipath (prio alua, group_by_prio), writes through the map and reports which path carried
# the IO; writes the marker PORTICO-SWAP-NOW at LBA 8192 (the host's own initiator polls for it: the
# console's output reaches the host only at the end) and waits until the host has swapped the ALUA
# states (tpg2's group Active/Optimized in REPORT TARGET PORT GROUPS), reloads the map and writes again.
mkdir -p /etc/multipath /run/multipathd /run/udev
# build.sh with EXTRA_BINS="lib/libmultipath.so.0 ..." puts multipath-tools' libraries (in /lib of the deb) next to the tools.
export LD_LIBRARY_PATH=/sbin
cat > /etc/multipath.conf <<'C'
defaults {
	user_friendly_names yes
	find_multipaths off
}
devices {
	device {
		vendor "LIO-ORG"
		product ".*"
		path_grouping_policy group_by_prio
		prio alua
		hardware_handler "1 alua"
		path_checker tur
		failback immediate
		no_path_retry 12
	}
}
C
# Newer udev packages ship systemd-udevd as a name of udevadm (it acts by the name it is run as).
command -v systemd-udevd >/dev/null 2>&1 || ln -s /sbin/udevadm /sbin/systemd-udevd
systemd-udevd --daemon; udevadm trigger --action=add; udevadm settle -t 10
iscsistart -i iqn.2026-11.org.example.vm:alua -t "$G_iqn" -g 1 -a 10.0.2.2 -p "$G_p1" >/dev/null 2>&1 || { echo "login to tpg1 failed"; exit 1; }
sleep 1; udevadm settle -t 10
iscsistart -i iqn.2026-11.org.example.vm:alua -t "$G_iqn" -g 2 -a 10.0.2.2 -p "$G_p2" >/dev/null 2>&1 || { echo "login to tpg2 failed"; exit 1; }
sleep 2; udevadm settle -t 10
P1=sda; P2=sdb
for d in $P1 $P2; do echo "PATH $d $(sg_vpd -p di /dev/$d 2>/dev/null | grep -i 'relative target port:' | head -1 | tr -s ' ')"; done
multipath -v2 >/dev/null 2>&1; multipath -ll
written() { awk '{print $7}' /sys/block/$1/stat; }
io_round() {
  a1=$(written $P1); a2=$(written $P2)
  dd if=/dev/urandom of=/tmp/chunk bs=64k count=16 2>/dev/null
  dd if=/tmp/chunk of=/dev/mapper/mpatha bs=64k count=16 conv=fsync 2>/dev/null || { echo "IO-FAILED $1"; return 1; }
  dd if=/dev/mapper/mpatha of=/tmp/back bs=64k count=16 iflag=direct 2>/dev/null
  cmp -s /tmp/chunk /tmp/back && echo "IO-VERIFIED $1" || echo "IO-MISMATCH $1"
  b1=$(written $P1); b2=$(written $P2)
  echo "IO-ROUND $1 tpg1=$((b1 - a1)) tpg2=$((b2 - a2))"
}
io_round before
echo SWAP-NOW
{ printf 'PORTICO-SWAP-NOW'; dd if=/dev/zero bs=496 count=1 2>/dev/null; } > /tmp/marker
dd if=/tmp/marker of=/dev/mapper/mpatha bs=512 seek=8192 count=1 conv=fsync 2>/dev/null
i=0
while [ $i -lt 120 ]; do
  # RTPG's first descriptor byte of group id 2 (the one with tpg2's port): 0 = Active/Optimized.
  if sg_rtpg -d /dev/$P2 2>/dev/null | grep -A1 -i "target port group id.*0x2" | grep -qi "active/optimized"; then break; fi
  sleep 1; i=$((i + 1))
done
echo "SWAPPED-AFTER ${i}s"
sg_rtpg -d /dev/$P2 2>/dev/null | head -20
multipath -r >/dev/null 2>&1; sleep 1; multipath -ll
io_round after
