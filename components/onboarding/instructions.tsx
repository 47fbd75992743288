"use client";
/** How to connect each common initiator to a target: copyable, with the real names filled in. */
import { CopyBlock } from "../ui";

export function connectHost(ip: string, fallback: string): string {
  const bare = ip.replace(/^\[|\]$/g, "");
  if (bare === "0.0.0.0" || bare === "::0" || bare === "::") return fallback;
  return bare;
}

export function ConnectionInstructions({ wwn, host, port, chap }: { wwn: string; host: string; port: number; chap?: { userid: string } | null }) {
  const hp = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const linux = [
    `iscsiadm -m discovery -t sendtargets -p ${hp}`,
    ...(chap
      ? [
          `iscsiadm -m node -T ${wwn} -p ${hp} -o update -n node.session.auth.authmethod -v CHAP`,
          `iscsiadm -m node -T ${wwn} -p ${hp} -o update -n node.session.auth.username -v ${chap.userid}`,
          `iscsiadm -m node -T ${wwn} -p ${hp} -o update -n node.session.auth.password -v '<secret>'`,
        ]
      : []),
    `iscsiadm -m node -T ${wwn} -p ${hp} --login`,
    `lsblk   # the new disk appears as /dev/sdX`,
  ].join("\n");
  const url = `iscsi://${chap ? `${chap.userid}%<secret>@` : ""}${hp}/${wwn}/0`;
  return (
    <div className="space-y-5" data-testid="connection-instructions">
      <section>
        <h3 className="mb-2 font-semibold">Linux (open-iscsi)</h3>
        <CopyBlock label="Linux commands" text={linux} testId="instructions-linux" />
      </section>
      <section>
        <h3 className="mb-2 font-semibold">Windows (iSCSI Initiator)</h3>
        <ol className="list-decimal space-y-1 pl-5 text-sm">
          <li>Open <strong>iSCSI Initiator</strong> (iscsicpl.exe) and allow the service to start.</li>
          <li>
            On <strong>Discovery</strong>, choose <strong>Discover Portal…</strong> and enter <code>{host}</code>, port <code>{port}</code>.
          </li>
          <li>
            On <strong>Targets</strong>, select <code className="break-all">{wwn}</code> and choose <strong>Connect</strong>
            {chap ? (
              <>
                ; under <strong>Advanced…</strong> tick <strong>Enable CHAP log on</strong>, name <code>{chap.userid}</code> and the secret (12–16 characters for Windows)
              </>
            ) : null}
            .
          </li>
          <li>Open <strong>Disk Management</strong>: bring the new disk online, initialise it and create a volume.</li>
        </ol>
      </section>
      <section>
        <h3 className="mb-2 font-semibold">VMware ESXi</h3>
        <ol className="list-decimal space-y-1 pl-5 text-sm">
          <li>
            <strong>Storage → Adapters → Software iSCSI</strong>: enable it.
          </li>
          <li>
            Under <strong>Dynamic targets</strong>, add <code>{host}</code> port <code>{port}</code>
            {chap ? (
              <>
                ; set CHAP to <strong>Use CHAP</strong> with name <code>{chap.userid}</code>
              </>
            ) : null}
            . Save, then <strong>Rescan</strong>.
          </li>
          <li>
            <strong>Storage → Datastores → New datastore</strong> on the new <code>LIO-ORG</code> disk.
          </li>
        </ol>
      </section>
      <section>
        <h3 className="mb-2 font-semibold">libiscsi / QEMU URL (LUN 0)</h3>
        <CopyBlock label="libiscsi URL" text={url} testId="instructions-url" />
      </section>
    </div>
  );
}
