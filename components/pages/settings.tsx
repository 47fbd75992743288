"use client";
/**
 * Settings: the appliance's name and IQN prefix, the admin password, the administrators, discovery
 * authentication, targetcli's preferences (auto_add_mapped_luns, max_backup_files),
 * saveconfig.json import (with a preview of what changes) and export, configuration
 * backups, HTTPS and console access (components/pages/https-settings.tsx), and the way to the metrics token page.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import Link from "next/link";
import { discoveryAuthSchema, settingsSchema } from "@/server/api/schemas/config";
import { changePasswordSchema } from "@/server/auth/schemas";
import { applianceSchema } from "@/server/console/schemas";
import { errorMessage, formatBytes, plural, serverErrors, useForm, zodErrors, type Errors } from "../form";
import { useTRPC, type RouterOutputs } from "../trpc";
import { HttpsSettingsCard } from "./https-settings";
import { Alert, Badge, Button, Card, Checkbox, ConfirmDialog, DataTable, ErrorState, Field, LoadingState, PageHeader, QueryStatus, SavedNote, TableHead, TextInput, actionsColumn, td } from "../ui";

function download(name: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function ApplianceCard() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const info = useQuery(trpc.host.info.queryOptions());
  const f = useForm({ name: "", iqnPrefix: "" });
  const [saved, setSaved] = useState(false);
  const save = useMutation(trpc.host.setAppliance.mutationOptions());
  if (info.isPending) return <LoadingState />;
  if (info.isError) return <ErrorState error={info.error} />;
  const v = { name: f.values.name || info.data.appliance.name, iqnPrefix: f.values.iqnPrefix || info.data.appliance.iqnPrefix };
  return (
    <Card title="Appliance">
      <form
        noValidate
        className="space-y-4"
        onSubmit={(e) => {
          e.preventDefault();
          const input = f.check(applianceSchema, v);
          if (input) save.mutate(input, { onSuccess: async () => (await qc.invalidateQueries(), setSaved(true)), onError: (err) => f.setErrors(serverErrors(err)) });
        }}
      >
        <Field label="Appliance name" error={f.errors.name}>
          {(p) => <TextInput {...p} value={v.name} onChange={(e) => (setSaved(false), f.set("name", e.target.value))} />}
        </Field>
        <Field label="IQN prefix for new targets" hint="New targets are named <prefix>:sn.<12 hex digits>." error={f.errors.iqnPrefix}>
          {(p) => <TextInput {...p} className="font-mono" value={v.iqnPrefix} onChange={(e) => (setSaved(false), f.set("iqnPrefix", e.target.value))} />}
        </Field>
        <div className="flex items-center gap-3">
          <Button type="submit" tone="primary" busy={save.isPending}>Save</Button>
          <SavedNote show={saved} />
        </div>
      </form>
    </Card>
  );
}

function PasswordCard() {
  const trpc = useTRPC();
  const f = useForm({ current: "", password: "", confirm: "" });
  const [done, setDone] = useState(false);
  const change = useMutation(trpc.auth.changePassword.mutationOptions());
  return (
    <Card title="Admin password">
      <form
        noValidate
        className="space-y-4"
        onSubmit={(e) => {
          e.preventDefault();
          const input = f.check(changePasswordSchema, f.values);
          if (input) change.mutate(input, { onSuccess: () => (setDone(true), f.setValues({ current: "", password: "", confirm: "" })), onError: (err) => f.setErrors(serverErrors(err)) });
        }}
      >
        <Field label="Current password" error={f.errors.current}>
          {(p) => <TextInput {...p} type="password" autoComplete="current-password" value={f.values.current} onChange={(e) => (setDone(false), f.set("current", e.target.value))} />}
        </Field>
        <Field label="New password" hint="At least 10 characters. Other signed-in browsers are signed out." error={f.errors.password}>
          {(p) => <TextInput {...p} type="password" autoComplete="new-password" value={f.values.password} onChange={(e) => f.set("password", e.target.value)} />}
        </Field>
        <Field label="Confirm new password" error={f.errors.confirm}>
          {(p) => <TextInput {...p} type="password" autoComplete="new-password" value={f.values.confirm} onChange={(e) => f.set("confirm", e.target.value)} />}
        </Field>
        <div className="flex items-center gap-3">
          <Button type="submit" tone="primary" busy={change.isPending}>Change password</Button>
          {done && <span role="status" className="text-sm text-emerald-700">Password changed.</span>}
        </div>
      </form>
    </Card>
  );
}

function AdminsCard() {
  const trpc = useTRPC();
  const admins = useQuery(trpc.auth.admins.queryOptions());
  const when = (t: number | null) => (t === null ? "—" : new Date(t).toLocaleString());
  return (
    <Card title="Administrators">
      <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">Every account that can sign in to this console. Onboarding creates exactly one.</p>
      {!admins.isSuccess ? (
        <QueryStatus query={admins} />
      ) : (
        <DataTable label="Administrators" compact>
          <TableHead columns={["User name", "Created", "Password changed", "Last active"]} />
          <tbody>
            {admins.data.map((a) => (
              <tr key={a.id} data-testid="admin-row">
                <td className={`${td} font-mono`}>
                  {a.username} {a.you && <Badge tone="ok">you</Badge>}
                </td>
                <td className={td}>{when(a.createdAt)}</td>
                <td className={td}>{when(a.passwordChangedAt)}</td>
                <td className={td}>{a.sessions > 0 ? `${when(a.lastSeenAt)} (${a.sessions} session${a.sessions === 1 ? "" : "s"})` : "not signed in"}</td>
              </tr>
            ))}
          </tbody>
        </DataTable>
      )}
    </Card>
  );
}

function DiscoveryCard() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const current = useQuery(trpc.config.discoveryAuth.queryOptions());
  const [enabled, setEnabled] = useState<boolean | null>(null);
  const [userid, setUserid] = useState<string | null>(null);
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const [saved, setSaved] = useState(false);
  const save = useMutation(trpc.config.setDiscoveryAuth.mutationOptions());
  if (current.isPending) return <LoadingState />;
  if (current.isError) return <ErrorState error={current.error} />;
  const cur = current.data as { enabled: boolean; userid?: string | null };
  const on = enabled ?? cur.enabled;
  const user = userid ?? cur.userid ?? "";
  return (
    <Card title="Discovery authentication">
      <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">When on, initiators must give this CHAP user and secret to list targets (SendTargets). Logging in to a target is governed by its own ACLs.</p>
      <form
        noValidate
        className="space-y-4"
        onSubmit={(e) => {
          e.preventDefault();
          const input = { enabled: on, chap: on ? { userid: user || undefined, password: password || undefined } : {} };
          const r = discoveryAuthSchema.safeParse(input);
          if (!r.success) return setErrors(Object.fromEntries(Object.entries(zodErrors(r.error)).map(([k, m]) => [k.replace(/^chap\./, ""), m])));
          save.mutate(r.data, {
            onSuccess: async () => (await qc.invalidateQueries(), setSaved(true), setPassword("")),
            onError: (err) => setErrors(Object.fromEntries(Object.entries(serverErrors(err)).map(([k, m]) => [k.replace(/^chap\./, ""), m]))),
          });
        }}
      >
        <Checkbox label="Require CHAP for discovery" checked={on} onChange={(v) => (setSaved(false), setEnabled(v))} />
        {on && (
          <div className="grid gap-3 sm:grid-cols-2">
            <Field label="CHAP user" error={errors.userid}>
              {(p) => <TextInput {...p} value={user} onChange={(e) => setUserid(e.target.value)} />}
            </Field>
            <Field label="CHAP secret" hint="12 to 255 characters; stored, never shown again." error={errors.password}>
              {(p) => <TextInput {...p} type="password" autoComplete="off" value={password} onChange={(e) => setPassword(e.target.value)} />}
            </Field>
          </div>
        )}
        {errors.form && <Alert tone="bad">{errors.form}</Alert>}
        <div className="flex items-center gap-3">
          <Button type="submit" tone="primary" busy={save.isPending}>Save</Button>
          <SavedNote show={saved} />
        </div>
      </form>
    </Card>
  );
}

type Preview = RouterOutputs["host"]["previewImport"];
const STATE_TONE = { new: "ok", exists: "bad", replaces: "warn", removed: "warn" } as const;

function ImportExportCard() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [text, setText] = useState<string | null>(null);
  const [fileName, setFileName] = useState("");
  const [clear, setClear] = useState(false);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const [confirm, setConfirm] = useState(false);
  const [secrets, setSecrets] = useState(false);
  const previewM = useMutation(trpc.host.previewImport.mutationOptions());
  const importM = useMutation(trpc.config.import.mutationOptions());
  const run = (t: string, c: boolean) => previewM.mutate({ config: t, clear: c }, { onSuccess: setPreview });
  const exportIt = async () => {
    const t = await qc.fetchQuery(trpc.config.export.queryOptions({ secrets }));
    download("saveconfig.json", t);
  };
  return (
    <Card title="Configuration file (targetcli saveconfig.json)">
      <div className="mb-4 flex flex-wrap items-center gap-3">
        <Button onClick={() => void exportIt()}>Download saveconfig.json</Button>
        <Checkbox label="Include CHAP secrets" checked={secrets} onChange={setSecrets} />
      </div>
      <Field label="Import a saveconfig.json" hint="You see what would change before anything is applied.">
        {(p) => (
          <input
            {...p}
            type="file"
            accept=".json,application/json"
            data-testid="import-file"
            className="block text-sm file:mr-3 file:rounded-md file:border file:border-slate-300 file:bg-white file:px-3 file:py-1.5 file:text-sm dark:file:bg-slate-900"
            onChange={async (e) => {
              const f = e.target.files?.[0];
              setResult(null);
              setPreview(null);
              if (!f) return;
              const t = await f.text();
              setText(t);
              setFileName(f.name);
              run(t, clear);
            }}
          />
        )}
      </Field>
      {text && (
        <div className="mt-3">
          <Checkbox
            label="Replace everything (restoreconfig --clear)"
            hint="Without it, objects that already exist are refused."
            checked={clear}
            onChange={(c) => (setClear(c), run(text, c))}
          />
        </div>
      )}
      {previewM.isPending && <LoadingState label="Reading the file…" />}
      {previewM.isError && <Alert tone="bad">{errorMessage(previewM.error)}</Alert>}
      {preview && (
        <div className="mt-4 space-y-3" data-testid="import-preview">
          <h3 className="font-semibold">What importing {fileName} would do</h3>
          {preview.issues.length > 0 && (
            <Alert tone="bad" title={`${preview.issues.length} problem${preview.issues.length > 1 ? "s" : ""}: the import would be refused as a whole`} testId="import-issues">
              <ul className="list-disc pl-5">
                {preview.issues.map((i, n) => (
                  <li key={n}>
                    {i.path && <code className="break-all">{i.path}</code>} {i.message}
                  </li>
                ))}
              </ul>
            </Alert>
          )}
          {preview.storageObjects.length + preview.targets.length > 0 && (
            <DataTable label="Objects in the file">
              <TableHead columns={["Object", "Details", "Change"]} />
              <tbody>
                {preview.storageObjects.map((s) => (
                  <tr key={s.path} data-testid="preview-object">
                    <td className={`${td} font-mono text-xs break-all`}>{s.path}</td>
                    <td className={`${td} text-xs`}>
                      {s.dev ?? "memory"} {s.size ? `· ${formatBytes(s.size)}` : ""}
                      {s.problem && <p className="text-red-700 dark:text-red-400">{s.problem}</p>}
                    </td>
                    <td className={td}><Badge tone={s.problem ? "bad" : STATE_TONE[s.state]}>{s.problem ? "cannot open" : s.state}</Badge></td>
                  </tr>
                ))}
                {preview.targets.map((t) => (
                  <tr key={t.wwn} data-testid="preview-object">
                    <td className={`${td} font-mono text-xs break-all`}>/iscsi/{t.wwn}</td>
                    <td className={`${td} text-xs`}>
                      {t.tpgs.map((g) => (
                        <p key={g.tag}>
                          tpg{g.tag}{g.enabled ? "" : " (disabled)"}: {g.luns.join(", ") || "no LUNs"}; portals {g.portals.join(", ") || "none"}; {g.demoMode ? "demo mode" : plural(g.acls.length, "ACL")}
                        </p>
                      ))}
                    </td>
                    <td className={td}><Badge tone={STATE_TONE[t.state]}>{t.state}</Badge></td>
                  </tr>
                ))}
              </tbody>
            </DataTable>
          )}
          {preview.discoveryAuth && <p className="text-sm">Discovery authentication: turned on by the file.</p>}
          {preview.notHonoured.length > 0 && (
            <details className="text-sm">
              <summary className="cursor-pointer">{plural(preview.notHonoured.length, "setting")} in the file Portico does not apply</summary>
              <ul className="mt-1 list-disc pl-5 text-xs">
                {preview.notHonoured.map((n) => (
                  <li key={n}>{n}</li>
                ))}
              </ul>
            </details>
          )}
          <Button tone={clear ? "danger" : "primary"} disabled={!preview.ok} onClick={() => (importM.reset(), setConfirm(true))} data-testid="import-apply">
            {clear ? "Replace the configuration" : "Import"}
          </Button>
        </div>
      )}
      {result && <div className="mt-3"><Alert tone="ok" testId="import-result">{result}</Alert></div>}
      <ConfirmDialog
        open={confirm}
        onClose={() => setConfirm(false)}
        title={clear ? "Replace the whole configuration?" : "Import this configuration?"}
        confirmLabel={clear ? "Replace everything" : "Import"}
        busy={importM.isPending}
        error={importM.error ? errorMessage(importM.error) : null}
        onConfirm={() =>
          text &&
          importM.mutate(
            { config: text, clear },
            {
              onSuccess: async (r) => {
                await qc.invalidateQueries();
                setConfirm(false);
                setPreview(null);
                setResult(`Imported ${plural(r.storageObjects, "storage object")} and ${plural(r.targets, "target")}.${r.notHonoured.length ? ` Not applied: ${plural(r.notHonoured.length, "setting")}.` : ""}`);
              },
            },
          )
        }
      >
        <p className="text-sm">
          {clear
            ? "Every current target and storage object is removed first; live sessions are dropped and RAM disk contents are lost. If any part fails, the previous configuration is put back."
            : "The objects above are created together; if any part fails, nothing is created."}
        </p>
      </ConfirmDialog>
    </Card>
  );
}

/** targetcli's global preferences: auto_add_mapped_luns and max_backup_files. */
function TargetcliSettingsCard() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const current = useQuery(trpc.config.settings.queryOptions());
  const [auto, setAuto] = useState<boolean | null>(null);
  const [max, setMax] = useState<string | null>(null);
  const [errors, setErrors] = useState<Errors>({});
  const [saved, setSaved] = useState(false);
  const save = useMutation(trpc.config.setSettings.mutationOptions());
  return (
    <Card title="Configuration preferences" id="targetcli-settings">
      {!current.isSuccess ? (
        <QueryStatus query={current} />
      ) : (
        <form
          noValidate
          className="space-y-4"
          onSubmit={(e) => {
            e.preventDefault();
            setSaved(false);
            const m = max ?? String(current.data.maxBackupFiles);
            const r = settingsSchema.safeParse({ autoAddMappedLuns: auto ?? current.data.autoAddMappedLuns, maxBackupFiles: m.trim() === "" ? Number.NaN : Number(m.trim()) });
            if (!r.success) return setErrors(zodErrors(r.error));
            save.mutate(r.data, { onSuccess: async () => (await qc.invalidateQueries(), setAuto(null), setMax(null), setErrors({}), setSaved(true)), onError: (err) => setErrors(serverErrors(err)) });
          }}
        >
          <Checkbox
            label="Map new LUNs into every ACL (auto_add_mapped_luns)"
            hint="When a LUN is added to a TPG, every initiator listed in its ACLs gets it mapped at the same LUN number, as targetcli does. Off: map each LUN per initiator yourself."
            checked={auto ?? current.data.autoAddMappedLuns}
            onChange={(v) => (setSaved(false), setAuto(v))}
          />
          <Field label="Backups to keep (max_backup_files)" hint="Older configuration backups beyond this many are deleted, newest kept; 1 to 1000." error={errors.maxBackupFiles}>
            {(p) => <TextInput {...p} inputMode="numeric" className="w-28" value={max ?? String(current.data.maxBackupFiles)} onChange={(e) => (setSaved(false), setErrors({}), setMax(e.target.value))} />}
          </Field>
          {errors.form && <Alert tone="bad">{errors.form}</Alert>}
          <div className="flex items-center gap-3">
            <Button type="submit" tone="primary" busy={save.isPending} data-testid="settings-save">Save</Button>
            <SavedNote show={saved} />
          </div>
        </form>
      )}
    </Card>
  );
}

