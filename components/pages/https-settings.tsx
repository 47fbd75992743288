"use client";
/**
 * Settings › HTTPS and console access: the certificate served (self-signed or uploaded,
 * its SHA-256 fingerprint to compare with the browser's), installing a real certificate
 * and key, going back to the self-signed one, and the allowed host names and trusted
 * proxies (docs/https.md). Test ids: https-settings, https-kind, https-fingerprint,
 * https-hsts, https-install, https-self-signed, access-save.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type ChangeEvent } from "react";
import { accessSettingsSchema, certificateUploadSchema, splitEntries } from "@/server/api/schemas/https";
import { serverErrors, zodErrors, type Errors } from "../form";
import { useTRPC } from "../trpc";
import { Alert, Badge, Button, Card, ConfirmDialog, ErrorState, Field, LoadingState, QueryStatus } from "../ui";

const area =
  "block w-full rounded-md border border-slate-300 bg-white px-3 py-2 font-mono text-xs shadow-sm focus:border-sky-600 focus:ring-2 focus:ring-sky-600/30 focus:outline-none aria-[invalid=true]:border-red-600 dark:border-slate-700 dark:bg-slate-950";

function readInto(set: (text: string) => void) {
  return async (e: ChangeEvent<HTMLInputElement>) => {
    const f = e.target.files?.[0];
    if (f) set(await f.text());
  };
}

function date(iso: string): string {
  return new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function CertificatePart() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const status = useQuery(trpc.https.status.queryOptions());
  const [cert, setCert] = useState("");
  const [secretKey, setSecretKey] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const [done, setDone] = useState<string | null>(null);
  const [confirmBack, setConfirmBack] = useState(false);
  const refresh = () => qc.invalidateQueries({ queryKey: trpc.https.status.queryKey() });
  const install = useMutation(trpc.https.installCertificate.mutationOptions());
  const back = useMutation(trpc.https.useSelfSigned.mutationOptions());
  if (!status.isSuccess) return <QueryStatus query={status} />;
  const s = status.data;
  if (!s.enabled || !s.certificate) {
    return (
      <Alert tone="warn" title="HTTPS is off">
        The appliance was started with <code>PORTICO_HTTPS=off</code>: the console is served in plain HTTP to everyone. Use it only behind a reverse proxy that does TLS.
      </Alert>
    );
  }
  const c = s.certificate;
  return (
    <div className="space-y-4">
      <dl className="grid grid-cols-[max-content_1fr] gap-x-3 gap-y-1 text-sm">
        <dt className="text-slate-600 dark:text-slate-400">Certificate</dt>
        <dd>
          <Badge tone={c.kind === "uploaded" ? "ok" : "warn"} testId="https-kind">
            {c.kind === "uploaded" ? "installed certificate" : "self-signed"}
          </Badge>
        </dd>
        <dt className="text-slate-600 dark:text-slate-400">SHA-256</dt>
        <dd className="font-mono text-xs break-all" data-testid="https-fingerprint">{c.fingerprint256}</dd>
        <dt className="text-slate-600 dark:text-slate-400">Subject</dt>
        <dd className="break-all">{c.subject}</dd>
        <dt className="text-slate-600 dark:text-slate-400">Names</dt>
        <dd className="text-xs break-all">{c.subjectAltName || "—"}</dd>
        <dt className="text-slate-600 dark:text-slate-400">Valid</dt>
        <dd>
          {date(c.validFrom)} → {date(c.validTo)}
        </dd>
        <dt className="text-slate-600 dark:text-slate-400">HSTS</dt>
        <dd data-testid="https-hsts">{s.hsts ? "sent (browsers will insist on HTTPS for a year)" : "not sent (only with an installed certificate)"}</dd>
      </dl>
      {c.kind === "self-signed" && (
        <p className="text-sm text-slate-600 dark:text-slate-400">
          Browsers warn about a self-signed certificate: check that the fingerprint they show is the one above before accepting it. Plain HTTP is kept for this machine only; browsers on the network are sent to HTTPS.
        </p>
      )}
      <form
        noValidate
        className="space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          setDone(null);
          const r = certificateUploadSchema.safeParse({ cert, secretKey });
          if (!r.success) return setErrors(zodErrors(r.error));
          setErrors({});
          install.mutate(r.data, {
            onSuccess: async () => (await refresh(), setCert(""), setSecretKey(""), setDone("Installed: new connections get this certificate.")),
            onError: (err) => setErrors(serverErrors(err)),
          });
        }}
      >
        <h3 className="font-semibold">Install a certificate</h3>
        <Field label="Certificate (PEM)" hint="The server's certificate first, then its intermediate certificates." error={errors.cert}>
          {(p) => (
            <div className="space-y-1">
              <textarea {...p} rows={4} className={area} value={cert} onChange={(e) => setCert(e.target.value)} placeholder="-----BEGIN CERTIFICATE-----" spellCheck={false} />
              <input type="file" accept=".pem,.crt,.cer,text/plain" aria-label="Certificate file" onChange={readInto(setCert)} className="text-xs" />
            </div>
          )}
        </Field>
        <Field label="Private key (PEM)" hint="Without a passphrase. Stored 0600 in the data directory, never shown again." error={errors.secretKey}>
          {(p) => (
            <div className="space-y-1">
              <textarea {...p} rows={4} className={area} value={secretKey} onChange={(e) => setSecretKey(e.target.value)} placeholder="-----BEGIN PRIVATE KEY-----" spellCheck={false} autoComplete="off" />
              <input type="file" accept=".pem,.key,text/plain" aria-label="Private key file" onChange={readInto(setSecretKey)} className="text-xs" />
            </div>
          )}
        </Field>
        {errors.form && <Alert tone="bad">{errors.form}</Alert>}
        <div className="flex flex-wrap items-center gap-3">
          <Button type="submit" tone="primary" busy={install.isPending} data-testid="https-install">
            Install certificate
          </Button>
          {c.kind === "uploaded" && (
            <Button onClick={() => (back.reset(), setConfirmBack(true))} data-testid="https-self-signed">
              Use the self-signed certificate
            </Button>
          )}
          {done && (
            <span role="status" className="text-sm text-emerald-700">
              {done}
            </span>
          )}
        </div>
      </form>
      <ConfirmDialog
        open={confirmBack}
        onClose={() => setConfirmBack(false)}
        title="Go back to the self-signed certificate?"
        confirmLabel="Use self-signed"
        busy={back.isPending}
        error={back.error ? back.error.message : null}
        onConfirm={() => back.mutate(undefined, { onSuccess: async () => (await refresh(), setConfirmBack(false), setDone(null)) })}
      >
        <p className="text-sm">The installed certificate and key are deleted. Browsers that saw HSTS from this appliance will refuse the self-signed certificate until their HSTS entry expires.</p>
      </ConfirmDialog>
    </div>
  );
}

function AccessPart() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const status = useQuery(trpc.https.status.queryOptions());
  const [hosts, setHosts] = useState<string | null>(null);
  const [proxies, setProxies] = useState<string | null>(null);
  const [errors, setErrors] = useState<Errors>({});
  const [saved, setSaved] = useState(false);
  const save = useMutation(trpc.https.setAccess.mutationOptions());
  if (status.isPending) return <LoadingState />;
  if (status.isError) return <ErrorState error={status.error} />;
  const s = status.data;
  const h = hosts ?? s.access.allowedHosts.join("\n");
  const p = proxies ?? s.access.trustedProxies.join("\n");
  return (
    <form
      noValidate
      className="space-y-3"
      onSubmit={(e) => {
        e.preventDefault();
        setSaved(false);
        const r = accessSettingsSchema.safeParse({ allowedHosts: splitEntries(h), trustedProxies: splitEntries(p) });
        if (!r.success) return setErrors(zodErrors(r.error));
        setErrors({});
        save.mutate(r.data, {
          onSuccess: async () => (await qc.invalidateQueries({ queryKey: trpc.https.status.queryKey() }), setHosts(null), setProxies(null), setSaved(true)),
          onError: (err) => setErrors(serverErrors(err)),
        });
      }}
    >
      <h3 className="font-semibold">Console access</h3>
      <Field
        label="Allowed host names"
        hint={
          <>
            One per line: names the console is reached by besides its own (DNS aliases, a reverse proxy&apos;s name); <code>*.example.com</code> or <code>*</code> for any. Other names get 421 (protection against DNS rebinding). Always allowed:{" "}
            {s.builtInHosts.join(", ")}
            {s.fromEnvironment.allowedHosts.length > 0 && <>; from PORTICO_HTTP_ALLOWED_HOSTS: {s.fromEnvironment.allowedHosts.join(", ")}</>}.
          </>
        }
        error={errors.allowedHosts}
      >
        {(fp) => <textarea {...fp} rows={3} className={area} value={h} onChange={(e) => (setSaved(false), setHosts(e.target.value))} spellCheck={false} />}
      </Field>
      <Field
        label="Trusted proxies"
        hint={
          <>
            One per line: addresses or CIDR ranges of reverse proxies whose X-Forwarded-For/-Proto/-Host are believed. Without an entry, a forwarded request is never treated as coming from this machine.
            {s.fromEnvironment.trustedProxies.length > 0 && <> From PORTICO_HTTP_TRUSTED_PROXIES: {s.fromEnvironment.trustedProxies.join(", ")}.</>}
          </>
        }
        error={errors.trustedProxies}
      >
        {(fp) => <textarea {...fp} rows={2} className={area} value={p} onChange={(e) => (setSaved(false), setProxies(e.target.value))} spellCheck={false} />}
      </Field>
      {errors.form && <Alert tone="bad">{errors.form}</Alert>}
      <div className="flex items-center gap-3">
        <Button type="submit" tone="primary" busy={save.isPending} data-testid="access-save">
          Save
        </Button>
        {saved && (
          <span role="status" className="text-sm text-emerald-700">
            Saved.
          </span>
        )}
      </div>
    </form>
  );
}

export function HttpsSettingsCard() {
  return (
    <Card title="HTTPS and console access" id="https-settings">
      <div className="space-y-6">
        <CertificatePart />
        <AccessPart />
      </div>
    </Card>
  );
}
