"use client";
/**
 * ALUA on the storage detail page (issue 13): the storage object's target port groups with their
 * states and member ports (TPG LUNs); add a group, move a LUN into another group, change a group's
 * state. Changes that initiators see (a state, a LUN's group) are confirmed first, naming the
 * sessions that will get ASYMMETRIC ACCESS STATE CHANGED. Forms validate with the API's schemas.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { createAluaGroupSchema } from "@/server/api/schemas/alua";
import { errorMessage, serverErrors, zodErrors, type Errors } from "../form";
import { useTRPC, type RouterOutputs } from "../trpc";
import { Alert, Badge, Button, Card, ConfirmDialog, DataTable, Field, QueryStatus, Select, TableHead, TextInput, td } from "../ui";

type Plugin = "ramdisk" | "fileio" | "block" | "rbd";
type AluaList = RouterOutputs["alua"]["list"];
type Group = AluaList["groups"][number];

/** The states an admin may set, with what initiators get through the group's ports. */
const STATES: { value: 0 | 1 | 2 | 3 | 14 | 15; label: string; meaning: string }[] = [
  { value: 0, label: "Active/Optimized", meaning: "serves everything; the preferred path" },
  { value: 1, label: "Active/NonOptimized", meaning: "serves everything, each command delayed by nonop_delay_msecs; used when no optimized path is left" },
  { value: 2, label: "Standby", meaning: "READ/WRITE refused (NOT READY 04h/0Bh); INQUIRY, READ CAPACITY, RTPG still answer" },
  { value: 3, label: "Unavailable", meaning: "almost everything refused (NOT READY 04h/0Ch)" },
  { value: 14, label: "Offline", meaning: "everything refused (NOT READY 04h/12h)" },
  { value: 15, label: "Transitioning", meaning: "everything but INQUIRY/RTPG refused (04h/0Ah) until another state is set" },
];

function stateTone(state: string): "ok" | "warn" | "bad" | "info" {
  if (state === "Active/Optimized") return "ok";
  if (state === "Active/NonOptimized" || state === "Transitioning") return "warn";
  if (state === "Standby") return "info";
  return "bad";
}

type Pending = { kind: "state"; group: Group; state: number } | { kind: "move"; member: Group["members"][number]; from: string; to: string };

function SessionsReached({ sessions }: { sessions: AluaList["sessions"] }) {
  if (sessions.length === 0) return <p className="text-sm">No initiator is logged in to a target exporting this storage object: nobody is told now; initiators see the new state when they log in.</p>;
  return (
    <div className="text-sm">
      <p>These sessions get ASYMMETRIC ACCESS STATE CHANGED (2Ah/06h) and re-read the path states:</p>
      <ul className="mt-1 list-disc pl-5" data-testid="alua-sessions">
        {sessions.map((s) => (
          <li key={s.id} className="break-all">
            {s.initiatorName} from {s.remoteAddress || "?"} via tpg{s.tpgTag} of {s.targetName}
          </li>
        ))}
      </ul>
    </div>
  );
}

