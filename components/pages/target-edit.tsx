"use client";
/**
 * Editors on a target's page: CHAP credentials (per ACL, and TPG-wide for demo mode),
 * an ACL's tag, command window and attributes, a mapped LUN's write protection, and a
 * TPG's iSCSI parameters. Forms validate with the API's schemas
 * (server/api/schemas/targets.ts); engine refusals come back with the field they concern.
 * CHAP secrets are write-only: the API says only whether one is set.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { setNodeAclAuthSchema, setTpgAuthSchema, setTpgParametersSchema, updateNodeAclSchema } from "@/server/api/schemas/targets";
import { describeTpgParameter, nodeAclAttributeRanges, tpgParameterChoices, tpgParameterRules } from "@/server/engine/core/defaults";
import { NODE_ACL_ATTRIBUTES, TPG_PARAMETERS } from "../attributes";
import { errorMessage, serverErrors, zodErrors, type Errors } from "../form";
import { useTRPC, type RouterOutputs } from "../trpc";
import { Alert, Badge, Button, Card, ConfirmDialog, DataTable, Dialog, Field, QueryStatus, SavedNote, Select, Switch, TableHead, TextInput, td } from "../ui";
import { DraftActions } from "../ui/draft-actions";

type ChapView = RouterOutputs["targets"]["tpgs"]["get"]["chap"];
type Session = RouterOutputs["system"]["status"]["sessions"][number];
const SECRET_RULE = "12 to 255 characters (RFC 7143 recommends at least 12); never shown again once saved.";

/** Errors keyed `chap.password` (zod) or `password` (engine) both land on the secret's input. */
function rekey(e: Errors, map: Record<string, string> = {}, prefix = ""): Errors {
  return Object.fromEntries(Object.entries(e).map(([k, v]) => {
    const bare = prefix && k.startsWith(prefix) ? k.slice(prefix.length) : k;
    return [map[bare] ?? bare, v];
  }));
}

function SetOrNot({ set, testId }: { set: boolean; testId?: string }) {
  return <Badge tone={set ? "ok" : "off"} testId={testId}>{set ? "set" : "not set"}</Badge>;
}

/** What is configured now, without any secret. */
export function ChapSummary({ chap }: { chap: ChapView }) {
  return (
    <dl className="grid grid-cols-[9rem_1fr] gap-x-3 gap-y-1 text-sm" data-testid="chap-summary">
      <dt className="text-slate-600 dark:text-slate-400">CHAP user</dt>
      <dd className="font-mono break-all">{chap.userid ?? <span className="font-sans text-slate-500">none</span>}</dd>
      <dt className="text-slate-600 dark:text-slate-400">CHAP secret</dt>
      <dd><SetOrNot set={chap.passwordSet} testId="chap-secret-state" /></dd>
      <dt className="text-slate-600 dark:text-slate-400">Mutual user</dt>
      <dd className="font-mono break-all">{chap.mutualUserid ?? <span className="font-sans text-slate-500">none</span>}</dd>
      <dt className="text-slate-600 dark:text-slate-400">Mutual secret</dt>
      <dd><SetOrNot set={chap.mutualPasswordSet} testId="chap-mutual-state" /></dd>
    </dl>
  );
}

/**
 * Sets or clears CHAP. Saving replaces the credentials as a whole (as targetcli's set auth does),
 * so the secret is asked for again whenever anything changes.
 */
