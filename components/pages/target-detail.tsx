"use client";
/**
 * One target: a tab per TPG aspect (LUNs, portals, ACLs and mapped LUNs,
 * authentication, iSCSI parameters, attributes), TPG enable/disable, and deletion. The TPG and the
 * tab are in the URL (?tpg=1&tab=luns).
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useParams, useRouter, useSearchParams } from "next/navigation";
import { useState, type ReactNode } from "react";
import { createLunSchema, createMappedLunSchema, createNodeAclSchema, portalSchema } from "@/server/api/schemas/targets";
import { TPG_ATTRIBUTES } from "../attributes";
import { tpgAttributeRanges } from "@/server/engine/core/defaults";
import { AclEditDialog, ParametersCard, TpgChapCard, WriteProtectToggle } from "./target-edit";
import { errorMessage, formatBytes, plural, serverErrors, zodErrors, type Errors } from "../form";
import { ConnectionInstructions } from "../onboarding/instructions";
import { useTRPC, type RouterOutputs } from "../trpc";
import { AllowedNetworksCard } from "./allowed-networks";
import { Alert, Badge, Button, Card, Checkbox, ConfirmDialog, DataTable, Dialog, EmptyState, Field, PageHeader, QueryStatus, Select, Switch, TableHead, Tabs, TextInput, actionsColumn, td } from "../ui";
import { DraftActions } from "../ui/draft-actions";

type Target = RouterOutputs["targets"]["list"][number];
type Tpg = Target["tpgs"][number];
type Session = RouterOutputs["system"]["status"]["sessions"][number];

/** A dialog holding a small form: validates with the API's schema, shows the server's refusal at its field. */
function FormDialog({
  open,
  onClose,
  title,
  submitLabel,
  children,
  onSubmit,
  busy,
  errors,
}: {
  open: boolean;
  onClose: () => void;
  title: string;
  submitLabel: string;
  children: ReactNode;
  onSubmit: () => void;
  busy?: boolean;
  errors: Errors;
}) {
  return (
    <Dialog open={open} onClose={onClose} title={title}>
      <form
        noValidate
        className="space-y-4"
        onSubmit={(e) => {
          e.preventDefault();
          onSubmit();
        }}
      >
        {children}
        {errors.form && <Alert tone="bad">{errors.form}</Alert>}
        <div className="flex justify-end gap-2">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" tone="primary" busy={busy} data-testid="dialog-submit">
            {submitLabel}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

function useChange() {
  const qc = useQueryClient();
  return { done: () => qc.invalidateQueries() };
}

function sessionsNote(sessions: Session[]): ReactNode {
  if (!sessions.length) return <p className="text-sm text-slate-600 dark:text-slate-400">No initiator is logged in to it now.</p>;
  return (
    <Alert tone="warn" title={`${sessions.length} live session${sessions.length > 1 ? "s" : ""}`}>
      {sessions.map((s) => s.initiatorName).join(", ")} will lose access at once; unflushed writes on those hosts may fail.
    </Alert>
  );
}

function LunsTab({ t, g, sessions }: { t: Target; g: Tpg; sessions: Session[] }) {
  const trpc = useTRPC();
  const { done } = useChange();
  const storage = useQuery(trpc.storage.list.queryOptions());
  const [open, setOpen] = useState(false);
  const [so, setSo] = useState("");
  const [index, setIndex] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const [del, setDel] = useState<number | null>(null);
  const create = useMutation(trpc.targets.luns.create.mutationOptions());
  const remove = useMutation(trpc.targets.luns.delete.mutationOptions());
  const inThisTpg = new Set(g.luns.map((l) => l.storageObject));
  const submit = () => {
    const input = { wwn: t.wwn, tag: g.tag, storageObject: so, index: index.trim() === "" ? undefined : Number(index) };
    const r = createLunSchema.safeParse(input);
    if (!r.success) return setErrors(zodErrors(r.error));
    create.mutate(r.data, { onSuccess: async () => (await done(), setOpen(false)), onError: (e) => setErrors(serverErrors(e)) });
  };
  const mappedBy = (index: number) => g.nodeAcls.filter((a) => a.mappedLuns.some((m) => m.tpgLun === index)).map((a) => a.initiatorName);
  return (
    <Card title="LUNs" actions={<Button tone="primary" onClick={() => (setErrors({}), setSo(""), setIndex(""), setOpen(true))}>Map storage</Button>}>
      {g.luns.length === 0 ? (
        <EmptyState title="No LUNs" action={<Button tone="primary" onClick={() => setOpen(true)}>Map storage</Button>}>
          Map a storage object to this TPG so initiators see it as a disk.
        </EmptyState>
      ) : (
        <DataTable label="LUNs">
          <TableHead columns={["LUN", "Storage object", "Mapped for", "State", actionsColumn]} />
          <tbody>
            {g.luns.map((l) => (
              <tr key={l.index} data-testid="lun" data-index={l.index}>
                <td className={td}>lun{l.index}</td>
                <td className={td}>
                  <Link className="font-mono text-xs hover:underline" href={`/storage/${l.storageObject.split("/").slice(2).map(encodeURIComponent).join("/")}`}>
                    {l.storageObject}
                  </Link>
                </td>
                <td className={`${td} text-xs`}>{g.demoMode ? "every initiator (demo mode)" : mappedBy(l.index).join(", ") || "no ACL maps it yet"}</td>
                <td className={td}>{l.live ? <Badge tone="ok">live</Badge> : <Badge tone="bad">{l.error ?? "not live"}</Badge>}</td>
                <td className={`${td} text-right`}>
                  <Button tone="ghost" onClick={() => (remove.reset(), setDel(l.index))} aria-label={`Remove lun${l.index}`}>Remove</Button>
                </td>
              </tr>
            ))}
          </tbody>
        </DataTable>
      )}
      <FormDialog open={open} onClose={() => setOpen(false)} title={`Map storage to tpg${g.tag}`} submitLabel="Map" onSubmit={submit} busy={create.isPending} errors={errors}>
        <Field label="Storage object" error={errors.storageObject} hint={storage.data?.length === 0 ? "There is no storage yet: create some on the Storage page." : undefined}>
          {(p) => (
            <Select {...p} value={so} onChange={(e) => (setSo(e.target.value), setErrors({}))}>
              <option value="">Choose…</option>
              {(storage.data ?? []).map((s) => (
                <option key={s.path} value={s.path} disabled={inThisTpg.has(s.path)}>
                  {s.plugin}/{s.name} — {formatBytes(s.size)}
                  {inThisTpg.has(s.path) ? " (already in this TPG)" : s.usedBy.length ? " (also exported elsewhere)" : ""}
                </option>
              ))}
            </Select>
          )}
        </Field>
        <Field label="LUN number" hint="Leave empty for the lowest free number. Some initiators only see LUNs below 256." error={errors.index}>
          {(p) => <TextInput {...p} inputMode="numeric" value={index} onChange={(e) => setIndex(e.target.value)} />}
        </Field>
      </FormDialog>
      <ConfirmDialog
        open={del !== null}
        onClose={() => setDel(null)}
        title={`Remove lun${del}?`}
        confirmLabel="Remove LUN"
        busy={remove.isPending}
        error={remove.error ? errorMessage(remove.error) : null}
        onConfirm={() => del !== null && remove.mutate({ wwn: t.wwn, tag: g.tag, index: del }, { onSuccess: async () => (await done(), setDel(null)) })}
      >
        <p className="text-sm">The storage object stays; initiators stop seeing this disk{del !== null && mappedBy(del).length ? `, and the mappings for ${mappedBy(del).join(", ")} go with it` : ""}.</p>
        {sessionsNote(sessions)}
      </ConfirmDialog>
    </Card>
  );
}

function PortalsTab({ t, g }: { t: Target; g: Tpg }) {
  const trpc = useTRPC();
  const { done } = useChange();
  const addresses = useQuery(trpc.host.addresses.queryOptions());
  const [open, setOpen] = useState(false);
  const [ip, setIp] = useState("0.0.0.0");
  const [port, setPort] = useState("3260");
  const [errors, setErrors] = useState<Errors>({});
  const [del, setDel] = useState<{ ip: string; port: number; key: string } | null>(null);
  const create = useMutation(trpc.targets.portals.create.mutationOptions());
  const remove = useMutation(trpc.targets.portals.delete.mutationOptions());
  const submit = () => {
    const r = portalSchema.safeParse({ wwn: t.wwn, tag: g.tag, ip, port: port.trim() === "" ? Number.NaN : Number(port) });
    if (!r.success) return setErrors(zodErrors(r.error));
    create.mutate(r.data, { onSuccess: async () => (await done(), setOpen(false)), onError: (e) => setErrors(serverErrors(e)) });
  };
  const first = g.portals[0];
  return (
    <>
      <Card title="Portals" actions={<Button tone="primary" onClick={() => (setErrors({}), setOpen(true))}>Add portal</Button>}>
        {g.portals.length === 0 ? (
          <EmptyState title="No portal" action={<Button tone="primary" onClick={() => setOpen(true)}>Add portal</Button>}>
            A portal is the address and port initiators connect to.
          </EmptyState>
        ) : (
          <ul className="divide-y divide-slate-200 dark:divide-slate-800">
            {g.portals.map((p) => (
              <li key={p.key} className="flex flex-wrap items-center gap-3 py-2" data-testid="portal" data-key={p.key} data-listening={p.listening}>
                <span className="font-mono text-sm">{p.key}</span>
                <Badge tone={p.listening ? "ok" : "warn"}>{p.listening ? "listening" : "not listening"}</Badge>
                {p.error && <span className="text-xs text-red-700">{p.error}</span>}
                <Button tone="ghost" className="ml-auto" onClick={() => (remove.reset(), setDel(p))} aria-label={`Remove portal ${p.key}`}>
                  Remove
                </Button>
              </li>
            ))}
          </ul>
        )}
      </Card>
      {first && g.luns.length > 0 && (
        <Card title="Connect an initiator" className="mt-6">
          <ConnectionInstructions wwn={t.wwn} tag={g.tag} />
        </Card>
      )}
      <FormDialog open={open} onClose={() => setOpen(false)} title={`Add a portal to tpg${g.tag}`} submitLabel="Add portal" onSubmit={submit} busy={create.isPending} errors={errors}>
        <Field label="Address" error={errors.ip}>
          {(p) => (
            <Select {...p} value={ip} onChange={(e) => (setIp(e.target.value), setErrors({}))}>
              {(addresses.data ?? []).map((a) => (
                <option key={`${a.interface}-${a.address}`} value={a.address}>
                  {a.address} — {a.interface}
                </option>
              ))}
            </Select>
          )}
        </Field>
        <Field label="Port" error={errors.port}>
          {(p) => <TextInput {...p} inputMode="numeric" value={port} onChange={(e) => (setPort(e.target.value), setErrors({}))} />}
        </Field>
      </FormDialog>
      <ConfirmDialog
        open={del !== null}
        onClose={() => setDel(null)}
        title={`Remove portal ${del?.key}?`}
        confirmLabel="Remove portal"
        busy={remove.isPending}
        error={remove.error ? errorMessage(remove.error) : null}
        onConfirm={() => del && remove.mutate({ wwn: t.wwn, tag: g.tag, ip: del.ip, port: del.port }, { onSuccess: async () => (await done(), setDel(null)) })}
      >
        <p className="text-sm">Initiators can no longer reach tpg{g.tag} through this address{g.portals.length === 1 ? "; it is the TPG's only portal" : ""}.</p>
      </ConfirmDialog>
    </>
  );
}

/** `allow`: an initiator to add, from the Events page's "Allow this initiator" (?allow=<iqn>): the form opens filled in. */
function AclsTab({ t, g, sessions, allow }: { t: Target; g: Tpg; sessions: Session[]; allow?: string }) {
  const [edit, setEdit] = useState<string | null>(null);
  const trpc = useTRPC();
  const { done } = useChange();
  const listed = allow !== undefined && g.nodeAcls.some((a) => a.initiatorName === allow.toLowerCase());
  const [open, setOpen] = useState(allow !== undefined && !listed);
  const [name, setName] = useState(allow ?? "");
  const [mapAll, setMapAll] = useState(true);
  const [errors, setErrors] = useState<Errors>({});
  const [mapFor, setMapFor] = useState<string | null>(null);
  const [mIndex, setMIndex] = useState("0");
  const [mLun, setMLun] = useState("");
  const [mWp, setMWp] = useState(false);
  const [del, setDel] = useState<string | null>(null);
  const createAcl = useMutation(trpc.targets.acls.create.mutationOptions());
  const createMapped = useMutation(trpc.targets.mappedLuns.create.mutationOptions());
  const removeAcl = useMutation(trpc.targets.acls.delete.mutationOptions());
  const removeMapped = useMutation(trpc.targets.mappedLuns.delete.mutationOptions());
  const submitAcl = async () => {
    const r = createNodeAclSchema.safeParse({ wwn: t.wwn, tag: g.tag, initiatorName: name, addMappedLuns: mapAll });
    if (!r.success) return setErrors(zodErrors(r.error));
    try {
      await createAcl.mutateAsync(r.data);
      await done();
      setOpen(false);
    } catch (e) {
      setErrors(serverErrors(e));
      await done();
    }
  };
  const submitMapped = () => {
    const r = createMappedLunSchema.safeParse({ wwn: t.wwn, tag: g.tag, initiatorName: mapFor, index: Number(mIndex), tpgLun: mLun === "" ? Number.NaN : Number(mLun), writeProtect: mWp });
    if (!r.success) return setErrors(zodErrors(r.error));
    createMapped.mutate(r.data, { onSuccess: async () => (await done(), setMapFor(null)), onError: (e) => setErrors(serverErrors(e)) });
  };
  return (
    <Card title="Access (ACLs)" actions={<Button tone="primary" onClick={() => (setErrors({}), setName(""), setOpen(true))}>Add initiator</Button>}>
      {g.demoMode && <Alert tone="info">Demo mode is on: any initiator may log in and see every LUN. ACLs below apply once demo mode is turned off (Attributes tab).</Alert>}
      {g.nodeAcls.length === 0 ? (
        <div className="mt-3">
          <EmptyState title="No initiators listed" action={<Button tone="primary" onClick={() => setOpen(true)}>Add initiator</Button>}>
            List an initiator by its IQN to let it log in and map LUNs for it.
          </EmptyState>
        </div>
      ) : (
        <ul className="mt-3 space-y-3">
          {g.nodeAcls.map((a) => (
            <li key={a.initiatorName} className="rounded-md border border-slate-200 p-3 dark:border-slate-800" data-testid="acl" data-initiator={a.initiatorName}>
              <div className="flex flex-wrap items-center gap-2">
                <span className="font-mono text-sm break-all">{a.initiatorName}</span>
                {a.aclTag && <Badge tone="info">group {a.aclTag}</Badge>}
                {sessions.some((s) => s.initiatorName === a.initiatorName) && <Badge tone="ok">logged in</Badge>}
                <div className="ml-auto flex flex-wrap gap-2">
                  <Button onClick={() => setEdit(a.initiatorName)} aria-label={`Edit ${a.initiatorName}`} data-testid="acl-edit">Edit CHAP & settings</Button>
                  <Button onClick={() => (setErrors({}), setMapFor(a.initiatorName), setMLun(""), setMIndex(String(a.mappedLuns.length ? Math.max(...a.mappedLuns.map((m) => m.index)) + 1 : 0)))}>Map LUN</Button>
                  <Button tone="ghost" onClick={() => (removeAcl.reset(), setDel(a.initiatorName))} aria-label={`Remove ${a.initiatorName}`}>Remove</Button>
                </div>
              </div>
              {a.mappedLuns.length === 0 ? (
                <p className="mt-1 text-xs text-slate-600">No mapped LUNs: this initiator can log in but sees no disk.</p>
              ) : (
                <ul className="mt-2 flex flex-wrap gap-2">
                  {a.mappedLuns.map((m) => (
                    <li key={m.index} data-testid="mapped-lun" data-index={m.index} className="inline-flex items-center gap-1 rounded bg-slate-100 px-2 py-1 text-xs dark:bg-slate-800">
                      LUN {m.index} → lun{m.tpgLun}
                      <WriteProtectToggle wwn={t.wwn} tag={g.tag} initiatorName={a.initiatorName} index={m.index} writeProtect={m.writeProtect} live={sessions.some((s) => s.initiatorName === a.initiatorName)} />
                      <button type="button" aria-label={`Unmap LUN ${m.index} for ${a.initiatorName}`} className="ml-1 text-slate-500 hover:text-red-700" onClick={() => removeMapped.mutate({ wwn: t.wwn, tag: g.tag, initiatorName: a.initiatorName, index: m.index }, { onSuccess: () => void done() })}>
                        ✕
                      </button>
                    </li>
                  ))}
                </ul>
              )}
            </li>
          ))}
        </ul>
      )}
      {edit !== null && (
        <AclEditDialog wwn={t.wwn} tag={g.tag} initiatorName={edit} authRequired={g.attributes.authentication === 1} sessions={sessions} onClose={() => setEdit(null)} />
      )}
      <FormDialog open={open} onClose={() => setOpen(false)} title="Add an initiator" submitLabel="Add" onSubmit={() => void submitAcl()} busy={createAcl.isPending || createMapped.isPending} errors={errors}>
        <Field label="Initiator IQN" hint="Linux: /etc/iscsi/initiatorname.iscsi · Windows: iSCSI Initiator → Configuration." error={errors.initiatorName}>
          {(p) => <TextInput {...p} className="font-mono" placeholder="iqn.1994-05.com.redhat:client1" value={name} onChange={(e) => (setName(e.target.value), setErrors({}))} />}
        </Field>
        <Checkbox label={`Map every LUN of tpg${g.tag} for it (${g.luns.length})`} checked={mapAll} onChange={setMapAll} />
      </FormDialog>
      <FormDialog open={mapFor !== null} onClose={() => setMapFor(null)} title={`Map a LUN for ${mapFor}`} submitLabel="Map" onSubmit={submitMapped} busy={createMapped.isPending} errors={errors}>
        <Field label="TPG LUN" error={errors.tpgLun}>
          {(p) => (
            <Select {...p} value={mLun} onChange={(e) => setMLun(e.target.value)}>
              <option value="">Choose…</option>
              {g.luns.map((l) => (
                <option key={l.index} value={l.index}>
                  lun{l.index} — {l.storageObject}
                </option>
              ))}
            </Select>
          )}
        </Field>
        <Field label="LUN number the initiator sees" error={errors.index}>
          {(p) => <TextInput {...p} inputMode="numeric" value={mIndex} onChange={(e) => setMIndex(e.target.value)} />}
        </Field>
        <Checkbox label="Read-only for this initiator" checked={mWp} onChange={setMWp} />
      </FormDialog>
      <ConfirmDialog
        open={del !== null}
        onClose={() => setDel(null)}
        title="Remove this initiator?"
        confirmLabel="Remove initiator"
        busy={removeAcl.isPending}
        error={removeAcl.error ? errorMessage(removeAcl.error) : null}
        onConfirm={() => del && removeAcl.mutate({ wwn: t.wwn, tag: g.tag, initiatorName: del }, { onSuccess: async () => (await done(), setDel(null)) })}
      >
        <p className="text-sm">
          <span className="font-mono break-all">{del}</span> loses access to tpg{g.tag} and its mapped LUNs{g.demoMode ? " (demo mode still admits it)" : ""}.
        </p>
      </ConfirmDialog>
    </Card>
  );
}

function AttributesTab({ t, g }: { t: Target; g: Tpg }) {
  const trpc = useTRPC();
  const { done } = useChange();
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Errors>({});
  const save = useMutation(trpc.targets.tpgs.setAttributes.mutationOptions());
  const changed = Object.entries(draft).filter(([k, v]) => String(g.attributes[k]) !== v);
  const submit = () => {
    const attributes: Record<string, number> = {};
    for (const [k, v] of changed) {
      if (!/^\d+$/.test(v.trim())) return setErrors({ [k]: "a whole number" });
      attributes[k] = Number(v);
    }
    const strip = (e: Errors) => Object.fromEntries(Object.entries(e).map(([k, m]) => [k.replace(/^attributes\./, ""), m]));
    save.mutate({ wwn: t.wwn, tag: g.tag, attributes }, { onSuccess: async () => (await done(), setDraft({}), setErrors({})), onError: (e) => setErrors(strip(serverErrors(e))) });
  };
  const demo = (on: boolean) => save.mutate({ wwn: t.wwn, tag: g.tag, attributes: on ? { generate_node_acls: 1, demo_mode_write_protect: 0, cache_dynamic_acls: 1 } : { generate_node_acls: 0 } }, { onSuccess: () => void done() });
  return (
    <Card title="Attributes" actions={<DraftActions changes={changed.length} busy={save.isPending} onSave={submit} />}>
      <div className="mb-4 flex flex-wrap items-center gap-3 rounded-md bg-slate-50 p-3 text-sm dark:bg-slate-800/50">
        <span>
          Demo mode is <strong>{g.demoMode ? "on" : "off"}</strong>: {g.demoMode ? "any initiator may log in and use every LUN." : "only the initiators listed under ACLs may log in."}
        </span>
        <Button className="ml-auto" onClick={() => demo(!g.demoMode)}>{g.demoMode ? "Turn off (use ACLs)" : "Turn on (open access)"}</Button>
      </div>
      {errors.form && <Alert tone="bad">{errors.form}</Alert>}
      <DataTable label="TPG attributes">
        <TableHead columns={["Attribute", "Value", "Allowed", "Meaning"]} />
        <tbody>
          {Object.entries(g.attributes)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, v]) => (
              <tr key={k}>
                <td className={`${td} font-mono text-xs`}>
                  <label htmlFor={`attr-${k}`}>{k}</label>
                </td>
                <td className={td}>
                  {tpgAttributeRanges[k]?.[0] === 0 && tpgAttributeRanges[k]?.[1] === 1 ? (
                    <Switch id={`attr-${k}`} invalid={Boolean(errors[k])} describedBy={errors[k] ? `attr-${k}-error` : undefined} checked={(draft[k] ?? String(v)) === "1"} onChange={(on) => setDraft((d) => ({ ...d, [k]: on ? "1" : "0" }))} />
                  ) : (
                    <TextInput id={`attr-${k}`} aria-invalid={errors[k] ? true : undefined} aria-describedby={errors[k] ? `attr-${k}-error` : undefined} className="!w-28 !py-1 font-mono" inputMode="numeric" value={draft[k] ?? String(v)} onChange={(e) => setDraft((d) => ({ ...d, [k]: e.target.value }))} />
                  )}
                  {errors[k] && <p id={`attr-${k}-error`} role="alert" data-testid="field-error" className="mt-1 max-w-xs text-xs font-medium text-red-700 dark:text-red-400">{errors[k]}</p>}
                </td>
                <td className={`${td} text-xs whitespace-nowrap text-slate-600 dark:text-slate-400`}>{tpgAttributeRanges[k] ? (tpgAttributeRanges[k][1] === 1 ? "0 or 1" : `${tpgAttributeRanges[k][0]}..${tpgAttributeRanges[k][1]}`) : ""}</td>
                <td className={`${td} text-xs text-slate-600 dark:text-slate-400`}>{TPG_ATTRIBUTES[k] ?? ""}</td>
              </tr>
            ))}
        </tbody>
      </DataTable>
    </Card>
  );
}

