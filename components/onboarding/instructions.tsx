"use client";
/**
 * How to connect each common initiator to a TPG, as the API builds it from the configuration
 * (server/console/instructions.ts): who may log in, CHAP as required, secrets masked until
 * revealed. Used by onboarding's last step, the target's Portals tab and a session's detail.
 */
import { useQuery } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { useTRPC, type RouterOutputs } from "../trpc";
import { Alert, Badge, Button, CopyBlock, QueryStatus, Select } from "../ui";

type Instructions = RouterOutputs["targets"]["instructions"];

/** `code` and **bold** in a step's text. */
function Rich({ text }: { text: string }) {
  const parts: ReactNode[] = [];
  const re = /`([^`]+)`|\*\*([^*]+)\*\*/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    parts.push(m[1] !== undefined ? <code key={m.index} className="break-all">{m[1]}</code> : <strong key={m.index}>{m[2]}</strong>);
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  return <>{parts}</>;
}

function Steps({ steps, testId }: { steps: string[]; testId: string }) {
  return (
    <ol className="list-decimal space-y-1 pl-5 text-sm" data-testid={testId}>
      {steps.map((s, i) => (
        <li key={i}>
          <Rich text={s} />
        </li>
      ))}
    </ol>
  );
}

export function ConnectionInstructions({ wwn, tag = 1, initiatorName }: { wwn: string; tag?: number; initiatorName?: string }) {
  const trpc = useTRPC();
  const [reveal, setReveal] = useState(false);
  const [pick, setPick] = useState(0);
  const host = typeof window !== "undefined" ? window.location.hostname.replace(/^\[|\]$/g, "") : undefined;
  const q = useQuery({ ...trpc.targets.instructions.queryOptions({ wwn, tag, initiatorName, host, reveal }), placeholderData: (prev) => prev });
  if (!q.isSuccess) return <QueryStatus query={q} label="Building the instructions…" />;
  const r: Instructions = q.data;
  const i = r.initiators[Math.min(pick, r.initiators.length - 1)];
  const anyChap = r.initiators.some((x) => x.chap);
  return (
    <div className="space-y-5" data-testid="connection-instructions" data-access={r.access} data-chap-required={r.chapRequired}>
      <div className="flex flex-wrap items-center gap-2 text-sm" data-testid="instructions-summary">
        {r.access === "demo" ? <Badge tone="warn">Demo mode: any initiator name</Badge> : <Badge tone="info">ACL: {r.allowedInitiators.length} allowed initiator{r.allowedInitiators.length === 1 ? "" : "s"}</Badge>}
        {r.chapRequired ? <Badge tone="ok">CHAP required</Badge> : <Badge>CHAP not required</Badge>}
        {r.portal && (
          <span>
            Portal <code>{r.portal.address}</code>
            {r.otherPortals.length > 0 && <> (also {r.otherPortals.map((p) => <code key={p} className="mr-1">{p}</code>)})</>}
          </span>
        )}
        {anyChap && (
          <Button tone="ghost" className="ml-auto !px-2 !py-0.5 text-xs" onClick={() => setReveal((v) => !v)} aria-pressed={reveal} data-testid="instructions-reveal">
            {reveal ? "Hide secrets" : "Show secrets"}
          </Button>
        )}
      </div>
      {r.warnings.map((w) => (
        <Alert key={w} tone="warn" testId="instructions-warning">
          {w}
        </Alert>
      ))}
      {!i ? (
        <Alert tone="warn" testId="instructions-none">
          {initiatorName ? `${initiatorName} has no ACL on tpg${r.tpgTag} and the TPG is not in demo mode.` : "No initiator may log in to this TPG yet."}
        </Alert>
      ) : (
        <>
          {r.access === "acl" && r.initiators.length > 1 && (
            <label className="block text-sm">
              <span className="mb-1 block font-medium">Instructions for</span>
              <Select value={String(pick)} onChange={(e) => setPick(Number(e.target.value))} data-testid="instructions-initiator">
                {r.initiators.map((x, n) => (
                  <option key={x.initiatorName ?? "any"} value={n}>
                    {x.initiatorName ?? "any other initiator"}
                  </option>
                ))}
              </Select>
            </label>
          )}
          <p className="text-sm" data-testid="instructions-who">
            {i.initiatorName === null ? (
              <>Any initiator name may log in (demo mode).</>
            ) : (
              <>
                The initiator must call itself <code className="break-all">{i.initiatorName}</code>
                {r.access === "acl" ? " (the name its ACL allows)" : ""}.
              </>
            )}{" "}
            {i.chap ? (
              <>
                CHAP user <code>{i.chap.userid}</code>
                {i.chap.mutualUserid ? (
                  <>
                    , mutual CHAP: the target answers as <code>{i.chap.mutualUserid}</code>
                  </>
                ) : null}
                .
              </>
            ) : (
              "No CHAP."
            )}{" "}
            {i.luns.length > 0 && <>LUN{i.luns.length === 1 ? "" : "s"} {i.luns.join(", ")}.</>}
          </p>
          {i.problem && (
            <Alert tone="bad" testId="instructions-problem">
              {i.problem}
            </Alert>
          )}
          <section>
            <h3 className="mb-2 font-semibold">Linux (open-iscsi)</h3>
            <CopyBlock label="Linux commands" text={i.linux} testId="instructions-linux" />
          </section>
          <section>
            <h3 className="mb-2 font-semibold">Windows (iSCSI Initiator)</h3>
            <Steps steps={i.windows} testId="instructions-windows" />
          </section>
          <section>
            <h3 className="mb-2 font-semibold">VMware ESXi</h3>
            <Steps steps={i.esxi} testId="instructions-esxi" />
          </section>
          <section>
            <h3 className="mb-2 font-semibold">libiscsi / QEMU URL (LUN {i.luns[0] ?? 0})</h3>
            <CopyBlock label="libiscsi URL" text={i.url} testId="instructions-url" />
            <div className="mt-2">
              <CopyBlock label="libiscsi commands" text={i.libiscsi} testId="instructions-libiscsi" />
            </div>
          </section>
          <section>
            <h3 className="mb-2 font-semibold">QEMU</h3>
            <CopyBlock label="QEMU commands" text={i.qemu} testId="instructions-qemu" />
          </section>
        </>
      )}
    </div>
  );
}
