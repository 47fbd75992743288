#!/bin/sh
# Guest side of bench/failover.ts (runs as /guest.sh in ../shared/tools/linux-vm's VM, busybox sh).
# The Linux kernel initiator with iscsid + iscsiadm (so that a dropped path is logged in again) on two
# portals of one target, dm-multipath over the two paths, and a writer of sequence-numbered blocks.
#   g.iqn=IQN g.p1=PORT g.p2=PORT g.tmo=S (replacement_timeout and fast_io_fail_tmo) g.noop=S (NOP-Out interval and timeout)
# Protocol on the console: the guest prints `@@READY` once /dev/mapper/mpatha exists, `W <seq> <uptime>` for each
# acknowledged write (after dd's fsync: SYNCHRONIZE CACHE went through, as SCSI's write-back rules want) and
# `E <seq> <uptime>` for a failed one (retried); the host sends `@@CMD <id> <shell>` lines and gets
# `@@OUT <id> <line>`... then `@@DONE <id> <rc>`; `@@QUIT` ends the script.
stty -echo 2>/dev/null
exec 3>&1   # the console: the writer started by a command prints here, not into the command's output
TMO=${G_tmo:-5}
NOOP=${G_noop:-2}
mkdir -p /etc/iscsi /etc/multipath /run/multipathd /run/udev /run/lock/iscsi /var/lib/iscsi /var/lock/iscsi
cp /etc/initiatorname.iscsi /etc/iscsi/initiatorname.iscsi
# iscsid serves iscsiadm only for a peer whose uid getpwuid() names "root" (else: "got write error (-1/32)").
echo "root:x:0:0:root:/root:/bin/sh" > /etc/passwd; echo "root:x:0:" > /etc/group
# multipath-tools' own libraries live in Debian's /lib, which build.sh does not copy: bench/failover.ts builds the
# VM with them as EXTRA_BINS (they land in /sbin).
for l in /sbin/lib*.so*; do [ -e "$l" ] && ln -sf "$l" /lib/x86_64-linux-gnu/; done
# The initiator settings docs/cluster.md recommends (iscsid.conf: defaults for the node records made below).
cat > /etc/iscsi/iscsid.conf <<C
node.startup = manual
node.session.timeo.replacement_timeout = $TMO
node.conn[0].timeo.noop_out_interval = $NOOP
node.conn[0].timeo.noop_out_timeout = $NOOP
node.conn[0].timeo.login_timeout = 5
node.session.initial_login_retry_max = 2
node.session.err_timeo.abort_timeout = 5
node.session.err_timeo.lu_reset_timeout = 10
node.session.err_timeo.tgt_reset_timeout = 10
node.session.cmds_max = 128
node.session.queue_depth = 32
C
cat > /etc/multipath.conf <<C
defaults {
	user_friendly_names yes
	find_multipaths off
	polling_interval 1
	max_polling_interval 4
}
devices {
	device {
		vendor "LIO-ORG"
		product ".*"
		hardware_handler "1 alua"
		path_grouping_policy group_by_prio
		prio alua
		path_checker tur
		path_selector "service-time 0"
		failback immediate
		no_path_retry queue
		fast_io_fail_tmo $TMO
		dev_loss_tmo infinity
	}
}
C
iscsid || { echo "@@FAIL iscsid did not start"; exit 1; }
sleep 1
# Logins retried until the session is there (the target may still be opening its portal).
for p in "$G_p1" "$G_p2"; do
  (trap '' PIPE; iscsiadm -m node -o new -T "$G_iqn" -p "10.0.2.2:$p,1" >/dev/null)
  i=0
  until iscsiadm -m session 2>/dev/null | grep -q "10.0.2.2:$p,"; do
    [ $i -ge 15 ] && { echo "@@FAIL login to $p"; iscsiadm -m session; exit 1; }
    (trap '' PIPE; iscsiadm -m node -T "$G_iqn" -p "10.0.2.2:$p" --login >/dev/null 2>&1)
    i=$((i + 1)); sleep 1
  done
done
iscsiadm -m session
# Then udev (multipath needs its device database; udevadm is systemd-udevd under that name). iscsid itself
# logs dropped sessions in again: no iscsiadm is needed after this.
ln -sf /sbin/udevadm /sbin/systemd-udevd
systemd-udevd --daemon; udevadm trigger --action=add; udevadm settle -t 10
multipathd -d -s -v3 > /tmp/multipathd.log 2>&1 &
sleep 2; multipathd show daemon >/dev/null 2>&1 || { echo "@@FAIL multipathd did not start"; tail -20 /tmp/multipathd.log; exit 1; }
n=0; while [ ! -b /dev/mapper/mpatha ] && [ $n -lt 60 ]; do sleep 1; n=$((n+1)); multipath >/dev/null 2>&1; done
[ -b /dev/mapper/mpatha ] || { echo "@@FAIL no /dev/mapper/mpatha"; multipath -ll; exit 1; }
multipath -ll
echo "@@READY"

# One 4 KiB block per sequence number, at slot seq % slots: "PORTICO-SEQ <seq>" then zeros. The block layer gets
# an O_DIRECT write, then dd's fsync (SYNCHRONIZE CACHE): only then is the write acknowledged to the host.
writer() {
  seq=$1; slots=$2
  while [ ! -e /tmp/stop ]; do
    if printf 'PORTICO-SEQ %010d\n' "$seq" | dd of=/dev/mapper/mpatha bs=4096 seek=$((seq % slots)) count=1 oflag=direct conv=sync,notrunc,fsync 2>/tmp/dd.err; then
      read -r up rest < /proc/uptime; echo "W $seq $up"; seq=$((seq + 1))
    else
      read -r up rest < /proc/uptime; echo "E $seq $up $(tail -1 /tmp/dd.err)"; sleep 0.2
    fi
  done
  echo "@@WRITER-STOPPED $seq"
}

while read -r line; do
  case $line in
    "@@CMD "*)
      set -- $line; id=$2; shift 2
      eval "$*" > /tmp/cmd.out 2>&1; rc=$?
      sed "s/^/@@OUT $id /" /tmp/cmd.out
      echo "@@DONE $id $rc";;
    "@@QUIT"*) break;;
  esac
done
touch /tmp/stop; sleep 1
exit 0