function AuthTab({ t, g, sessions }: { t: Target; g: Tpg; sessions: Session[] }) {
  const [edit, setEdit] = useState<string | null>(null);
  return (
    <div className="space-y-6">
      <Card title="Authentication">
        <p className="text-sm">
          CHAP at login is <strong>{g.attributes.authentication === 1 ? "required" : "not required"}</strong> for tpg{g.tag} (attribute <code>authentication</code> on the Attributes tab). Initiators with an ACL use the ACL&apos;s credentials; in demo mode the others use the TPG&apos;s below.
        </p>
        {g.nodeAcls.length > 0 && (
          <ul className="mt-3 divide-y divide-slate-100 text-sm dark:divide-slate-800" aria-label="Per-initiator CHAP">
            {g.nodeAcls.map((a) => (
              <li key={a.initiatorName} className="flex flex-wrap items-center gap-2 py-2">
                <span className="font-mono text-xs break-all">{a.initiatorName}</span>
                <Button className="ml-auto" onClick={() => setEdit(a.initiatorName)}>CHAP for this initiator</Button>
              </li>
            ))}
          </ul>
        )}
      </Card>
      <TpgChapCard wwn={t.wwn} tag={g.tag} demoMode={g.demoMode} authRequired={g.attributes.authentication === 1} sessions={sessions} />
      {edit !== null && (
        <AclEditDialog wwn={t.wwn} tag={g.tag} initiatorName={edit} authRequired={g.attributes.authentication === 1} sessions={sessions} onClose={() => setEdit(null)} />
      )}
    </div>
  );
}