/**
 * Storage roots: the directories fileio files must be in (empty: anywhere the fixed rules allow).
 * One directory per line; the server refuses a root that is missing, a system directory, inside the
 * data directory, or one that would leave an existing fileio object outside (named).
 */
function StorageRootsCard() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const current = useQuery(trpc.config.settings.queryOptions());
  const defaults = useQuery(trpc.storage.fileDefaults.queryOptions());
  const [text, setText] = useState<string | null>(null);
  const [errors, setErrors] = useState<Errors>({});
  const [saved, setSaved] = useState(false);
  const save = useMutation(trpc.config.setSettings.mutationOptions());
  return (
    <Card title="Storage roots" id="storage-roots">
      {!current.isSuccess ? (
        <QueryStatus query={current} />
      ) : (
        <form
          noValidate
          className="space-y-4"
          onSubmit={(e) => {
            e.preventDefault();
            setSaved(false);
            const roots = (text ?? current.data.storageRoots.join("\n"))
              .split("\n")
              .map((l) => l.trim())
              .filter(Boolean);
            const r = settingsSchema.safeParse({ storageRoots: roots });
            if (!r.success) {
              const z = zodErrors(r.error);
              return setErrors({ storageRoots: Object.entries(z).map(([k, m]) => (k.startsWith("storageRoots.") ? `line ${Number(k.split(".")[1]) + 1}: ${m}` : m)).join("; ") });
            }
            save.mutate(r.data, {
              onSuccess: async () => (await qc.invalidateQueries(), setText(null), setErrors({}), setSaved(true)),
              onError: (err) => setErrors(serverErrors(err)),
            });
          }}
        >
          <p className="text-sm text-slate-600 dark:text-slate-400">
            File storage objects are never allowed in system directories (/etc, /proc, /sys, /dev, /usr…), in the appliance&apos;s data directory
            {defaults.data?.dataDir ? <> (<span className="font-mono">{defaults.data.dataDir}</span>)</> : null} or its code, or on a file another storage object uses. Storage
            roots restrict them further to the directories listed here; new files go to the first root, else to{" "}
            <span className="font-mono">{defaults.data?.storageDir ?? "the storage directory"}</span>.
          </p>
          <Field label="Allowed directories" hint="One absolute path per line; empty: no restriction beyond the rules above." error={errors.storageRoots}>
            {(p) => (
              <textarea
                {...p}
                rows={3}
                spellCheck={false}
                data-testid="storage-roots"
                className="block w-full rounded-md border border-slate-300 bg-white px-3 py-2 font-mono text-sm shadow-sm focus:border-sky-600 focus:outline-2 focus:outline-sky-600/30 aria-[invalid=true]:border-red-600 dark:border-slate-700 dark:bg-slate-950"
                value={text ?? current.data.storageRoots.join("\n")}
                onChange={(e) => (setSaved(false), setErrors({}), setText(e.target.value))}
              />
            )}
          </Field>
          {errors.form && <Alert tone="bad">{errors.form}</Alert>}
          <div className="flex items-center gap-3">
            <Button type="submit" tone="primary" busy={save.isPending} data-testid="storage-roots-save">Save</Button>
            <SavedNote show={saved} />
          </div>
        </form>
      )}
    </Card>
  );
}