export function ChapEditor({
  chap,
  who,
  affects,
  save,
  busy,
  offerRequire,
}: {
  chap: ChapView;
  /** "iqn… on tpg1" or "tpg1 (demo mode)": for the texts. */
  who: string;
  /** What clearing does to logins and live sessions. */
  affects: ReactNode;
  save: (chap: Record<string, string>, prefix: string, requireChap: boolean) => Promise<unknown>;
  busy: boolean;
  /**
   * The TPG does not require CHAP: offer (checked) to require it in the same change, so that
   * credentials that are set are enforced. The text says who would be refused then.
   */
  offerRequire?: { tpg: string; note?: ReactNode };
}) {
  const [requireChap, setRequireChap] = useState(true);
  const [v, setV] = useState({ userid: chap.userid ?? "", password: "", mutualUserid: chap.mutualUserid ?? "", mutualPassword: "" });
  const [mutual, setMutual] = useState(Boolean(chap.mutualUserid));
  const [errors, setErrors] = useState<Errors>({});
  const [confirmClear, setConfirmClear] = useState(false);
  const [clearError, setClearError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const set = (k: keyof typeof v, value: string) => {
    setSaved(null);
    setV((x) => ({ ...x, [k]: value }));
    setErrors(({ [k]: _gone, form: _f, ...rest }) => rest);
  };
  const submit = async () => {
    const input: Record<string, string> = { userid: v.userid.trim(), password: v.password };
    if (mutual) Object.assign(input, { mutualUserid: v.mutualUserid.trim(), mutualPassword: v.mutualPassword });
    // An empty userid or secret is "missing", so the schema's "go together" rules speak.
    for (const k of Object.keys(input)) if (input[k] === "") delete input[k];
    if (!input.userid && !input.password) return setErrors({ userid: "required (use Clear to remove CHAP)" });
    try {
      const enforce = Boolean(offerRequire) && requireChap;
      await save(input, "chap.", enforce);
      setV((x) => ({ ...x, password: "", mutualPassword: "" }));
      setErrors({});
      setSaved(enforce ? `Credentials saved. ${offerRequire!.tpg} now requires CHAP.` : "Credentials saved.");
    } catch (e) {
      setErrors(e as Errors);
    }
  };
  const anySet = chap.passwordSet || chap.mutualPasswordSet || Boolean(chap.userid);
  return (
    <div className="space-y-4" data-testid="chap-editor">
      <ChapSummary chap={chap} />
      <form
        noValidate
        className="space-y-3 rounded-md border border-slate-200 p-3 dark:border-slate-800"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <p className="text-sm font-medium">{anySet ? "Change credentials" : "Set credentials"}</p>
        <div className="grid gap-3 sm:grid-cols-2">
          <Field label="CHAP user" hint="The name the initiator logs in with." error={errors.userid}>
            {(p) => <TextInput {...p} autoComplete="off" value={v.userid} onChange={(e) => set("userid", e.target.value)} />}
          </Field>
          <Field label="CHAP secret" hint={`${SECRET_RULE}${chap.passwordSet ? " Enter it again to change anything." : ""}`} error={errors.password}>
            {(p) => <TextInput {...p} type="password" autoComplete="new-password" value={v.password} onChange={(e) => set("password", e.target.value)} />}
          </Field>
        </div>
        <label className="flex items-start gap-2 text-sm">
          <input type="checkbox" className="mt-1" checked={mutual} onChange={(e) => (setMutual(e.target.checked), setSaved(null))} />
          <span>
            Mutual CHAP
            <span className="block text-xs text-slate-600 dark:text-slate-400">The target proves itself to the initiator too (the initiator must be configured with these).</span>
          </span>
        </label>
        {mutual && (
          <div className="grid gap-3 sm:grid-cols-2">
            <Field label="Mutual user" hint="The name the target answers with." error={errors.mutualUserid}>
              {(p) => <TextInput {...p} autoComplete="off" value={v.mutualUserid} onChange={(e) => set("mutualUserid", e.target.value)} />}
            </Field>
            <Field label="Mutual secret" hint={`${SECRET_RULE} Must differ from the CHAP secret.`} error={errors.mutualPassword}>
              {(p) => <TextInput {...p} type="password" autoComplete="new-password" value={v.mutualPassword} onChange={(e) => set("mutualPassword", e.target.value)} />}
            </Field>
          </div>
        )}
        {offerRequire && (
          <label className="flex items-start gap-2 text-sm">
            <input type="checkbox" className="mt-1" checked={requireChap} onChange={(e) => (setRequireChap(e.target.checked), setSaved(null))} data-testid="chap-require" />
            <span>
              Require CHAP on {offerRequire.tpg} (authentication = 1)
              <span className="block text-xs text-slate-600 dark:text-slate-400">
                Without it these credentials are used only when the initiator offers CHAP: an initiator that does not logs in without them. {offerRequire.note}
              </span>
            </span>
          </label>
        )}
        {errors.form && <Alert tone="bad">{errors.form}</Alert>}
        <div className="flex flex-wrap items-center gap-2">
          <Button type="submit" tone="primary" busy={busy} data-testid="chap-save">
            Save credentials
          </Button>
          {anySet && (
            <Button tone="ghost" onClick={() => (setClearError(null), setConfirmClear(true))}>
              Clear CHAP
            </Button>
          )}
          {saved && <span role="status" className="text-sm text-emerald-700 dark:text-emerald-400">{saved}</span>}
        </div>
      </form>
      <ConfirmDialog
        open={confirmClear}
        onClose={() => setConfirmClear(false)}
        title="Clear the CHAP credentials?"
        confirmLabel="Clear CHAP"
        busy={busy}
        error={clearError}
        onConfirm={() =>
          void save({}, "chap.", false).then(
            () => (setConfirmClear(false), setV({ userid: "", password: "", mutualUserid: "", mutualPassword: "" }), setMutual(false), setSaved("Credentials cleared.")),
            (e: Errors) => setClearError(Object.values(e)[0] ?? "refused"),
          )
        }
      >
        <p className="text-sm">The user and secrets of {who} are removed.</p>
        {affects}
      </ConfirmDialog>
    </div>
  );
}

function liveNote(sessions: Session[], initiator?: string): ReactNode {
  const mine = initiator ? sessions.filter((s) => s.initiatorName === initiator) : sessions;
  if (!mine.length) return <p className="text-sm text-slate-600 dark:text-slate-400">No session is logged in now.</p>;
  return (
    <Alert tone="warn" title={`${mine.length} live session${mine.length > 1 ? "s" : ""}`}>
      They stay logged in; their next login (a reconnect, a reboot) uses the new settings.
    </Alert>
  );
}

/** An ACL's CHAP, tag (initiator group), cmdsn_depth and attributes, in one dialog. */
export function AclEditDialog({
  wwn,
  tag,
  initiatorName,
  authRequired,
  sessions,
  onClose,
}: {
  wwn: string;
  tag: number;
  initiatorName: string;
  authRequired: boolean;
  sessions: Session[];
  onClose: () => void;
}) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const acl = useQuery(trpc.targets.acls.get.queryOptions({ wwn, tag, initiatorName }));
  const setAuth = useMutation(trpc.targets.acls.setAuth.mutationOptions());
  const update = useMutation(trpc.targets.acls.update.mutationOptions());
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Errors>({});
  const [saved, setSaved] = useState(false);
  const body = () => {
    if (!acl.isSuccess) return <QueryStatus query={acl} />;
    const a = acl.data;
    const val = (k: string, cur: string) => draft[k] ?? cur;
    const edit = (k: string, value: string) => {
      setSaved(false);
      setDraft((d) => ({ ...d, [k]: value }));
      setErrors(({ [k]: _gone, form: _f, ...rest }) => rest);
    };
    const submit = () => {
      const attributes: Record<string, number> = {};
      for (const k of Object.keys(a.attributes)) {
        const d = draft[`attr.${k}`];
        if (d !== undefined && d !== String(a.attributes[k])) attributes[k] = d.trim() === "" ? Number.NaN : Number(d.trim());
      }
      const aclTagDraft = draft.aclTag;
      const depthDraft = draft.cmdsnDepth;
      const input = {
        wwn,
        tag,
        initiatorName,
        aclTag: aclTagDraft === undefined || aclTagDraft === (a.aclTag ?? "") ? undefined : aclTagDraft.trim() === "" ? null : aclTagDraft.trim(),
        cmdsnDepth: depthDraft === undefined || depthDraft === String(a.cmdsnDepth) ? undefined : depthDraft.trim() === "" ? Number.NaN : Number(depthDraft.trim()),
        attributes: Object.keys(attributes).length ? attributes : undefined,
      };
      const map = (e: Errors) => Object.fromEntries(Object.entries(e).map(([k, v]) => [k.startsWith("attributes.") ? `attr.${k.slice(11)}` : k in a.attributes ? `attr.${k}` : k, v]));
      const r = updateNodeAclSchema.safeParse(input);
      if (!r.success) return setErrors(map(zodErrors(r.error)));
      update.mutate(r.data, {
        onSuccess: async () => (await qc.invalidateQueries(), setDraft({}), setErrors({}), setSaved(true)),
        onError: (e) => setErrors(map(serverErrors(e))),
      });
    };
    return (
      <>
        <section aria-labelledby="acl-chap-h" className="space-y-2">
          <h3 id="acl-chap-h" className="font-semibold">CHAP</h3>
          <p className="text-sm text-slate-600 dark:text-slate-400">
            {authRequired ? "This TPG requires CHAP (authentication = 1): without credentials this initiator cannot log in." : "This TPG does not require CHAP (authentication = 0); credentials set here are used only when the initiator offers CHAP."}
          </p>
          {!authRequired && a.chap.passwordSet && (
            <Alert tone="warn" testId="chap-not-enforced">
              These credentials are not enforced: tpg{tag} does not require CHAP, so {initiatorName} can log in without them.
            </Alert>
          )}
          <ChapEditor
            chap={a.chap}
            who={initiatorName}
            busy={setAuth.isPending}
            offerRequire={authRequired ? undefined : { tpg: `tpg${tag}`, note: "Other initiators of this TPG without credentials are then refused." }}
            affects={
              <>
                {authRequired && <Alert tone="warn">CHAP is required on this TPG: {initiatorName} will not be able to log in again until credentials are set.</Alert>}
                {liveNote(sessions, initiatorName)}
              </>
            }
            save={(chap, prefix, requireChap) => {
              const r = setNodeAclAuthSchema.safeParse({ wwn, tag, initiatorName, chap, requireChap: requireChap || undefined });
              if (!r.success) return Promise.reject(rekey(zodErrors(r.error), {}, prefix));
              return setAuth.mutateAsync(r.data).then(
                () => qc.invalidateQueries(),
                (e: unknown) => {
                  throw rekey(serverErrors(e), {}, prefix);
                },
              );
            }}
          />
        </section>
        <form
          noValidate
          className="space-y-3 border-t border-slate-200 pt-4 dark:border-slate-800"
          onSubmit={(e) => {
            e.preventDefault();
            submit();
          }}
        >
          <h3 className="font-semibold">Settings</h3>
          <div className="grid gap-3 sm:grid-cols-2">
            <Field label="Tag (initiator group)" hint="ACLs with the same tag form a group (targetcli's tag); empty removes it." error={errors.aclTag}>
              {(p) => <TextInput {...p} value={val("aclTag", a.aclTag ?? "")} onChange={(e) => edit("aclTag", e.target.value)} />}
            </Field>
            <Field label="cmdsn_depth" hint="Commands this initiator may have outstanding per session, 1..512; applies at its next login." error={errors.cmdsnDepth}>
              {(p) => <TextInput {...p} inputMode="numeric" value={val("cmdsnDepth", String(a.cmdsnDepth))} onChange={(e) => edit("cmdsnDepth", e.target.value)} />}
            </Field>
          </div>
          <DataTable label="ACL attributes">
            <TableHead columns={["Attribute", "Value", "Meaning"]} />
            <tbody>
              {Object.entries(a.attributes)
                .sort(([x], [y]) => x.localeCompare(y))
                .map(([k, v]) => {
                  const id = `acl-attr-${k}`;
                  const err = errors[`attr.${k}`];
                  const range = nodeAclAttributeRanges[k];
                  return (
                    <tr key={k}>
                      <td className={`${td} font-mono text-xs`}>
                        <label htmlFor={id}>{k}</label>
                      </td>
                      <td className={td}>
                        {range?.[0] === 0 && range[1] === 1 ? (
                          <Switch id={id} invalid={Boolean(err)} describedBy={err ? `${id}-error` : undefined} checked={val(`attr.${k}`, String(v)) === "1"} onChange={(on) => edit(`attr.${k}`, on ? "1" : "0")} />
                        ) : (
                          <>
                            <TextInput
                              id={id}
                              inputMode="numeric"
                              aria-invalid={err ? true : undefined}
                              aria-describedby={err ? `${id}-error` : `${id}-range`}
                              className="!w-24 !py-1 font-mono"
                              value={val(`attr.${k}`, String(v))}
                              onChange={(e) => edit(`attr.${k}`, e.target.value)}
                            />
                            {range && <span id={`${id}-range`} className="mt-1 block text-xs text-slate-500">{range[0]}..{range[1]}</span>}
                          </>
                        )}
                        {err && (
                          <p id={`${id}-error`} role="alert" data-testid="field-error" className="mt-1 max-w-[12rem] text-xs font-medium text-red-700 dark:text-red-400">
                            {err}
                          </p>
                        )}
                      </td>
                      <td className={`${td} text-xs text-slate-600 dark:text-slate-400`}>{NODE_ACL_ATTRIBUTES[k] ?? ""}</td>
                    </tr>
                  );
                })}
            </tbody>
          </DataTable>
          {errors.form && <Alert tone="bad">{errors.form}</Alert>}
          <div className="flex flex-wrap items-center gap-2">
            <Button type="submit" tone="primary" busy={update.isPending} data-testid="acl-settings-save">
              Save settings
            </Button>
            <SavedNote show={saved} />
          </div>
        </form>
      </>
    );
  };
  return (
    <Dialog open onClose={onClose} title={`Initiator ${initiatorName}`} wide>
      {body()}
    </Dialog>
  );
}

