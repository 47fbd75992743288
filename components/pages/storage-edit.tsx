"use client";
/**
 * Editing one storage object on its detail page: attributes (each with its meaning and
 * allowed values), growing it, and its INQUIRY identity. Forms validate with the API's
 * schemas (server/api/schemas/storage.ts); refusals (out of range, "not while exported"
 * naming the LUNs, shrinking) come back from the engine and are shown at their field.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { resizeStorageObjectSchema, setStorageObjectAttributesSchema, setStorageObjectIdentitySchema } from "@/server/api/schemas/storage";
import { storageObjectAttributeRules, type SoAttributeRule } from "@/server/engine/core/defaults";
import { STORAGE_ATTRIBUTES } from "../attributes";
import { formatBytes, serverErrors, SizeInput, sizeToBytes, zodErrors, type Errors, type SizeValue } from "../form";
import { useTRPC, type RouterOutputs } from "../trpc";
import { Alert, Badge, Button, Card, DataTable, Field, QueryStatus, SavedNote, Switch, TableHead, TextInput, td } from "../ui";
import { DraftActions } from "../ui/draft-actions";

type Plugin = "ramdisk" | "fileio" | "block" | "rbd";
type Detail = RouterOutputs["storage"]["get"];

/** `attributes.queue_depth` (zod) and `queue_depth` (engine) both name the attribute's input. */
const strip = (e: Errors, prefix: string) => Object.fromEntries(Object.entries(e).map(([k, v]) => [k.startsWith(prefix) ? k.slice(prefix.length) : k, v]));

function allowed(rule: SoAttributeRule | undefined): string {
  if (!rule) return "";
  if (rule.readOnly) return "read-only";
  if (rule.fixed !== undefined) return `fixed at ${rule.fixed}`;
  if (rule.values) return rule.values.join(" or ");
  if (rule.range) return rule.range[0] === 0 && rule.range[1] === 1 ? "0 or 1" : `${rule.range[0]}..${rule.range[1] === 0xffffffff ? "2³²−1" : rule.range[1]}`;
  return "";
}

function ExportedBy({ d }: { d: Detail }) {
  return (
    <>
      {d.exportedBy.map((u, i) => (
        <span key={`${u.wwn}-${u.tag}-${u.lun}`}>
          {i > 0 && ", "}
          <Link className="underline" href={`/targets/${encodeURIComponent(u.wwn)}?tpg=${u.tag}&tab=luns`}>
            lun{u.lun} of {u.wwn} tpg{u.tag}
          </Link>
        </span>
      ))}
    </>
  );
}

function useDetail(plugin: Plugin, name: string) {
  const trpc = useTRPC();
  return useQuery(trpc.storage.get.queryOptions({ plugin, name }));
}