export function TargetDetail() {
  const trpc = useTRPC();
  const router = useRouter();
  const { done } = useChange();
  const params = useParams<{ wwn: string }>();
  const search = useSearchParams();
  const wwn = decodeURIComponent(params.wwn);
  const list = useQuery({ ...trpc.targets.list.queryOptions(), refetchInterval: 3_000 });
  const status = useQuery({ ...trpc.system.status.queryOptions(), refetchInterval: 3_000 });
  const [confirm, setConfirm] = useState<"delete" | "disable" | null>(null);
  const removeTarget = useMutation(trpc.targets.delete.mutationOptions());
  const setEnabled = useMutation(trpc.targets.tpgs.setEnabled.mutationOptions());
  const addTpg = useMutation(trpc.targets.tpgs.create.mutationOptions());
  if (!list.isSuccess) return <QueryStatus query={list} />;
  const t = list.data.find((x) => x.wwn === wwn);
  if (!t) return <EmptyState title="No such target" action={<Button onClick={() => router.push("/targets")}>All targets</Button>}>{wwn} does not exist (any more).</EmptyState>;
  const tag = Number(search.get("tpg") ?? t.tpgs[0]?.tag ?? 1);
  const g = t.tpgs.find((x) => x.tag === tag) ?? t.tpgs[0];
  const tab = search.get("tab") ?? "luns";
  const sessions = (status.data?.sessions ?? []).filter((s) => s.targetName === t.wwn && s.sessionType === "Normal");
  const tpgSessions = sessions.filter((s) => s.tpgTag === g?.tag);
  const base = `/targets/${encodeURIComponent(t.wwn)}`;
  return (
    <>
      <PageHeader
        title={<span className="font-mono text-xl break-all">{t.wwn}</span>}
        description={<Link href="/targets" className="hover:underline">← All targets</Link>}
        actions={
          <>
            <Button onClick={() => addTpg.mutate({ wwn: t.wwn }, { onSuccess: async (r) => (await done(), router.push(`${base}?tpg=${r.tag}&tab=luns`)) })} busy={addTpg.isPending}>Add TPG</Button>
            <Button tone="danger" onClick={() => (removeTarget.reset(), setConfirm("delete"))}>Delete target</Button>
          </>
        }
      />
      {t.tpgs.length > 1 && (
        <nav aria-label="TPGs" className="mb-3 flex flex-wrap gap-2">
          {t.tpgs.map((x) => (
            <Link key={x.tag} href={`${base}?tpg=${x.tag}&tab=${tab}`} aria-current={x.tag === g?.tag ? "page" : undefined} className={`rounded-full border px-3 py-1 text-sm ${x.tag === g?.tag ? "border-sky-700 bg-sky-50 text-sky-800 dark:bg-sky-950 dark:text-sky-300" : "border-slate-300 dark:border-slate-700"}`}>
              tpg{x.tag}
              {x.chapNotRequired && <span className="ml-1 text-amber-700 dark:text-amber-300" title="CHAP set, not required">⚠</span>}
            </Link>
          ))}
        </nav>
      )}
      {!g ? (
        <EmptyState title="No TPG" action={<Button tone="primary" onClick={() => addTpg.mutate({ wwn: t.wwn }, { onSuccess: () => void done() })}>Add TPG</Button>}>A target needs a TPG to hold LUNs and portals.</EmptyState>
      ) : (
        <>
          <div className="mb-4 flex flex-wrap items-center gap-3" data-testid="tpg" data-tag={g.tag}>
            <span className="text-sm font-medium">tpg{g.tag}</span>
            <Badge tone={g.enabled ? "ok" : "off"}>{g.enabled ? "enabled" : "disabled"}</Badge>
            {g.chapNotRequired && (
              <Link href={`${base}?tpg=${g.tag}&tab=attributes`} title="CHAP credentials are set on this TPG's ACLs, but authentication = 0: initiators that do not offer CHAP log in without them. Set authentication = 1 to enforce them.">
                <Badge tone="warn" testId="chap-not-required">
                  CHAP set, not required
                </Badge>
              </Link>
            )}
            <span className="text-sm text-slate-600 dark:text-slate-400">{tpgSessions.length} session{tpgSessions.length === 1 ? "" : "s"}</span>
            <Button className="ml-auto" busy={setEnabled.isPending} onClick={() => (g.enabled ? setConfirm("disable") : setEnabled.mutate({ wwn: t.wwn, tag: g.tag, enabled: true }, { onSuccess: () => void done() }))}>
              {g.enabled ? "Disable TPG" : "Enable TPG"}
            </Button>
          </div>
          <Tabs
            label={`tpg${g.tag}`}
            current={tab}
            tabs={[
              { id: "luns", label: `LUNs (${g.luns.length})`, href: `${base}?tpg=${g.tag}&tab=luns` },
              { id: "portals", label: `Portals (${g.portals.length})`, href: `${base}?tpg=${g.tag}&tab=portals` },
              { id: "acls", label: `ACLs (${g.nodeAcls.length})`, href: `${base}?tpg=${g.tag}&tab=acls` },
              { id: "auth", label: "Authentication", href: `${base}?tpg=${g.tag}&tab=auth` },
              { id: "parameters", label: "iSCSI parameters", href: `${base}?tpg=${g.tag}&tab=parameters` },
              { id: "attributes", label: "Attributes", href: `${base}?tpg=${g.tag}&tab=attributes` },
            ]}
          />
          {tab === "luns" && <LunsTab t={t} g={g} sessions={tpgSessions} />}
          {tab === "portals" && <PortalsTab t={t} g={g} />}
          {tab === "acls" && (
            <>
              <AclsTab t={t} g={g} sessions={tpgSessions} allow={search.get("allow") ?? undefined} />
              <AllowedNetworksCard wwn={t.wwn} tag={g.tag} networks={g.allowedNetworks} />
            </>
          )}
          {tab === "auth" && <AuthTab t={t} g={g} sessions={tpgSessions} />}
          {tab === "parameters" && <ParametersCard wwn={t.wwn} tag={g.tag} sessions={tpgSessions} />}
          {tab === "attributes" && <AttributesTab t={t} g={g} />}
        </>
      )}
      <ConfirmDialog
        open={confirm === "delete"}
        onClose={() => setConfirm(null)}
        title="Delete this target?"
        confirmLabel="Delete target"
        busy={removeTarget.isPending}
        error={removeTarget.error ? errorMessage(removeTarget.error) : null}
        onConfirm={() => removeTarget.mutate({ wwn: t.wwn }, { onSuccess: async () => (await done(), router.push("/targets")) })}
      >
        <p className="text-sm">
          <span className="font-mono break-all">{t.wwn}</span> and its {plural(t.tpgs.length, "TPG")}, {plural(t.tpgs.reduce((n, x) => n + x.luns.length, 0), "LUN")}, portals and ACLs go. The storage objects stay.
        </p>
        {sessionsNote(sessions)}
      </ConfirmDialog>
      <ConfirmDialog
        open={confirm === "disable"}
        onClose={() => setConfirm(null)}
        title={`Disable tpg${g?.tag}?`}
        confirmLabel="Disable TPG"
        busy={setEnabled.isPending}
        error={setEnabled.error ? errorMessage(setEnabled.error) : null}
        onConfirm={() => g && setEnabled.mutate({ wwn: t.wwn, tag: g.tag, enabled: false }, { onSuccess: async () => (await done(), setConfirm(null)) })}
      >
        <p className="text-sm">No initiator can log in to it until it is enabled again; its configuration stays.</p>
        {sessionsNote(tpgSessions)}
      </ConfirmDialog>
    </>
  );
}