/** One mapped LUN's write protection, as a toggle (aria-pressed), confirmed when it takes writes away from a live session. */
export function WriteProtectToggle({
  wwn,
  tag,
  initiatorName,
  index,
  writeProtect,
  live,
}: {
  wwn: string;
  tag: number;
  initiatorName: string;
  index: number;
  writeProtect: boolean;
  live: boolean;
}) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [confirm, setConfirm] = useState(false);
  const m = useMutation(trpc.targets.mappedLuns.setWriteProtect.mutationOptions());
  const apply = (wp: boolean) => m.mutate({ wwn, tag, initiatorName, index, writeProtect: wp }, { onSuccess: async () => (await qc.invalidateQueries(), setConfirm(false)) });
  return (
    <>
      <button
        type="button"
        aria-pressed={writeProtect}
        aria-label={`LUN ${index} read-only for ${initiatorName}`}
        title={writeProtect ? "Read-only: click to allow writes" : "Writable: click to make read-only"}
        disabled={m.isPending}
        data-testid="write-protect"
        onClick={() => (m.reset(), !writeProtect && live ? setConfirm(true) : apply(!writeProtect))}
        className={`ml-1 rounded border px-1.5 py-0.5 text-[11px] font-medium focus-visible:outline-2 focus-visible:outline-sky-600 ${writeProtect ? "border-amber-400 bg-amber-100 text-amber-900 dark:bg-amber-900/40 dark:text-amber-200" : "border-slate-300 bg-white text-slate-700 dark:border-slate-600 dark:bg-slate-900 dark:text-slate-200"}`}
      >
        {writeProtect ? "read-only" : "read-write"}
      </button>
      {m.isError && !confirm && <span role="alert" className="text-red-700">{errorMessage(m.error)}</span>}
      <ConfirmDialog
        open={confirm}
        onClose={() => setConfirm(false)}
        title={`Make LUN ${index} read-only for this initiator?`}
        confirmLabel="Make read-only"
        busy={m.isPending}
        error={m.error ? errorMessage(m.error) : null}
        onConfirm={() => apply(true)}
      >
        <p className="text-sm">
          <span className="font-mono break-all">{initiatorName}</span> is logged in now: its next writes to LUN {index} fail with DATA PROTECT, which file systems on that host may treat as a disk error.
        </p>
      </ConfirmDialog>
    </>
  );
}