function AddGroup({ plugin, name, used }: { plugin: Plugin; name: string; used: number[] }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const nextId = (() => {
    let id = 1;
    while (used.includes(id)) id++;
    return id;
  })();
  const [group, setGroup] = useState("");
  const [id, setId] = useState<string>("");
  const [errors, setErrors] = useState<Errors>({});
  const create = useMutation(trpc.alua.create.mutationOptions());
  return (
    <form
      noValidate
      className="mt-4 grid gap-3 sm:grid-cols-[1fr_8rem_auto] sm:items-end"
      onSubmit={(e) => {
        e.preventDefault();
        const r = createAluaGroupSchema.safeParse({ plugin, name, group, id: id === "" ? nextId : Number(id) });
        if (!r.success) return setErrors(zodErrors(r.error));
        create.mutate(r.data, {
          onSuccess: async () => (await qc.invalidateQueries(), setGroup(""), setId(""), setErrors({})),
          onError: (err) => setErrors(serverErrors(err)),
        });
      }}
    >
      <Field label="New group" hint="e.g. the paths of the second node; made Active/Optimized" error={errors.group ?? errors.name}>
        {(p) => <TextInput {...p} value={group} onChange={(e) => (setErrors({}), setGroup(e.target.value))} data-testid="alua-new-name" />}
      </Field>
      <Field label="ID" hint={`tg_pt_gp_id, 1..65535`} error={errors.id}>
        {(p) => <TextInput {...p} inputMode="numeric" placeholder={String(nextId)} value={id} onChange={(e) => (setErrors({}), setId(e.target.value))} data-testid="alua-new-id" />}
      </Field>
      <div>
        <Button type="submit" busy={create.isPending} data-testid="alua-create">
          Add group
        </Button>
      </div>
      {errors.form && (
        <div className="sm:col-span-3">
          <Alert tone="bad">{errors.form}</Alert>
        </div>
      )}
    </form>
  );
}

