"use client";
/**
 * The onboarding wizard. The step is in the URL (?step=N); answers live in this
 * component (and sessionStorage, without passwords and secrets) so Back/Next keep
 * them. Each step validates with its zod schema, then with the server's checks;
 * "Create" sends everything in one request that creates all of it or nothing.
 */
import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter, useSearchParams } from "next/navigation";
import { useEffect, useRef, useState, type ReactNode } from "react";
import { adminAccountSchema } from "@/server/auth/schemas";
import { aclTagSchema } from "@/server/api/schemas/common";
import { applianceSchema, onboardingAccessSchema, onboardingStorageSchema, onboardingTargetSchema, TARGET_PRESETS, targetStorageSchema, type TargetPreset } from "@/server/console/schemas";
import { BlockDeviceOptions, engineCodeOf, formatBytes, newTargetName, serverErrors, sizeToBytes, SizeInput, zodErrors, type Errors, type SizeValue } from "../form";
import { getSetupCode, setSetupCode } from "../setup-code";
import { useTRPC } from "../trpc";
import { Alert, Button, Card, Checkbox, Field, LinkButton, LoadingState, QueryStatus, RadioCards, Select, Steps, TextInput } from "../ui";
import { ConnectionInstructions } from "./instructions";

const STEPS = ["Admin", "Appliance", "Storage", "Target", "Access", "Review", "Create", "Connect"];
/** The New target wizard is the same flow from the storage step on (no admin, no appliance name). */
const FIRST_TARGET_STEP = 3;
const STEP_OF: Record<string, number> = { admin: 1, appliance: 2, storage: 3, target: 4, access: 5 };

type Kind = "ramdisk" | "fileio" | "block" | "none" | "existing";
export type WizardMode = "onboarding" | "target";
interface Initiator {
  name: string;
  auth: "none" | "chap" | "mutual";
  userid: string;
  password: string;
  mutualUserid: string;
  mutualPassword: string;
}
interface State {
  admin: { username: string; password: string; confirm: string };
  appliance: { name: string; iqnPrefix: string };
  storage: {
    kind: Kind;
    name: string;
    size: SizeValue;
    dev: string;
    fileMode: "new" | "existing";
    device: string;
    existing: string;
    preset: TargetPreset;
    /** A sparse file beyond the free space, confirmed (offered once the server refused it as over-commit). */
    overcommit?: boolean;
    offerOvercommit?: boolean;
  };
  target: { wwn: string; ip: string; port: string };
  access: { mode: "open" | "acls"; initiators: Initiator[]; aclTag: string; networks: string };
}
const SECRET_KEYS = new Set(["password", "confirm", "mutualPassword"]);
const STORAGE_KEYS: Record<WizardMode, string> = { onboarding: "portico.onboarding", target: "portico.target-wizard" };

const emptyInitiator = (): Initiator => ({ name: "", auth: "none", userid: "", password: "", mutualUserid: "", mutualPassword: "" });

function initialState(): State {
  return {
    admin: { username: "admin", password: "", confirm: "" },
    appliance: { name: "", iqnPrefix: "" },
    storage: { kind: "ramdisk", name: "disk0", size: { amount: "1", unit: "GiB" }, dev: "", fileMode: "new", device: "", existing: "", preset: "other" },
    target: { wwn: "", ip: "0.0.0.0", port: "3260" },
    access: { mode: "open", initiators: [emptyInitiator()], aclTag: "", networks: "" },
  };
}

/** The storage step as the API's schema reads it. */
function storageInput(s: State["storage"]) {
  if (s.kind === "none") return { kind: "none" as const };
  if (s.kind === "existing") return { kind: "existing" as const, path: s.existing };
  if (s.kind === "ramdisk") return { kind: "ramdisk" as const, name: s.name.trim(), size: sizeToBytes(s.size) };
  if (s.kind === "fileio") {
    const newFile = s.fileMode === "new";
    return { kind: "fileio" as const, name: s.name.trim(), dev: s.dev.trim(), size: newFile ? sizeToBytes(s.size) : undefined, ...(newFile && s.overcommit ? { overcommit: true } : {}) };
  }
  return { kind: "block" as const, name: s.name.trim(), dev: s.device };
}
const targetInput = (t: State["target"]) => ({ wwn: t.wwn, ip: t.ip, port: t.port.trim() === "" ? Number.NaN : Number(t.port) });
function accessInput(a: State["access"]) {
  if (a.mode === "open") return { mode: "open" as const };
  return {
    mode: "acls" as const,
    initiators: a.initiators.map((i) => ({
      name: i.name,
      auth: i.auth,
      ...(i.auth !== "none" ? { userid: i.userid, password: i.password } : {}),
      ...(i.auth === "mutual" ? { mutualUserid: i.mutualUserid, mutualPassword: i.mutualPassword } : {}),
    })),
  };
}

