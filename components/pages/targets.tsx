"use client";
/** Targets: the list (TPGs, LUNs, portals, sessions) and the new-target form. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import { createTargetSchema } from "@/server/api/schemas/targets";
import { newTargetName, serverErrors, useForm } from "../form";
import { useTRPC } from "../trpc";
import { Alert, Badge, Button, Card, DataTable, EmptyState, Field, LinkButton, PageHeader, QueryStatus, TableHead, TextInput, td } from "../ui";

export function TargetList() {
  const trpc = useTRPC();
  const list = useQuery({ ...trpc.targets.list.queryOptions(), refetchInterval: 3_000 });
  const status = useQuery({ ...trpc.system.status.queryOptions(), refetchInterval: 3_000 });
  const sessionsOf = (wwn: string) => (status.data?.sessions ?? []).filter((s) => s.targetName === wwn && s.sessionType === "Normal").length;
  return (
    <>
      <PageHeader title="Targets" description="What initiators log in to: each target has TPGs with LUNs, portals and ACLs." actions={<LinkButton tone="primary" href="/targets/new">New target</LinkButton>} />
      {!list.isSuccess ? (
        <QueryStatus query={list} />
      ) : list.data.length === 0 ? (
        <EmptyState title="No targets yet" action={<LinkButton tone="primary" href="/targets/new">Create a target</LinkButton>}>
          Create a target, then map storage to it as LUNs and add a portal for initiators to connect to.
        </EmptyState>
      ) : (
        <Card>
          <DataTable label="Targets">
            <TableHead columns={["Target IQN", "TPGs", "LUNs", "Portals", "Sessions"]} />
            <tbody data-testid="targets">
              {list.data.map((t) => (
                <tr key={t.wwn} data-testid="target" data-wwn={t.wwn}>
                  <td className={td}>
                    <Link href={`/targets/${encodeURIComponent(t.wwn)}`} className="font-mono text-sm break-all text-sky-800 hover:underline dark:text-sky-300" data-testid="target-iqn">
                      {t.wwn}
                    </Link>
                  </td>
                  <td className={td}>
                    <div className="flex flex-wrap gap-1">
                      {t.tpgs.map((g) => (
                        <span key={g.tag} className="inline-flex flex-wrap gap-1">
                          <Badge tone={g.enabled ? "ok" : "off"}>
                            tpg{g.tag} {g.enabled ? "enabled" : "disabled"}
                            {g.demoMode ? " · open" : ""}
                          </Badge>
                          {g.chapNotRequired && (
                            <Badge tone="warn" testId="chap-not-required">
                              tpg{g.tag}: CHAP set, not required
                            </Badge>
                          )}
                        </span>
                      ))}
                    </div>
                  </td>
                  <td className={td}>{t.tpgs.reduce((n, g) => n + g.luns.length, 0)}</td>
                  <td className={`${td} text-xs`}>
                    {t.tpgs.flatMap((g) => g.portals).map((p) => (
                      <span key={p.key} className="mr-2 inline-flex items-center gap-1 whitespace-nowrap">
                        {p.key} <Badge tone={p.listening ? "ok" : "warn"}>{p.listening ? "listening" : "not listening"}</Badge>
                      </span>
                    ))}
                  </td>
                  <td className={td}>{sessionsOf(t.wwn)}</td>
                </tr>
              ))}
            </tbody>
          </DataTable>
        </Card>
      )}
    </>
  );
}

export function NewTarget() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const router = useRouter();
  const info = useQuery(trpc.host.info.queryOptions());
  const f = useForm({ wwn: "" });
  const [touched, setTouched] = useState(false);
  useEffect(() => {
    if (info.data && !touched && !f.values.wwn) f.setValues({ wwn: newTargetName(info.data.appliance.iqnPrefix) });
  }, [info.data, touched, f]);
  const create = useMutation(trpc.targets.create.mutationOptions());
  return (
    <>
      <PageHeader
        title="New empty target"
        description="A target starts with tpg1, enabled. Add LUNs, a portal and access on its page."
        actions={<LinkButton href="/targets/new">Use the wizard instead</LinkButton>}
      />
      <Card>
        <form
          noValidate
          className="space-y-4"
          onSubmit={(e) => {
            e.preventDefault();
            const input = f.check(createTargetSchema, { wwn: f.values.wwn });
            if (!input) return;
            create.mutate(input, {
              onSuccess: async (r) => {
                await qc.invalidateQueries();
                router.push(`/targets/${encodeURIComponent(r.wwn)}?tpg=1&tab=luns`);
              },
              onError: (err) => f.setErrors(serverErrors(err)),
            });
          }}
        >
          <Field label="Target IQN" hint={`Generated from the appliance's prefix${info.data ? ` (${info.data.appliance.iqnPrefix})` : ""}; you may type your own.`} error={f.errors.wwn}>
            {(p) => (
              <div className="flex gap-2">
                <TextInput {...p} className="font-mono" value={f.values.wwn} onChange={(e) => (setTouched(true), f.set("wwn", e.target.value))} />
                {info.data && <Button onClick={() => f.set("wwn", newTargetName(info.data.appliance.iqnPrefix))}>New name</Button>}
              </div>
            )}
          </Field>
          {f.errors.form && <Alert tone="bad">{f.errors.form}</Alert>}
          <div className="flex justify-between">
            <Button onClick={() => router.push("/targets")}>Cancel</Button>
            <Button type="submit" tone="primary" busy={create.isPending}>
              Create target
            </Button>
          </div>
        </form>
      </Card>
    </>
  );
}