export function AluaCard({ plugin, name }: { plugin: Plugin; name: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const list = useQuery({ ...trpc.alua.list.queryOptions({ plugin, name }), refetchInterval: 5_000 });
  const [pending, setPending] = useState<Pending | null>(null);
  const [choice, setChoice] = useState<Record<string, string>>({});
  const setState = useMutation(trpc.alua.setState.mutationOptions());
  const move = useMutation(trpc.alua.setLunGroup.mutationOptions());
  const del = useMutation(trpc.alua.delete.mutationOptions());
  if (!list.isSuccess) return <Card title="ALUA target port groups"><QueryStatus query={list} /></Card>;
  const { groups, sessions } = list.data;
  const busy = setState.isPending || move.isPending;
  const error = setState.error ?? move.error;
  const close = () => (setState.reset(), move.reset(), setPending(null));
  const confirm = () => {
    if (!pending) return;
    const done = { onSuccess: async () => (await qc.invalidateQueries(), setPending(null)) };
    if (pending.kind === "state") setState.mutate({ plugin, name, group: pending.group.name, state: pending.state as 0 }, done);
    else move.mutate({ wwn: pending.member.wwn, tag: pending.member.tag, lun: pending.member.lun, group: pending.to }, done);
  };
  return (
    <Card title="ALUA target port groups" id="so-alua">
      <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">
        Multipath initiators (dm-multipath with <code>prio alua</code>, VMware, Windows MPIO) choose paths by these states. Each LUN that exports this storage object is one path (a target port)
        and belongs to one group.
      </p>
      <DataTable label="ALUA target port groups">
        <TableHead columns={["Group", "State", "Paths (LUNs)", "Change state"]} />
        <tbody>
          {groups.map((g) => {
            const key = `state:${g.name}`;
            const selected = choice[key] ?? String(g.attributes.alua_access_state);
            return (
              <tr key={g.name} data-testid="alua-group" data-name={g.name}>
                <td className={td}>
                  <span className="font-medium">{g.name}</span> <span className="text-xs text-slate-500">id {g.id}</span>
                  {g.attributes.preferred === 1 && <span className="ml-1 text-xs text-slate-500">· preferred</span>}
                  <span className="block text-xs text-slate-500">{g.accessType}</span>
                  {g.name !== "default_tg_pt_gp" && (
                    <button
                      type="button"
                      className="mt-1 text-xs text-red-700 underline dark:text-red-400"
                      onClick={() => del.mutate({ plugin, name, group: g.name }, { onSuccess: () => qc.invalidateQueries() })}
                      aria-label={`Delete group ${g.name}`}
                    >
                      Delete (its LUNs go back to default_tg_pt_gp)
                    </button>
                  )}
                </td>
                <td className={td}>
                  <Badge tone={stateTone(g.state)} testId="alua-state">
                    {g.state}
                  </Badge>
                  {g.pendingState && <span className="block text-xs text-slate-500">→ {g.pendingState}</span>}
                  <span className="block text-xs text-slate-500">{g.status}</span>
                </td>
                <td className={td}>
                  {g.members.length === 0 && <span className="text-slate-500">none</span>}
                  {g.members.map((m) => {
                    const mk = `move:${m.wwn}:${m.tag}:${m.lun}`;
                    const to = choice[mk] ?? g.name;
                    return (
                      <div key={mk} className="mb-2 text-xs" data-testid="alua-member">
                        <Link className="break-all hover:underline" href={`/targets/${encodeURIComponent(m.wwn)}?tpg=${m.tag}&tab=luns`}>
                          lun{m.lun} of {m.wwn} tpg{m.tag}
                        </Link>
                        <span className="text-slate-500"> · port {m.relativeTargetPortId}{m.offline ? " · offline" : ""}</span>
                        {groups.length > 1 && (
                          <span className="mt-1 flex items-center gap-2">
                            <Select className="w-auto py-1 text-xs" aria-label={`Group of lun${m.lun} tpg${m.tag}`} value={to} onChange={(e) => setChoice({ ...choice, [mk]: e.target.value })}>
                              {groups.map((o) => (
                                <option key={o.name} value={o.name}>
                                  {o.name}
                                </option>
                              ))}
                            </Select>
                            <Button className="py-1 text-xs" disabled={to === g.name} onClick={() => setPending({ kind: "move", member: m, from: g.name, to })} data-testid="alua-move">
                              Move
                            </Button>
                          </span>
                        )}
                      </div>
                    );
                  })}
                </td>
                <td className={td}>
                  <span className="flex items-center gap-2">
                    <Select className="w-auto py-1 text-xs" aria-label={`New state of ${g.name}`} value={selected} onChange={(e) => setChoice({ ...choice, [key]: e.target.value })} data-testid="alua-state-select">
                      {STATES.map((s) => (
                        <option key={s.value} value={s.value}>
                          {s.label}
                        </option>
                      ))}
                    </Select>
                    <Button
                      className="py-1 text-xs"
                      disabled={Number(selected) === g.attributes.alua_access_state}
                      onClick={() => setPending({ kind: "state", group: g, state: Number(selected) })}
                      data-testid="alua-set-state"
                    >
                      Set
                    </Button>
                  </span>
                </td>
              </tr>
            );
          })}
        </tbody>
      </DataTable>
      {del.error && <Alert tone="bad">{errorMessage(del.error)}</Alert>}
      <AddGroup plugin={plugin} name={name} used={groups.map((g) => g.id)} />
      <ConfirmDialog
        open={pending !== null}
        onClose={close}
        title={pending?.kind === "state" ? `Set ${pending.group.name} to ${STATES.find((s) => s.value === pending.state)?.label}?` : pending ? `Move lun${pending.member.lun} of tpg${pending.member.tag} to ${pending.to}?` : ""}
        confirmLabel={pending?.kind === "state" ? "Change state" : "Move LUN"}
        busy={busy}
        error={error ? errorMessage(error) : null}
        onConfirm={confirm}
      >
        {pending?.kind === "state" && (
          <p className="text-sm">
            Through {pending.group.members.length === 0 ? "no path (the group has no LUN)" : pending.group.members.map((m) => `lun${m.lun} of tpg${m.tag}`).join(", ")}:{" "}
            {STATES.find((s) => s.value === pending.state)?.meaning}.
            {pending.group.attributes.trans_delay_msecs > 0 && ` The group is Transitioning for ${pending.group.attributes.trans_delay_msecs} ms first.`}
          </p>
        )}
        {pending?.kind === "move" && (
          <p className="text-sm">
            This path leaves {pending.from} ({groups.find((x) => x.name === pending.from)?.state}) for {pending.to} ({groups.find((x) => x.name === pending.to)?.state}).
          </p>
        )}
        <SessionsReached sessions={sessions} />
      </ConfirmDialog>
    </Card>
  );
}