function stripSecrets<T>(v: T): T {
  return JSON.parse(JSON.stringify(v, (k, val) => (SECRET_KEYS.has(k) ? "" : val))) as T;
}

/** The allowed networks field: one network per line or separated by commas. */
const networksOf = (text: string) => text.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

export function OnboardingWizard({ mode = "onboarding" }: { mode?: WizardMode } = {}) {
  const forTarget = mode === "target";
  const base = forTarget ? "/targets/new" : "/onboarding";
  const STORAGE_KEY = STORAGE_KEYS[mode];
  const trpc = useTRPC();
  const router = useRouter();
  const params = useSearchParams();
  const step = Math.min(8, Math.max(forTarget ? FIRST_TARGET_STEP : 1, Number(params.get("step") ?? 1) || 1));
  const [state, setState] = useState<State>(initialState);
  const [errors, setErrors] = useState<Errors>({});
  const [created, setCreated] = useState<{ wwn: string; ip: string; port: number; chapUser?: string; notHonoured: string[] } | null>(null);
  const loaded = useRef(false);
  const heading = useRef<HTMLHeadingElement>(null);

  const status = useQuery(trpc.onboarding.status.queryOptions());
  // Off loopback, nothing but the status answers until the one-time setup code is entered (server/auth/setup-code.ts).
  const [setupCode, setSetupCodeInput] = useState("");
  const [codeOk, setCodeOk] = useState(false);
  useEffect(() => setCodeOk(Boolean(getSetupCode())), []);
  const needCode = !forTarget && Boolean(status.data?.setupCodeRequired) && !codeOk;
  const defaults = useQuery({ ...trpc.onboarding.defaults.queryOptions(), enabled: forTarget || (status.data?.onboarded === false && !needCode) || step === 8 });
  // The New target wizard names targets with the appliance's prefix and may reuse storage objects.
  const host = useQuery({ ...trpc.host.info.queryOptions(), enabled: forTarget });
  const choices = useQuery({ ...trpc.targetWizard.storageChoices.queryOptions(), enabled: forTarget });

  // Restore answers kept across reloads (never the passwords), then fill in the machine's defaults.
  useEffect(() => {
    if (loaded.current) return;
    loaded.current = true;
    // Opening New target afresh starts a new wizard, not the last one's answers.
    if (forTarget && !params.get("step")) {
      sessionStorage.removeItem(STORAGE_KEY);
      return;
    }
    try {
      const saved = sessionStorage.getItem(STORAGE_KEY);
      if (saved) {
        const s = JSON.parse(saved) as { state?: State; created?: typeof created };
        // access merged field by field: a copy kept by an older console may lack a field (aclTag was `group`).
        if (s.state) setState((cur) => ({ ...cur, ...s.state, access: { ...cur.access, ...s.state?.access } }));
        if (s.created) setCreated(s.created);
      }
    } catch {
      /* a broken copy is ignored */
    }
  }, []);
  useEffect(() => {
    if (!loaded.current) return;
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ state: stripSecrets(state), created }));
  }, [state, created]);
  useEffect(() => {
    const d = defaults.data;
    if (!d) return;
    setState((s) => ({
      ...s,
      appliance: { name: s.appliance.name || d.hostname, iqnPrefix: s.appliance.iqnPrefix || d.iqnPrefix },
      // A file path defaults from the name, in the storage directory (never the data directory: the engine refuses it).
      storage: { ...s.storage, dev: s.storage.dev || (d.fileDir ? `${d.fileDir}/${s.storage.name || "disk0"}.img` : "") },
    }));
  }, [defaults.data]);
  useEffect(() => {
    // A storage name (and file) no object uses yet: disk1, disk2…
    const taken = new Set((choices.data ?? []).map((c) => c.name));
    if (!forTarget || !choices.data || !taken.has(state.storage.name)) return;
    let n = 1;
    while (taken.has(`disk${n}`)) n++;
    const dir = defaults.data?.fileDir;
    setState((s) => ({ ...s, storage: { ...s.storage, name: `disk${n}`, dev: dir ? `${dir}/disk${n}.img` : s.storage.dev } }));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [choices.data, defaults.data]);
  useEffect(() => {
    const prefix = host.data?.appliance.iqnPrefix;
    if (prefix) setState((s) => ({ ...s, appliance: { ...s.appliance, iqnPrefix: prefix } }));
  }, [host.data]);
  useEffect(() => {
    heading.current?.focus();
  }, [step]);

  const go = (n: number) => router.push(`${base}?step=${n}`, { scroll: false });
  const update = <K extends keyof State>(key: K, patch: Partial<State[K]>) => {
    setState((s) => ({ ...s, [key]: { ...s[key], ...patch } }));
    setErrors((e) => {
      const out: Errors = {};
      for (const [k, v] of Object.entries(e)) if (!Object.keys(patch).some((p) => k === `${key}.${p}` || k.startsWith(`${key}.${p}.`)) && k !== "form") out[k] = v;
      return out;
    });
  };

  const checkStorage = useMutation(trpc.onboarding.checkStorage.mutationOptions());
  const checkTarget = useMutation(trpc.onboarding.checkTarget.mutationOptions());
  const complete = useMutation(trpc.onboarding.complete.mutationOptions());
  const checkTargetStorage = useMutation(trpc.targetWizard.checkStorage.mutationOptions());
  const createTarget = useMutation(trpc.targetWizard.create.mutationOptions());
  const creating = complete.isPending || createTarget.isPending;
  const checkSetupCode = useMutation(trpc.onboarding.checkSetupCode.mutationOptions());

  if (!status.isSuccess) return <QueryStatus query={status} />;
  if (!forTarget && status.data.onboarded && step < 8) {
    return (
      <Card>
        <p className="mb-3">This appliance is already set up.</p>
        <LinkButton tone="primary" href="/login">
          Sign in
        </LinkButton>
      </Card>
    );
  }

  const validateStep = (n: number): Errors | undefined => {
    const parse = (schema: { safeParse: (v: unknown) => { success: boolean; error?: { issues: unknown[] } } }, value: unknown, prefix: string) => {
      const r = (schema as typeof onboardingStorageSchema).safeParse(value);
      return r.success ? undefined : zodErrors(r.error, prefix);
    };
    if (n === 1) return parse(adminAccountSchema, state.admin, "admin.");
    if (n === 2) return parse(applianceSchema, state.appliance, "appliance.");
    if (n === 3) return parse(forTarget ? targetStorageSchema : onboardingStorageSchema, storageInput(state.storage), "storage.");
    if (state.storage.kind === "none") return undefined;
    if (n === 4) return parse(onboardingTargetSchema, targetInput(state.target), "target.");
    if (n === 5) {
      const e = parse(onboardingAccessSchema, accessInput(state.access), "access.") ?? {};
      if (forTarget) {
        const g = state.access.aclTag.trim() ? aclTagSchema.safeParse(state.access.aclTag) : undefined;
        if (g && !g.success) e["access.aclTag"] = g.error.issues[0].message;
        const bad = networksOf(state.access.networks).find((x) => !/^((\d{1,3}\.){3}\d{1,3}(\/\d{1,2})?|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*(\/\d{1,3})?)$/.test(x));
        if (bad) e["access.networks"] = `${bad} is not a network like 192.168.1.0/24 or fd00::/64`;
      }
      return Object.keys(e).length ? e : undefined;
    }
    return undefined;
  };

  const next = async () => {
    if (step === 1 && needCode) {
      if (!setupCode.trim()) return setErrors({ setupCode: "required: the start-up log and the setup-code file in the data directory show it" });
      try {
        await checkSetupCode.mutateAsync({ code: setupCode.trim() });
      } catch (err) {
        return setErrors(serverErrors(err));
      }
      setSetupCode(setupCode.trim());
      setCodeOk(true);
    }
    const e = validateStep(step);
    if (e) {
      setErrors(e);
      return;
    }
    try {
      if (step === 3) await (forTarget ? checkTargetStorage : checkStorage).mutateAsync(storageInput(state.storage) as never);
      if (step === 4) await checkTarget.mutateAsync(targetInput(state.target));
    } catch (err) {
      if (engineCodeOf(err) === "overcommit") setState((s) => ({ ...s, storage: { ...s.storage, offerOvercommit: true } }));
      setErrors(serverErrors(err));
      return;
    }
    setErrors({});
    if (step === 3 && state.storage.kind === "none") return go(6);
    if (step === 3 && !state.target.wwn) update("target", { wwn: newTargetName(state.appliance.iqnPrefix) });
    go(step + 1);
  };
  const back = () => go(step === 6 && state.storage.kind === "none" ? 3 : step - 1);

  const create = async () => {
    for (const n of forTarget ? [3, 4, 5] : [1, 2, 3, 4, 5]) {
      const e = validateStep(n);
      if (e) {
        setErrors(e);
        return go(n);
      }
    }
    go(7);
    const none = state.storage.kind === "none";
    const chapUser = state.access.mode === "acls" ? state.access.initiators.find((i) => i.auth !== "none")?.userid : undefined;
    if (forTarget) {
      try {
        const r = await createTarget.mutateAsync({
          preset: state.storage.preset,
          storage: storageInput(state.storage) as never,
          target: targetInput(state.target),
          access: accessInput(state.access) as never,
          aclTag: state.access.mode === "acls" && state.access.aclTag.trim() ? state.access.aclTag.trim() : undefined,
          allowedNetworks: networksOf(state.access.networks),
        });
        setCreated({ wwn: r.wwn, ip: r.ip, port: r.port, chapUser, notHonoured: r.notHonoured });
        setState((s) => stripSecrets(s));
        go(8);
      } catch (err) {
        const e = serverErrors(err);
        if (e.allowedNetworks) e["access.networks"] = e.allowedNetworks;
        setErrors(e);
        const field = Object.keys(e).find((k) => k !== "form");
        const owner = field ? STEP_OF[field.split(".")[0]] : undefined;
        if (owner) go(owner);
      }
      return;
    }
    try {
      const r = await complete.mutateAsync({
        admin: state.admin,
        appliance: state.appliance,
        storage: storageInput(state.storage) as never,
        target: none ? undefined : targetInput(state.target),
        access: none ? undefined : (accessInput(state.access) as never),
      });
      setCreated(r.target ? { wwn: r.target.wwn, ip: r.target.ip, port: r.target.port, chapUser, notHonoured: r.notHonoured } : { wwn: "", ip: "", port: 0, notHonoured: r.notHonoured });
      setState((s) => stripSecrets(s));
      setSetupCode(undefined); // used up: the appliance dropped it
      go(8);
    } catch (err) {
      const e = serverErrors(err);
      setErrors(e);
      const field = Object.keys(e).find((k) => k !== "form");
      const owner = field ? STEP_OF[field.split(".")[0]] : undefined;
      if (owner) go(owner);
    }
  };

  const navButtons = (nextLabel = "Next", onNext: () => void = () => void next()) => (
    <div className="mt-6 flex flex-wrap justify-between gap-2">
      {step > (forTarget ? FIRST_TARGET_STEP : 1) ? <Button onClick={back}>Back</Button> : forTarget ? <LinkButton href="/targets/new?empty=1">Create an empty target instead</LinkButton> : <span />}
      <Button tone="primary" onClick={onNext} busy={checkStorage.isPending || checkTargetStorage.isPending || checkTarget.isPending || checkSetupCode.isPending} data-testid="wizard-next">
        {nextLabel}
      </Button>
    </div>
  );
  const err = (k: string) => errors[k];
  const d = defaults.data;

  let body: ReactNode;
  if (step === 1) {
    body = (
      <>
        {status.data.setupCodeRequired && (
          <div className="space-y-2 rounded-md border border-sky-300 bg-sky-50 p-3 dark:border-sky-800 dark:bg-sky-950" data-testid="setup-code-box">
            {codeOk ? (
              <p role="status" className="text-sm">Setup code accepted.</p>
            ) : (
              <>
                <p className="text-sm">
                  Prove you run this appliance: enter the one-time setup code. Portico wrote it to the file <code>setup-code</code> in its data directory (readable by its owner only, e.g. <code>sudo cat data/setup-code</code>; the start-up line names the file) and prints it at start-up when it runs on a terminal.
                </p>
                <Field label="Setup code" hint="Like ABCD-EFGH-JKLM-NPQR; dashes and case do not matter." error={err("setupCode")}>
                  {(p) => (
                    <TextInput
                      {...p}
                      autoComplete="off"
                      spellCheck={false}
                      className="font-mono"
                      value={setupCode}
                      onChange={(e) => {
                        setSetupCodeInput(e.target.value);
                        setErrors(({ setupCode: _gone, ...rest }) => rest);
                      }}
                    />
                  )}
                </Field>
              </>
            )}
          </div>
        )}
        <p className="text-sm text-slate-600 dark:text-slate-400">The console will ask for this account from now on. Passwords are stored as scrypt hashes.</p>
        <Field label="User name" error={err("admin.username")}>
          {(p) => <TextInput {...p} autoComplete="username" value={state.admin.username} onChange={(e) => update("admin", { username: e.target.value })} />}
        </Field>
        <Field label="Password" hint="At least 10 characters." error={err("admin.password")}>
          {(p) => <TextInput {...p} type="password" autoComplete="new-password" value={state.admin.password} onChange={(e) => update("admin", { password: e.target.value })} />}
        </Field>
        <Field label="Confirm password" error={err("admin.confirm")}>
          {(p) => <TextInput {...p} type="password" autoComplete="new-password" value={state.admin.confirm} onChange={(e) => update("admin", { confirm: e.target.value })} />}
        </Field>
        {navButtons()}
      </>
    );
  } else if (step === 2) {
    body = (
      <>
        <Field label="Appliance name" hint="Shown in the console's header and browser tab." error={err("appliance.name")}>
          {(p) => <TextInput {...p} value={state.appliance.name} onChange={(e) => update("appliance", { name: e.target.value })} />}
        </Field>
        <Field
          label="IQN prefix for new targets"
          hint={
            <>
              New targets are named <code>{state.appliance.iqnPrefix || "…"}:sn.&lt;12 hex digits&gt;</code>, as targetcli names them.
            </>
          }
          error={err("appliance.iqnPrefix")}
        >
          {(p) => <TextInput {...p} className="font-mono" value={state.appliance.iqnPrefix} onChange={(e) => update("appliance", { iqnPrefix: e.target.value })} />}
        </Field>
        {navButtons()}
      </>
    );
  } else if (step === 3) {
    const s = state.storage;
    const kinds: { value: Kind; title: string; description: string }[] = [
      { value: "ramdisk", title: "RAM disk", description: "In memory: fast, emptied when the appliance stops. For trying things out." },
      { value: "fileio", title: "File", description: "A file on this machine's filesystem: a new one of a given size, or an existing image." },
      { value: "block", title: "Block device", description: "A whole disk or partition of this machine." },
      forTarget
        ? { value: "existing", title: "Existing storage object", description: "Storage this appliance already has; it keeps its settings." }
        : { value: "none", title: "Not now", description: "Only set up admin access; add storage and targets later." },
    ];
    body = (
      <>
        {forTarget && (
          <RadioCards
            legend="Who will use this target"
            name="preset"
            value={s.preset}
            onChange={(preset) => update("storage", { preset })}
            options={(Object.keys(TARGET_PRESETS) as TargetPreset[]).map((k) => ({ value: k, title: TARGET_PRESETS[k].title, description: TARGET_PRESETS[k].expects }))}
          />
        )}
        <RadioCards
          legend={forTarget ? "Where the disk's data lives" : "Where the first disk's data lives"}
          name="kind"
          value={s.kind}
          onChange={(kind) => update("storage", { kind })}
          options={kinds}
        />
        {s.kind === "existing" && (
          <Field label="Storage object" hint={s.preset !== "other" ? `Its attributes stay as they are: the ${TARGET_PRESETS[s.preset].title} preset applies to new storage only.` : undefined} error={err("storage.path")}>
            {(p) =>
              !choices.data ? (
                <LoadingState />
              ) : (
                <Select {...p} value={s.existing} onChange={(e) => update("storage", { existing: e.target.value })}>
                  <option value="">Choose a storage object…</option>
                  {choices.data.map((c) => (
                    <option key={c.path} value={c.path}>
                      {c.plugin}/{c.name} — {formatBytes(c.size)}
                      {c.usedBy.length ? ` — also LUN of ${c.usedBy.join(", ")}` : ""}
                    </option>
                  ))}
                </Select>
              )
            }
          </Field>
        )}
        {s.kind !== "none" && s.kind !== "existing" && (
          <Field label="Storage object name" hint="Up to 64 characters, no spaces or '/'." error={err("storage.name")}>
            {(p) => (
              <TextInput
                {...p}
                value={s.name}
                onChange={(e) => {
                  // The file path follows the name until it is edited.
                  const dir = d?.fileDir;
                  const follows = dir && (s.dev === "" || s.dev === `${dir}/${s.name}.img`);
                  update("storage", follows ? { name: e.target.value, dev: `${dir}/${e.target.value}.img` } : { name: e.target.value });
                }}
              />
            )}
          </Field>
        )}
        {s.kind === "fileio" && (
          <>
            <RadioCards
              legend="File"
              name="fileMode"
              value={s.fileMode}
              onChange={(fileMode) => update("storage", { fileMode })}
              options={[
                { value: "new", title: "Create a new file", description: "Sparse: space is used as data is written." },
                { value: "existing", title: "Use an existing file", description: "Its size is the disk's size; the data stays." },
              ]}
            />
            <Field
              label="File path"
              hint="An absolute path; its directory must exist. Named after the storage object until edited; never in system directories or the appliance's data directory."
              error={err("storage.dev")}
            >
              {(p) => <TextInput {...p} className="font-mono" value={s.dev} onChange={(e) => update("storage", { dev: e.target.value })} />}
            </Field>
          </>
        )}
        {(s.kind === "ramdisk" || (s.kind === "fileio" && s.fileMode === "new")) && (
          <Field label="Size" hint={s.kind === "ramdisk" ? "Taken from this machine's memory." : undefined} error={err("storage.size")}>
            {(p) => <SizeInput id={p.id} invalid={p["aria-invalid"]} describedBy={p["aria-describedby"]} value={s.size} onChange={(size) => update("storage", { size })} />}
          </Field>
        )}
        {s.kind === "fileio" && s.fileMode === "new" && s.offerOvercommit && (
          <Checkbox
            label="Over-commit: create the sparse file larger than the free space"
            hint="Initiator writes fail with no space once the file system is full."
            checked={Boolean(s.overcommit)}
            onChange={(overcommit) => update("storage", { overcommit, size: s.size })}
          />
        )}
        {s.kind === "block" && (
          <Field label="Device" hint="Devices that are mounted or already exported cannot be picked." error={err("storage.dev")}>
            {(p) =>
              !d ? (
                <LoadingState label="Reading /sys/class/block…" />
              ) : (
                <Select {...p} value={s.device} onChange={(e) => update("storage", { device: e.target.value, dev: e.target.value })}>
                  <BlockDeviceOptions devices={d.blockDevices} />
                </Select>
              )
            }
          </Field>
        )}
        {err("form") && <Alert tone="bad">{err("form")}</Alert>}
        {navButtons()}
      </>
    );
  } else if (step === 4) {
    const t = state.target;
    body = (
      <>
        <Field label="Target IQN" hint="Generated from the appliance's prefix; you may change it." error={err("target.wwn")}>
          {(p) => (
            <div className="flex gap-2">
              <TextInput {...p} className="font-mono" value={t.wwn} onChange={(e) => update("target", { wwn: e.target.value })} />
              <Button onClick={() => update("target", { wwn: newTargetName(state.appliance.iqnPrefix) })}>New name</Button>
            </div>
          )}
        </Field>
        <div className="grid gap-4 sm:grid-cols-[1fr_10rem]">
          <Field label="Portal address" hint="Initiators connect to this address of the appliance." error={err("target.ip")}>
            {(p) => (
              <Select {...p} value={t.ip} onChange={(e) => update("target", { ip: e.target.value })}>
                {(d?.addresses ?? [{ address: "0.0.0.0", interface: "all IPv4 addresses", family: "IPv4", internal: false }]).map((a) => (
                  <option key={`${a.interface}-${a.address}`} value={a.address}>
                    {a.address} — {a.interface}
                    {a.internal ? " (this machine only)" : ""}
                  </option>
                ))}
              </Select>
            )}
          </Field>
          <Field label="Port" hint="iSCSI uses 3260." error={err("target.port")}>
            {(p) => <TextInput {...p} inputMode="numeric" value={t.port} onChange={(e) => update("target", { port: e.target.value })} />}
          </Field>
        </div>
        {navButtons()}
      </>
    );
  } else if (step === 5) {
    const a = state.access;
    const setInit = (i: number, patch: Partial<Initiator>) => {
      const list = a.initiators.map((x, n) => (n === i ? { ...x, ...patch } : x));
      setState((s) => ({ ...s, access: { ...s.access, initiators: list } }));
      setErrors((e) => Object.fromEntries(Object.entries(e).filter(([k]) => !k.startsWith(`access.initiators.${i}.`) && k !== "form")));
    };
    body = (
      <>
        <RadioCards
          legend="Who may use the disk"
          name="mode"
          value={a.mode}
          onChange={(mode) => update("access", { mode })}
          options={[
            { value: "open", title: "Any initiator (demo mode)", description: "No list: every initiator that reaches the portal may read and write. For trusted networks and labs." },
            { value: "acls", title: "Only these initiators", description: "Name each initiator (its IQN); optionally with CHAP." },
          ]}
          error={err("access.initiators")}
        />
        {a.mode === "acls" && (
          <div className="space-y-4">
            {!d?.chap && (
              <Alert tone="info">This engine does not enforce CHAP yet, so CHAP cannot be chosen; initiators are admitted by name.</Alert>
            )}
            {a.initiators.map((ini, i) => (
              <fieldset key={i} className="space-y-3 rounded-lg border border-slate-200 p-3 dark:border-slate-800">
                <legend className="px-1 text-sm font-medium">Initiator {i + 1}</legend>
                <Field label="Initiator IQN" hint="On Linux: /etc/iscsi/initiatorname.iscsi. On Windows: iSCSI Initiator → Configuration." error={err(`access.initiators.${i}.name`)}>
                  {(p) => <TextInput {...p} className="font-mono" placeholder="iqn.1994-05.com.redhat:client1" value={ini.name} onChange={(e) => setInit(i, { name: e.target.value })} />}
                </Field>
                <Field label="Authentication" error={err(`access.initiators.${i}.auth`)}>
                  {(p) => (
                    <Select {...p} value={ini.auth} onChange={(e) => setInit(i, { auth: e.target.value as Initiator["auth"] })}>
                      <option value="none">None</option>
                      <option value="chap" disabled={!d?.chap}>
                        CHAP (the target checks the initiator)
                      </option>
                      <option value="mutual" disabled={!d?.chap}>
                        Mutual CHAP (both check each other)
                      </option>
                    </Select>
                  )}
                </Field>
                {ini.auth !== "none" && (
                  <div className="grid gap-3 sm:grid-cols-2">
                    <Field label="CHAP user" error={err(`access.initiators.${i}.userid`)}>
                      {(p) => <TextInput {...p} value={ini.userid} onChange={(e) => setInit(i, { userid: e.target.value })} />}
                    </Field>
                    <Field label="CHAP secret" hint="12–16 characters work everywhere." error={err(`access.initiators.${i}.password`)}>
                      {(p) => <TextInput {...p} type="password" autoComplete="off" value={ini.password} onChange={(e) => setInit(i, { password: e.target.value })} />}
                    </Field>
                  </div>
                )}
                {ini.auth === "mutual" && (
                  <div className="grid gap-3 sm:grid-cols-2">
                    <Field label="Target's CHAP user" error={err(`access.initiators.${i}.mutualUserid`)}>
                      {(p) => <TextInput {...p} value={ini.mutualUserid} onChange={(e) => setInit(i, { mutualUserid: e.target.value })} />}
                    </Field>
                    <Field label="Target's CHAP secret" error={err(`access.initiators.${i}.mutualPassword`)}>
                      {(p) => <TextInput {...p} type="password" autoComplete="off" value={ini.mutualPassword} onChange={(e) => setInit(i, { mutualPassword: e.target.value })} />}
                    </Field>
                  </div>
                )}
                {a.initiators.length > 1 && (
                  <Button tone="ghost" onClick={() => update("access", { initiators: a.initiators.filter((_, n) => n !== i) })}>
                    Remove initiator {i + 1}
                  </Button>
                )}
              </fieldset>
            ))}
            <Button onClick={() => update("access", { initiators: [...a.initiators, emptyInitiator()] })}>Add another initiator</Button>
          </div>
        )}
        {forTarget && a.mode === "acls" && (
          <Field label="Initiator group" hint="A tag on these initiators' ACLs (targetcli's set_tag), to manage them as a group. Optional." error={err("access.aclTag")}>
            {(p) => <TextInput {...p} placeholder="esxi-cluster-1" value={a.aclTag} onChange={(e) => update("access", { aclTag: e.target.value })} />}
          </Field>
        )}
        {forTarget && (
          <Field
            label="Allowed networks"
            hint="Logins from other addresses are refused (Authorization Failure) and logged. One network per line, like 192.168.10.0/24; empty allows any."
            error={err("access.networks")}
          >
            {(p) => (
              <textarea
                {...p}
                rows={3}
                className="block w-full rounded-md border border-slate-300 bg-white px-3 py-2 font-mono text-sm shadow-sm aria-[invalid=true]:border-red-600 dark:border-slate-700 dark:bg-slate-950"
                value={a.networks}
                onChange={(e) => update("access", { networks: e.target.value })}
              />
            )}
          </Field>
        )}
        {navButtons()}
      </>
    );
  } else if (step === 6 || step === 7) {
    const s = storageInput(state.storage);
    const existing = state.storage.kind === "existing" ? choices.data?.find((c) => c.path === state.storage.existing) : undefined;
    const rows: [string, ReactNode, number][] = forTarget
      ? [["Use", `${TARGET_PRESETS[state.storage.preset].title}${state.storage.kind === "existing" ? "" : `: ${TARGET_PRESETS[state.storage.preset].expects}`}`, 3]]
      : [
          ["Admin", state.admin.username, 1],
          ["Appliance", `${state.appliance.name} · targets named ${state.appliance.iqnPrefix}:sn.…`, 2],
        ];
    rows.push(
      [
        "Storage",
        s.kind === "none"
          ? "none for now"
          : s.kind === "ramdisk"
            ? `RAM disk ${s.name}, ${formatBytes(s.size ?? 0)}`
            : s.kind === "fileio"
              ? `file ${s.dev} as ${s.name}${s.size ? `, new, ${formatBytes(s.size)}` : ", existing"}`
              : s.kind === "existing"
                ? `existing ${s.path.replace("/backstores/", "")}${existing ? `, ${formatBytes(existing.size)}` : ""}`
                : `block device ${s.dev} as ${s.name}`,
        3,
      ],
    );
    if (s.kind !== "none") {
      rows.push(["Target", <span key="t" className="font-mono break-all">{state.target.wwn}</span>, 4]);
      rows.push(["Portal", `${state.target.ip}:${state.target.port}`, 4]);
      rows.push([
        "Access",
        state.access.mode === "open"
          ? "any initiator, read-write (demo mode)"
          : state.access.initiators.map((i) => `${i.name}${i.auth === "none" ? "" : i.auth === "chap" ? " (CHAP)" : " (mutual CHAP)"}`).join(", ") +
              (forTarget && state.access.aclTag.trim() ? ` · group ${state.access.aclTag.trim()}` : ""),
        5,
      ]);
      if (forTarget) rows.push(["Networks", networksOf(state.access.networks).join(", ") || "any address", 5]);
    }
    body = (
      <>
        <dl className="divide-y divide-slate-200 dark:divide-slate-800" data-testid="review">
          {rows.map(([k, v, n]) => (
            <div key={k} className="flex flex-wrap items-baseline gap-x-4 gap-y-1 py-2">
              <dt className="w-24 shrink-0 text-sm font-medium text-slate-600 dark:text-slate-400">{k}</dt>
              <dd className="min-w-0 flex-1 text-sm">{v}</dd>
              {step === 6 && (
                <Button tone="ghost" className="!px-2 !py-0.5 text-xs" onClick={() => go(n)} aria-label={`Change ${k}`}>
                  Change
                </Button>
              )}
            </div>
          ))}
        </dl>
        {step === 7 && creating && (
          <Alert tone="info">
            <span className="inline-flex items-center gap-2">Creating everything in one transaction…</span>
          </Alert>
        )}
        {err("form") && (
          <Alert tone="bad" title="Nothing was created" testId="create-error">
            {err("form")}
          </Alert>
        )}
        {step === 6 && navButtons("Create", () => void create())}
        {step === 7 && !creating && (
          <div className="mt-6 flex justify-between">
            <Button onClick={() => go(6)}>Back to review</Button>
          </div>
        )}
      </>
    );
  } else {
    body = created ? (
      <>
        <Alert tone="ok" title={forTarget ? "The target is ready" : "Your appliance is ready"} testId="onboarding-done">
          {created.wwn ? "The storage, target and portal are live." : "Admin access is set up."}
        </Alert>
        {created.notHonoured.length > 0 && <Alert tone="warn">Not applied: {created.notHonoured.join("; ")}</Alert>}
        {created.wwn && (
          <ConnectionInstructions wwn={created.wwn} />
        )}
        <div className="mt-6 flex justify-end">
          <Button
            tone="primary"
            onClick={() => {
              sessionStorage.removeItem(STORAGE_KEY);
              router.push(forTarget ? `/targets/${encodeURIComponent(created.wwn)}` : "/");
            }}
          >
            {forTarget ? "Open the target" : "Open the console"}
          </Button>
        </div>
      </>
    ) : (
      <LinkButton href="/" tone="primary">
        Open the console
      </LinkButton>
    );
  }

  return (
    <div>
      <Steps steps={forTarget ? STEPS.slice(FIRST_TARGET_STEP - 1) : STEPS} current={forTarget ? step - FIRST_TARGET_STEP + 1 : step} />
      <Card>
        <h2 ref={heading} tabIndex={-1} className="mb-4 text-xl font-semibold outline-none" data-testid="wizard-step-title">
          {forTarget ? step - FIRST_TARGET_STEP + 1 : step}. {["Create the admin account", "Name the appliance", forTarget ? "Storage" : "First storage", "Target and portal", "Access", "Review", "Create", "Connect an initiator"][step - 1]}
        </h2>
        <form
          className="space-y-4"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            if (step <= 5) void next();
            else if (step === 6) void create();
          }}
        >
          {body}
          <button type="submit" hidden aria-hidden tabIndex={-1} />
        </form>
      </Card>
    </div>
  );
}