export function StorageAttributesEditor({ plugin, name }: { plugin: Plugin; name: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const detail = useDetail(plugin, name);
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Errors>({});
  const [saved, setSaved] = useState(false);
  const save = useMutation(trpc.storage.setAttributes.mutationOptions());
  if (!detail.isSuccess) return <Card title="Attributes"><QueryStatus query={detail} /></Card>;
  const d = detail.data;
  const exported = d.exportedBy.length > 0;
  const changed = Object.entries(draft).filter(([k, v]) => String(d.attributes[k]) !== v);
  const submit = () => {
    const attributes: Record<string, number> = {};
    for (const [k, v] of changed) attributes[k] = v.trim() === "" ? Number.NaN : Number(v.trim());
    const r = setStorageObjectAttributesSchema.safeParse({ plugin, name, attributes });
    if (!r.success) return setErrors(strip(zodErrors(r.error), "attributes."));
    save.mutate(r.data, {
      onSuccess: async () => (await qc.invalidateQueries(), setDraft({}), setErrors({}), setSaved(true)),
      onError: (e) => setErrors(strip(serverErrors(e), "attributes.")),
    });
  };
  return (
    <Card
      title="Attributes"
      id="so-attributes"
      actions={<DraftActions changes={changed.length} busy={save.isPending} onSave={submit} onDiscard={() => (setDraft({}), setErrors({}))} testId="save-attributes" />}
    >
      <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">
        Changes apply to every initiator at once; all listed changes are made together or not at all.
        {exported && (
          <>
            {" "}Attributes marked <Badge tone="warn">🔒 locked while exported</Badge> cannot change while <ExportedBy d={d} /> export{d.exportedBy.length === 1 ? "s" : ""} this storage object (as in LIO).
          </>
        )}
      </p>
      {saved && !changed.length && <p role="status" className="mb-2 text-sm text-emerald-700 dark:text-emerald-400">Saved.</p>}
      {errors.form && <Alert tone="bad">{errors.form}</Alert>}
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <DataTable label="Storage object attributes">
          <TableHead columns={["Attribute", "Value", "Allowed", "Meaning"]} />
          <tbody>
            {Object.entries(d.attributes)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([k, v]) => {
                const rule = storageObjectAttributeRules[k];
                const id = `so-attr-${k}`;
                // Locked while exported (LIO refuses the change): shown locked now, not refused at Save.
                const locked = exported && rule?.exported === false;
                const editable = rule && !rule.readOnly && rule.fixed === undefined && k !== "emulate_write_cache" && !locked;
                const boolean = rule?.range?.[0] === 0 && rule.range[1] === 1;
                const err = errors[k];
                return (
                  <tr key={k} data-testid="so-attribute" data-name={k}>
                    <td className={`${td} font-mono text-xs`}>
                      <label htmlFor={id}>{k}</label>
                      {locked && (
                        <span className="mt-1 block">
                          <Badge tone="warn" testId="attribute-locked">🔒 locked while exported</Badge>
                        </span>
                      )}
                    </td>
                    <td className={td}>
                      {boolean && k !== "emulate_write_cache" ? (
                        <Switch
                          id={id}
                          checked={(draft[k] ?? String(v)) === "1"}
                          disabled={!editable}
                          invalid={Boolean(err)}
                          describedBy={err ? `${id}-error` : undefined}
                          onChange={(on) => {
                            setSaved(false);
                            setDraft((x) => ({ ...x, [k]: on ? "1" : "0" }));
                            setErrors(({ [k]: _gone, form: _f, ...rest }) => rest);
                          }}
                        />
                      ) : editable ? (
                        <TextInput
                          id={id}
                          inputMode="numeric"
                          aria-invalid={err ? true : undefined}
                          aria-describedby={err ? `${id}-error` : undefined}
                          className="!w-32 !py-1 font-mono"
                          value={draft[k] ?? String(v)}
                          onChange={(e) => {
                            const value = e.target.value;
                            setSaved(false);
                            setDraft((x) => ({ ...x, [k]: value }));
                            setErrors(({ [k]: _gone, form: _f, ...rest }) => rest);
                          }}
                        />
                      ) : (
                        <span id={id} className="font-mono text-xs">
                          {v}
                          {locked && <span className="sr-only"> (locked while exported)</span>}
                        </span>
                      )}
                      {err && (
                        <p id={`${id}-error`} role="alert" data-testid="field-error" className="mt-1 max-w-xs text-xs font-medium text-red-700 dark:text-red-400">
                          {err}
                        </p>
                      )}
                    </td>
                    <td className={`${td} text-xs whitespace-nowrap text-slate-600 dark:text-slate-400`}>{k === "emulate_write_cache" ? "follows write-back mode" : allowed(rule)}</td>
                    <td className={`${td} text-xs text-slate-600 dark:text-slate-400`}>
                      {STORAGE_ATTRIBUTES[k] ?? ""}
                      {rule?.fixed !== undefined && rule.why && <span className="block italic">Fixed: {rule.why}.</span>}
                    </td>
                  </tr>
                );
              })}
          </tbody>
        </DataTable>
        <button type="submit" hidden aria-hidden tabIndex={-1} />
      </form>
    </Card>
  );
}

function bestUnit(bytes: number): SizeValue {
  if (bytes >= 1024 ** 4 && bytes % 1024 ** 4 === 0) return { amount: String(bytes / 1024 ** 4), unit: "TiB" };
  if (bytes >= 1024 ** 3 && bytes % 1024 ** 3 === 0) return { amount: String(bytes / 1024 ** 3), unit: "GiB" };
  return { amount: String(Math.ceil(bytes / 1024 ** 2)), unit: "MiB" };
}

