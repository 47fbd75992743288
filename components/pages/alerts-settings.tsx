"use client";
/**
 * Settings › Alerts: the rules and their thresholds, the webhook and the SMTP server,
 * a test delivery per channel, and what fires now. The form validates with the API's
 * schema (server/alerts/schemas.ts); the SMTP password is never read back.
 * Test ids: alerts-active, alert-row, alerts-recent, alerts-save, alerts-test-webhook, alerts-test-email, alerts-check.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { ALERT_RULE_TITLES, ALERT_RULES, alertSettingsSchema, type AlertRule, type AlertSettings } from "@/server/alerts/schemas";
import { errorMessage, serverErrors, zodErrors, type Errors } from "../form";
import { useTRPC } from "../trpc";
import { Alert, Badge, Button, Card, Checkbox, DataTable, EmptyState, ErrorState, Field, LoadingState, PageHeader, QueryStatus, Select, TableHead, TextInput, td } from "../ui";
import { fmtDateTime, fmtTime } from "../monitor/format";

type Draft = {
  rules: Record<AlertRule, Record<string, string | boolean>>;
  checkEverySeconds: string;
  webhook: { enabled: boolean; url: string };
  email: { enabled: boolean; host: string; port: string; security: "none" | "starttls" | "tls"; username: string; password: string; passwordSet: boolean; from: string; to: string };
};

const NUMBER_FIELDS: Record<AlertRule, { key: string; label: string; hint?: string }[]> = {
  storage_offline: [],
  storage_full: [
    { key: "freePercent", label: "Free space below (%)", hint: "Of the filesystem holding the file." },
    { key: "thinUsedPercent", label: "Thin LUN allocated at (%)", hint: "Of the LUN's size written to a sparse file." },
  ],
  portal_down: [],
  login_failures: [
    { key: "count", label: "Failures" },
    { key: "windowMinutes", label: "Within (minutes)" },
  ],
  high_latency: [{ key: "p99Ms", label: "p99 above (ms)", hint: "Over the last minute's seconds with IO." }],
};

const num = (v: string) => (v.trim() === "" ? Number.NaN : Number(v));

function toDraft(s: AlertSettings & { email: { passwordSet?: boolean } }): Draft {
  const rules = {} as Draft["rules"];
  for (const r of ALERT_RULES) rules[r] = Object.fromEntries(Object.entries(s.rules[r]).map(([k, v]) => [k, typeof v === "number" ? String(v) : v]));
  return {
    rules,
    checkEverySeconds: String(s.checkEverySeconds),
    webhook: { ...s.webhook },
    email: { ...s.email, port: String(s.email.port), password: "", passwordSet: Boolean(s.email.passwordSet) },
  };
}

function fromDraft(d: Draft): unknown {
  const rules: Record<string, Record<string, unknown>> = {};
  for (const r of ALERT_RULES) rules[r] = Object.fromEntries(Object.entries(d.rules[r]).map(([k, v]) => [k, typeof v === "string" ? num(v) : v]));
  const { passwordSet: _p, password, ...email } = d.email;
  return { rules, checkEverySeconds: num(d.checkEverySeconds), webhook: d.webhook, email: { ...email, port: num(email.port), password: password === "" ? undefined : password } };
}

export function AlertsSettings() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const settings = useQuery(trpc.alerts.settings.queryOptions());
  const status = useQuery({ ...trpc.alerts.status.queryOptions(), refetchInterval: 5_000 });
  const [draft, setDraft] = useState<Draft | null>(null);
  const [errors, setErrors] = useState<Errors>({});
  const [note, setNote] = useState<{ tone: "ok" | "bad"; text: string } | null>(null);
  useEffect(() => {
    if (settings.data && !draft) setDraft(toDraft(settings.data as never));
  }, [settings.data, draft]);
  const save = useMutation(trpc.alerts.save.mutationOptions());
  const test = useMutation(trpc.alerts.test.mutationOptions());
  const check = useMutation(trpc.alerts.evaluate.mutationOptions());

  const validate = (): AlertSettings | undefined => {
    if (!draft) return undefined;
    const r = alertSettingsSchema.safeParse(fromDraft(draft));
    if (!r.success) {
      setErrors(zodErrors(r.error));
      return undefined;
    }
    setErrors({});
    return r.data;
  };
  const patch = (fn: (d: Draft) => void, keys: string[]) => {
    setDraft((d) => {
      if (!d) return d;
      const c = structuredClone(d);
      fn(c);
      return c;
    });
    setNote(null);
    setErrors((e) => Object.fromEntries(Object.entries(e).filter(([k]) => !keys.includes(k) && k !== "form")));
  };

  const body =
    settings.isPending || !draft ? (
      <LoadingState />
    ) : settings.isError ? (
      <ErrorState error={settings.error} retry={() => void settings.refetch()} />
    ) : (
      <form
        noValidate
        className="space-y-6"
        onSubmit={(e) => {
          e.preventDefault();
          const input = validate();
          if (!input) return;
          save.mutate(input, {
            onSuccess: async (r) => {
              setDraft(toDraft(r as never));
              setNote({ tone: "ok", text: "Saved." });
              await qc.invalidateQueries({ queryKey: trpc.alerts.settings.queryKey() });
            },
            onError: (err) => setErrors(serverErrors(err)),
          });
        }}
      >
        <Card title="Rules">
          <div className="space-y-4">
            {ALERT_RULES.map((r) => (
              <fieldset key={r} className="space-y-2 rounded-lg border border-slate-200 p-3 dark:border-slate-800" data-testid={`rule-${r}`}>
                <Checkbox label={ALERT_RULE_TITLES[r]} checked={Boolean(draft.rules[r].enabled)} onChange={(v) => patch((d) => void (d.rules[r].enabled = v), [])} />
                {NUMBER_FIELDS[r].length > 0 && (
                  <div className="grid gap-3 sm:grid-cols-2">
                    {NUMBER_FIELDS[r].map((f) => (
                      <Field key={f.key} label={f.label} hint={f.hint} error={errors[`rules.${r}.${f.key}`]}>
                        {(p) => (
                          <TextInput {...p} inputMode="numeric" className="w-32" value={String(draft.rules[r][f.key])} onChange={(e) => patch((d) => void (d.rules[r][f.key] = e.target.value), [`rules.${r}.${f.key}`])} />
                        )}
                      </Field>
                    ))}
                  </div>
                )}
              </fieldset>
            ))}
            <Field label="Check every (seconds)" error={errors.checkEverySeconds}>
              {(p) => <TextInput {...p} inputMode="numeric" className="w-32" value={draft.checkEverySeconds} onChange={(e) => patch((d) => void (d.checkEverySeconds = e.target.value), ["checkEverySeconds"])} />}
            </Field>
          </div>
        </Card>

        <Card title="Webhook">
          <div className="space-y-3">
            <Checkbox label="Send alerts to a webhook" hint="POST of JSON in Alertmanager's webhook shape (docs/alerts.md)." checked={draft.webhook.enabled} onChange={(v) => patch((d) => void (d.webhook.enabled = v), ["webhook.url"])} />
            <Field label="URL" error={errors["webhook.url"]}>
              {(p) => <TextInput {...p} className="font-mono" placeholder="https://hooks.example.com/portico" value={draft.webhook.url} onChange={(e) => patch((d) => void (d.webhook.url = e.target.value), ["webhook.url"])} />}
            </Field>
            <TestButton channel="webhook" testId="alerts-test-webhook" validate={validate} test={test} onDone={setNote} onErrors={setErrors} />
          </div>
        </Card>

        <Card title="E-mail">
          <div className="space-y-3">
            <Checkbox label="Send alerts by e-mail" checked={draft.email.enabled} onChange={(v) => patch((d) => void (d.email.enabled = v), ["email.host", "email.from", "email.to"])} />
            <div className="grid gap-3 sm:grid-cols-[1fr_7rem_10rem]">
              <Field label="SMTP server" error={errors["email.host"]}>
                {(p) => <TextInput {...p} placeholder="smtp.example.com" value={draft.email.host} onChange={(e) => patch((d) => void (d.email.host = e.target.value), ["email.host"])} />}
              </Field>
              <Field label="Port" error={errors["email.port"]}>
                {(p) => <TextInput {...p} inputMode="numeric" value={draft.email.port} onChange={(e) => patch((d) => void (d.email.port = e.target.value), ["email.port"])} />}
              </Field>
              <Field label="Security" error={errors["email.security"]}>
                {(p) => (
                  <Select {...p} value={draft.email.security} onChange={(e) => patch((d) => void (d.email.security = e.target.value as Draft["email"]["security"]), ["email.security"])}>
                    <option value="starttls">STARTTLS (587)</option>
                    <option value="tls">TLS (465)</option>
                    <option value="none">None (trusted relay)</option>
                  </Select>
                )}
              </Field>
            </div>
            <div className="grid gap-3 sm:grid-cols-2">
              <Field label="User" hint="Leave empty for a relay without authentication." error={errors["email.username"]}>
                {(p) => <TextInput {...p} autoComplete="off" value={draft.email.username} onChange={(e) => patch((d) => void (d.email.username = e.target.value), ["email.username"])} />}
              </Field>
              <Field label="Password" hint={draft.email.passwordSet ? "A password is stored; type to replace it." : undefined} error={errors["email.password"]}>
                {(p) => <TextInput {...p} type="password" autoComplete="new-password" placeholder={draft.email.passwordSet ? "••••••••" : ""} value={draft.email.password} onChange={(e) => patch((d) => void (d.email.password = e.target.value), ["email.password"])} />}
              </Field>
            </div>
            <div className="grid gap-3 sm:grid-cols-2">
              <Field label="From" error={errors["email.from"]}>
                {(p) => <TextInput {...p} placeholder="portico@example.com" value={draft.email.from} onChange={(e) => patch((d) => void (d.email.from = e.target.value), ["email.from"])} />}
              </Field>
              <Field label="To" hint="Addresses separated by commas." error={errors["email.to"]}>
                {(p) => <TextInput {...p} placeholder="ops@example.com" value={draft.email.to} onChange={(e) => patch((d) => void (d.email.to = e.target.value), ["email.to"])} />}
              </Field>
            </div>
            <TestButton channel="email" testId="alerts-test-email" validate={validate} test={test} onDone={setNote} onErrors={setErrors} />
          </div>
        </Card>

        {errors.form && <Alert tone="bad">{errors.form}</Alert>}
        {note && (
          <div role="status" data-testid="alerts-note">
            <Alert tone={note.tone}>{note.text}</Alert>
          </div>
        )}
        <div className="flex gap-3">
          <Button type="submit" tone="primary" busy={save.isPending} data-testid="alerts-save">
            Save
          </Button>
          <Button
            busy={check.isPending}
            data-testid="alerts-check"
            onClick={() => check.mutate(undefined, { onSuccess: () => void qc.invalidateQueries({ queryKey: trpc.alerts.status.queryKey() }), onError: (e) => setNote({ tone: "bad", text: errorMessage(e) }) })}
          >
            Check now
          </Button>
        </div>
      </form>
    );

  return (
    <>
      <PageHeader title="Settings · Alerts" description="Rules the appliance checks, and where it sends an alert when one starts or stops firing." />
      <div className="space-y-6">
        <Card title="Firing now">
          {!status.isSuccess ? (
            <QueryStatus query={status} />
          ) : status.data.active.length === 0 ? (
            <EmptyState title="No alerts">
              {status.data.lastEvaluatedAt ? `Rules last checked at ${fmtTime(status.data.lastEvaluatedAt)}.` : "The rules have not run yet."}
            </EmptyState>
          ) : (
            <DataTable label="Alerts firing now">
              <TableHead columns={["Severity", "Alert", "Since"]} />
              <tbody data-testid="alerts-active">
                {status.data.active.map((a) => (
                  <tr key={a.id} data-testid="alert-row" data-rule={a.rule}>
                    <td className={td}>
                      <Badge tone={a.severity === "critical" ? "bad" : "warn"}>{a.severity}</Badge>
                    </td>
                    <td className={td}>
                      <div className="font-medium">{a.summary}</div>
                      <div className="text-xs text-slate-600 dark:text-slate-400">{a.description}</div>
                    </td>
                    <td className={`${td} text-xs whitespace-nowrap`}>{fmtDateTime(a.startsAt)}</td>
                  </tr>
                ))}
              </tbody>
            </DataTable>
          )}
          {status.data && status.data.recent.length > 0 && (
            <ul className="mt-3 space-y-1 text-xs" data-testid="alerts-recent">
              {status.data.recent.slice(0, 5).map((d, i) => (
                <li key={i}>
                  {fmtTime(d.at)} · {d.channel === "email" ? "e-mail" : "webhook"}
                  {d.test ? " (test)" : ""}: {d.ok ? <Badge tone="ok">delivered</Badge> : <Badge tone="bad">failed</Badge>} {d.error ?? `${d.notices} ${d.notices === 1 ? "alert" : "alerts"}`}
                </li>
              ))}
            </ul>
          )}
        </Card>
        {body}
      </div>
    </>
  );
}

function TestButton({
  channel,
  testId,
  validate,
  test,
  onDone,
  onErrors,
}: {
  channel: "webhook" | "email";
  testId: string;
  validate: () => AlertSettings | undefined;
  test: { mutate: (i: { channel: "webhook" | "email"; settings: AlertSettings }, o: { onSuccess: () => void; onError: (e: unknown) => void }) => void; isPending: boolean };
  onDone: (n: { tone: "ok" | "bad"; text: string }) => void;
  onErrors: (e: Errors) => void;
}) {
  return (
    <Button
      data-testid={testId}
      busy={test.isPending}
      onClick={() => {
        const s = validate();
        if (!s) return;
        const forced = { ...s, [channel]: { ...s[channel], enabled: true } } as AlertSettings;
        const r = alertSettingsSchema.safeParse(forced);
        if (!r.success) return onErrors(zodErrors(r.error));
        test.mutate(
          { channel, settings: r.data },
          {
            onSuccess: () => onDone({ tone: "ok", text: `Test ${channel === "email" ? "e-mail" : "webhook call"} delivered.` }),
            onError: (e) => onDone({ tone: "bad", text: errorMessage(e) }),
          },
        );
      }}
    >
      Send test
    </Button>
  );
}