function MetricsLinkCard() {
  return (
    <Card title="Metrics">
      <p className="text-sm text-slate-600 dark:text-slate-400">
        Prometheus scrapes <code>GET /metrics</code> on the console&apos;s address: from this machine freely, from elsewhere with a bearer token.
      </p>
      <Link href="/settings/metrics" className="mt-3 inline-block text-sm font-medium text-sky-800 underline dark:text-sky-300">
        Metrics token and Prometheus configuration →
      </Link>
      <p className="mt-4 text-sm text-slate-600 dark:text-slate-400">Alerts: storage offline or full, portals down, login failures, latency; by webhook and e-mail.</p>
      <Link href="/settings/alerts" className="mt-1 inline-block text-sm font-medium text-sky-800 underline dark:text-sky-300">
        Alert rules, webhook and e-mail →
      </Link>
    </Card>
  );
}

function BackupsCard() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const list = useQuery(trpc.config.backups.list.queryOptions());
  const [restore, setRestore] = useState<string | null>(null);
  const restoreM = useMutation(trpc.config.backups.restore.mutationOptions());
  const [showAll, setShowAll] = useState(false);
  const [secrets, setSecrets] = useState(false);
  const rows = (list.data ?? []) as { name: string; size?: number; createdAt?: string | number; mtime?: string | number }[];
  return (
    <Card title="Configuration backups">
      <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">A backup is kept each time the configuration changes, as targetcli does.</p>
      <div className="mb-3">
        <Checkbox label="Include CHAP secrets in downloads" checked={secrets} onChange={setSecrets} />
      </div>
      {!list.isSuccess ? (
        <QueryStatus query={list} />
      ) : rows.length === 0 ? (
        <p className="text-sm">No backups yet.</p>
      ) : (
        <DataTable label="Backups" compact>
          <TableHead columns={["Backup (date-time)", "Size", actionsColumn]} />
          <tbody>
            {rows.slice(0, showAll ? rows.length : 5).map((b) => (
              <tr key={b.name} data-testid="backup">
                <td className={`${td} font-mono text-xs break-all`}>{b.name.replace(/^saveconfig-/, "").replace(/-json\.gz$/, "")}</td>
                <td className={td}>{b.size !== undefined ? formatBytes(b.size) : "—"}</td>
                <td className={`${td} text-right whitespace-nowrap`}>
                  <Button tone="ghost" onClick={async () => download(b.name.replace(/\.gz$/, "").replace(/-json$/, ".json"), await qc.fetchQuery(trpc.config.backups.download.queryOptions({ name: b.name, secrets })))}>Download</Button>
                  <Button tone="ghost" onClick={() => (restoreM.reset(), setRestore(b.name))}>Restore</Button>
                </td>
              </tr>
            ))}
          </tbody>
        </DataTable>
      )}
      {rows.length > 5 && (
        <Button tone="ghost" className="mt-2" onClick={() => setShowAll((v) => !v)}>
          {showAll ? "Show the newest 5" : `Show all ${rows.length}`}
        </Button>
      )}
      <ConfirmDialog
        open={restore !== null}
        onClose={() => setRestore(null)}
        title="Restore this backup?"
        confirmLabel="Restore backup"
        busy={restoreM.isPending}
        error={restoreM.error ? errorMessage(restoreM.error) : null}
        onConfirm={() => restore && restoreM.mutate({ name: restore }, { onSuccess: async () => (await qc.invalidateQueries(), setRestore(null)) })}
      >
        <p className="text-sm">
          The current configuration is replaced by <code>{restore}</code>: live sessions are dropped and RAM disk contents are lost. If it fails, nothing changes.
        </p>
      </ConfirmDialog>
    </Card>
  );
}

export function Settings() {
  return (
    <>
      <PageHeader title="Settings" />
      <div className="grid gap-6 lg:grid-cols-2">
        <ApplianceCard />
        <PasswordCard />
        <AdminsCard />
        <DiscoveryCard />
        <TargetcliSettingsCard />
        <StorageRootsCard />
        <BackupsCard />
        <MetricsLinkCard />
        <div className="lg:col-span-2">
          <HttpsSettingsCard />
        </div>
        <div className="lg:col-span-2">
          <ImportExportCard />
        </div>
      </div>
    </>
  );
}