export function ResizeCard({ plugin, name }: { plugin: Plugin; name: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const detail = useDetail(plugin, name);
  const [size, setSize] = useState<SizeValue | null>(null);
  const [errors, setErrors] = useState<Errors>({});
  const [done, setDone] = useState<number | null>(null);
  const resize = useMutation(trpc.storage.resize.mutationOptions());
  if (!detail.isSuccess) return <Card title="Size"><QueryStatus query={detail} /></Card>;
  const d = detail.data;
  const value = size ?? bestUnit(d.size);
  if (plugin === "block") {
    return (
      <Card title="Size" id="so-resize">
        <p className="text-sm">
          {formatBytes(d.size)} ({d.size.toLocaleString()} bytes). A block device storage object takes its size from the device: grow the device itself (LVM, partition) and the new size is read when the storage object is opened again.
        </p>
      </Card>
    );
  }
  return (
    <Card title="Size" id="so-resize">
      <form
        noValidate
        className="space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          setDone(null);
          const bytes = sizeToBytes(value);
          const r = resizeStorageObjectSchema.safeParse({ plugin, name, size: bytes === undefined ? Number.NaN : bytes });
          if (!r.success) return setErrors(zodErrors(r.error));
          resize.mutate(r.data, {
            onSuccess: async (res) => (await qc.invalidateQueries(), setSize(null), setErrors({}), setDone(res.size)),
            onError: (err) => setErrors(serverErrors(err)),
          });
        }}
      >
        <p className="text-sm">
          Now <strong>{formatBytes(d.size)}</strong> ({d.size.toLocaleString()} bytes).
        </p>
        <Field
          label="New size"
          hint={`Grow only: initiators keep their data and are told the capacity changed (they may need a rescan). Rounded down to whole ${d.attributes.block_size ?? 512}-byte blocks.`}
          error={errors.size}
        >
          {(p) => <SizeInput id={p.id} invalid={p["aria-invalid"]} describedBy={p["aria-describedby"]} value={value} onChange={(v) => (setDone(null), setErrors({}), setSize(v))} />}
        </Field>
        {errors.form && <Alert tone="bad">{errors.form}</Alert>}
        <div className="flex flex-wrap items-center gap-3">
          <Button type="submit" tone="primary" busy={resize.isPending} data-testid="resize-submit">
            Grow
          </Button>
          {done !== null && (
            <span role="status" className="text-sm text-emerald-700 dark:text-emerald-400">
              Now {formatBytes(done)}.
            </span>
          )}
        </div>
      </form>
    </Card>
  );
}

const IDENTITY = [
  { key: "wwn", label: "Unit serial (WWN)", hint: "A UUID; initiators see it in VPD pages 80h/83h and multipath uses it to recognise the disk.", mono: true },
  { key: "vendorId", label: "Vendor", hint: "INQUIRY vendor, up to 8 printable ASCII characters.", mono: false },
  { key: "productId", label: "Product", hint: "INQUIRY product, up to 16 characters (setting it turns off emulate_model_alias).", mono: false },
  { key: "revision", label: "Revision", hint: "INQUIRY revision, up to 4 characters.", mono: false },
] as const;
type IdentityKey = (typeof IDENTITY)[number]["key"];

export function IdentityCard({ plugin, name }: { plugin: Plugin; name: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const detail = useDetail(plugin, name);
  const [draft, setDraft] = useState<Partial<Record<IdentityKey, string>>>({});
  const [errors, setErrors] = useState<Errors>({});
  const [saved, setSaved] = useState(false);
  const save = useMutation(trpc.storage.setIdentity.mutationOptions());
  if (!detail.isSuccess) return <Card title="Identity"><QueryStatus query={detail} /></Card>;
  const d = detail.data;
  const current: Record<IdentityKey, string> = { wwn: d.wwn, vendorId: d.vendorId, productId: d.productId, revision: d.revision };
  const changed = IDENTITY.filter((f) => draft[f.key] !== undefined && draft[f.key] !== current[f.key]);
  const exported = d.exportedBy.length > 0;
  return (
    <Card title="Identity" id="so-identity">
      {exported && (
        <Alert tone="info" testId="identity-exported">
          The identity cannot change while <ExportedBy d={d} /> export{d.exportedBy.length === 1 ? "s" : ""} it (as in LIO): initiators would see a different disk under the same LUN.
        </Alert>
      )}
      <form
        noValidate
        className="mt-3 space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          setSaved(false);
          const input: Record<string, string> = {};
          for (const f of changed) input[f.key] = draft[f.key]!;
          const r = setStorageObjectIdentitySchema.safeParse({ plugin, name, ...input });
          if (!r.success) return setErrors(zodErrors(r.error));
          save.mutate(r.data, {
            onSuccess: async () => (await qc.invalidateQueries(), setDraft({}), setErrors({}), setSaved(true)),
            onError: (err) => setErrors(serverErrors(err)),
          });
        }}
      >
        {IDENTITY.map((f) => (
          <Field key={f.key} label={f.label} hint={f.hint} error={errors[f.key]}>
            {(p) => (
              <TextInput
                {...p}
                className={f.mono ? "font-mono" : undefined}
                value={draft[f.key] ?? current[f.key]}
                onChange={(e) => {
                  const v = e.target.value;
                  setSaved(false);
                  setDraft((x) => ({ ...x, [f.key]: v }));
                  setErrors(({ [f.key]: _gone, form: _f, ...rest }) => rest);
                }}
              />
            )}
          </Field>
        ))}
        {errors.form && <Alert tone="bad">{errors.form}</Alert>}
        <div className="flex flex-wrap items-center gap-3">
          <Button type="submit" tone="primary" disabled={!changed.length} busy={save.isPending} data-testid="identity-submit">
            Save identity
          </Button>
          {changed.length > 0 && <Button onClick={() => (setDraft({}), setErrors({}))}>Discard</Button>}
          <SavedNote show={saved} />
        </div>
      </form>
    </Card>
  );
}