/** A TPG's iSCSI parameters (RFC 7143 keys) with their allowed values; changes apply to new logins. */
export function ParametersCard({ wwn, tag, sessions }: { wwn: string; tag: number; sessions: Session[] }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const tpg = useQuery(trpc.targets.tpgs.get.queryOptions({ wwn, tag }));
  const save = useMutation(trpc.targets.tpgs.setParameters.mutationOptions());
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Errors>({});
  const [saved, setSaved] = useState(false);
  if (!tpg.isSuccess) return <Card title="iSCSI parameters"><QueryStatus query={tpg} /></Card>;
  const params = tpg.data.parameters;
  const changed = Object.entries(draft).filter(([k, v]) => params[k] !== v);
  const submit = () => {
    const r = setTpgParametersSchema.safeParse({ wwn, tag, parameters: Object.fromEntries(changed) });
    const strip = (e: Errors) => rekey(e, {}, "parameters.");
    if (!r.success) return setErrors(strip(zodErrors(r.error)));
    save.mutate(r.data, { onSuccess: async () => (await qc.invalidateQueries(), setDraft({}), setErrors({}), setSaved(true)), onError: (e) => setErrors(strip(serverErrors(e))) });
  };
  return (
    <Card
      title="iSCSI parameters"
      id="tpg-parameters"
      actions={<DraftActions changes={changed.length} busy={save.isPending} onSave={submit} onDiscard={() => (setDraft({}), setErrors({}))} testId="save-parameters" />}
    >
      <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">
        The target&apos;s side of login negotiation (RFC 7143). Changes apply to the next login; {sessions.length ? `the ${sessions.length} live session${sessions.length > 1 ? "s keep" : " keeps"} what it negotiated.` : "no session is logged in now."}
      </p>
      {saved && !changed.length && <p role="status" className="mb-2 text-sm text-emerald-700 dark:text-emerald-400">Saved.</p>}
      {errors.form && <Alert tone="bad">{errors.form}</Alert>}
      <DataTable label="iSCSI parameters">
        <TableHead columns={["Parameter", "Value", "Allowed", "Meaning"]} />
        <tbody>
          {Object.keys(params)
            .map((k) => [k, params[k]] as const)
            .map(([k, v]) => {
              const rule = tpgParameterRules[k];
              const id = `param-${k}`;
              const err = errors[k];
              const value = draft[k] ?? v;
              const common = {
                id,
                "aria-invalid": err ? true : undefined,
                "aria-describedby": err ? `${id}-error` : undefined,
                onChange: (e: { target: { value: string } }) => {
                  const nv = e.target.value;
                  setSaved(false);
                  setDraft((d) => ({ ...d, [k]: nv }));
                  setErrors(({ [k]: _gone, form: _f, ...rest }) => rest);
                },
              };
              const choices = tpgParameterChoices(k);
              return (
                <tr key={k} data-testid="tpg-parameter" data-name={k}>
                  <td className={`${td} font-mono text-xs`}>
                    <label htmlFor={id}>{k}</label>
                  </td>
                  <td className={td}>
                    {rule?.kind === "fixed" ? (
                      <span id={id} className="font-mono text-xs">{v}</span>
                    ) : choices ? (
                      <Select {...common} className="!w-36 !py-1 font-mono" value={value}>
                        {[...new Set([value, ...choices])].map((c) => (
                          <option key={c} value={c}>{c}</option>
                        ))}
                      </Select>
                    ) : (
                      <TextInput {...common} className={`${rule?.kind === "number" ? "!w-32" : "!w-48"} !py-1 font-mono`} inputMode={rule?.kind === "number" ? "numeric" : undefined} value={value} />
                    )}
                    {err && (
                      <p id={`${id}-error`} role="alert" data-testid="field-error" className="mt-1 max-w-xs text-xs font-medium text-red-700 dark:text-red-400">
                        {err}
                      </p>
                    )}
                  </td>
                  <td className={`${td} text-xs text-slate-600 dark:text-slate-400`}>{describeTpgParameter(k)}</td>
                  <td className={`${td} text-xs text-slate-600 dark:text-slate-400`}>
                    {TPG_PARAMETERS[k] ?? ""}
                    {rule?.kind === "fixed" && <span className="block italic">Fixed: {rule.why}.</span>}
                  </td>
                </tr>
              );
            })}
        </tbody>
      </DataTable>
    </Card>
  );
}

/** TPG-wide CHAP: what demo-mode initiators (no ACL of their own) must log in with. */
export function TpgChapCard({ wwn, tag, demoMode, authRequired, sessions }: { wwn: string; tag: number; demoMode: boolean; authRequired: boolean; sessions: Session[] }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const tpg = useQuery(trpc.targets.tpgs.get.queryOptions({ wwn, tag }));
  const setAuth = useMutation(trpc.targets.tpgs.setAuth.mutationOptions());
  return (
    <Card title="TPG CHAP (demo mode)" id="tpg-chap">
      <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">
        In demo mode (generate_node_acls = 1) initiators without an ACL of their own log in with these credentials.
        {demoMode ? " Demo mode is on for this TPG." : " Demo mode is off for this TPG, so these apply only once it is turned on (Attributes tab)."}
      </p>
      {!tpg.isSuccess ? (
        <QueryStatus query={tpg} />
      ) : (
        <ChapEditor
          chap={tpg.data.chap}
          who={`tpg${tag}`}
          busy={setAuth.isPending}
          offerRequire={authRequired || !demoMode ? undefined : { tpg: `tpg${tag}`, note: "Initiators with an ACL of their own then need credentials on it." }}
          affects={
            <>
              {demoMode && authRequired && <Alert tone="warn">CHAP is required and demo mode is on: initiators without an ACL will not be able to log in.</Alert>}
              {liveNote(sessions)}
            </>
          }
          save={(chap, prefix, requireChap) => {
            const r = setTpgAuthSchema.safeParse({ wwn, tag, chap, requireChap: requireChap || undefined });
            if (!r.success) return Promise.reject(rekey(zodErrors(r.error), {}, prefix));
            return setAuth.mutateAsync(r.data).then(
              () => qc.invalidateQueries(),
              (e: unknown) => {
                throw rekey(serverErrors(e), {}, prefix);
              },
            );
          }}
        />
      )}
    </Card>
  );
}
