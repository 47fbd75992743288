"use client";
/** Storage objects: the list (type, size, backing, used by, health), the detail page (with its editors), and deletion. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useParams, useRouter } from "next/navigation";
import { useState } from "react";
import { errorMessage, formatBytes } from "../form";
import { useTRPC, type RouterOutputs } from "../trpc";
import { IdentityCard, ResizeCard, StorageAttributesEditor } from "./storage-edit";
import { RbdImageCard } from "./storage-rbd";
import { AluaCard } from "./storage-alua";
import { Alert, Badge, Button, Card, Checkbox, ConfirmDialog, DataTable, EmptyState, LinkButton, PageHeader, QueryStatus, TableHead, actionsColumn, td } from "../ui";

type So = RouterOutputs["storage"]["list"][number];
const PLUGIN_LABEL: Record<string, string> = { ramdisk: "RAM disk", fileio: "File", block: "Block device", rbd: "Ceph RBD" };

function Health({ so }: { so: Pick<So, "live" | "error"> }) {
  if (so.live) return <Badge tone="ok">live</Badge>;
  return <Badge tone="bad">{so.error ? "failed" : "not live"}</Badge>;
}

function DeleteStorage({ so, onDone }: { so: So; onDone: () => void }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [open, setOpen] = useState(false);
  // fileio: the file stays unless asked (as targetcli); never checked by default.
  const [deleteFile, setDeleteFile] = useState(false);
  const del = useMutation(
    trpc.storage.delete.mutationOptions({
      onSuccess: async () => {
        await qc.invalidateQueries();
        setOpen(false);
        onDone();
      },
    }),
  );
  const exported = so.usedBy.length > 0;
  return (
    <>
      <Button tone="danger" onClick={() => (del.reset(), setDeleteFile(false), setOpen(true))} aria-label={`Delete ${so.name}`}>
        Delete
      </Button>
      <ConfirmDialog
        open={open}
        onClose={() => setOpen(false)}
        title={`Delete ${so.plugin}/${so.name}?`}
        confirmLabel="Delete storage object"
        busy={del.isPending}
        disabled={exported}
        error={del.error ? errorMessage(del.error) : null}
        onConfirm={() => del.mutate({ plugin: so.plugin, name: so.name, ...(deleteFile ? { deleteFile: true } : {}) })}
      >
        {exported ? (
          <Alert tone="bad" title="It is exported, so it cannot be deleted" testId="delete-refused">
            Remove these LUNs first:
            <ul className="mt-1 list-disc pl-5">
              {so.usedBy.map((u) => (
                <li key={`${u.wwn}-${u.tag}-${u.lun}`}>
                  <Link className="underline" href={`/targets/${encodeURIComponent(u.wwn)}?tpg=${u.tag}&tab=luns`}>
                    lun{u.lun} of {u.wwn} tpg{u.tag}
                  </Link>
                </li>
              ))}
            </ul>
          </Alert>
        ) : (
          <div className="space-y-3">
            <p className="text-sm">
              {so.plugin === "ramdisk"
                ? "Its data lives only in memory and will be lost."
                : so.plugin === "fileio"
                  ? deleteFile
                    ? `The file ${so.dev} is deleted with it: its data is gone for good.`
                    : `The file ${so.dev} stays on disk; only the storage object goes.`
                  : `The device ${so.dev} is left as it is; only the storage object goes.`}
            </p>
            {so.plugin === "fileio" && so.live && (
              <Checkbox label={<>Also delete the file <span className="font-mono break-all">{so.dev}</span></>} hint="Off by default: the data stays on disk." checked={deleteFile} onChange={setDeleteFile} />
            )}
          </div>
        )}
      </ConfirmDialog>
    </>
  );
}

export function StorageList() {
  const trpc = useTRPC();
  const list = useQuery({ ...trpc.storage.list.queryOptions(), refetchInterval: 5_000 });
  return (
    <>
      <PageHeader title="Storage" description="Backstores: where each disk's data lives." actions={<LinkButton tone="primary" href="/storage/new">New storage object</LinkButton>} />
      {!list.isSuccess ? (
        <QueryStatus query={list} />
      ) : list.data.length === 0 ? (
        <EmptyState title="No storage yet" action={<LinkButton tone="primary" href="/storage/new">Create storage</LinkButton>}>
          A storage object is a RAM disk, a file or a block device that a target can export as a LUN.
        </EmptyState>
      ) : (
        <Card>
          <DataTable label="Storage objects">
            <TableHead columns={["Name", "Type", "Size", "Backing", "Used by", "Health", actionsColumn]} />
            <tbody data-testid="storage-objects">
              {list.data.map((so) => (
                <tr key={so.path} data-testid="storage-object" data-name={so.name}>
                  <td className={td}>
                    <Link href={`/storage/${so.plugin}/${encodeURIComponent(so.name)}`} className="font-medium text-sky-800 hover:underline dark:text-sky-300">
                      {so.name}
                    </Link>
                  </td>
                  <td className={td}>{PLUGIN_LABEL[so.plugin]}</td>
                  <td className={td}>{formatBytes(so.size)}</td>
                  <td className={`${td} font-mono text-xs break-all`}>{so.dev ?? "memory"}</td>
                  <td className={td}>
                    {so.usedBy.length === 0 ? (
                      <span className="text-slate-500">not exported</span>
                    ) : (
                      so.usedBy.map((u) => (
                        <Link key={`${u.wwn}-${u.tag}-${u.lun}`} href={`/targets/${encodeURIComponent(u.wwn)}?tpg=${u.tag}&tab=luns`} className="block text-xs break-all hover:underline">
                          lun{u.lun} · {u.wwn}
                        </Link>
                      ))
                    )}
                  </td>
                  <td className={td}>
                    <Health so={so} />
                    {so.error && <p className="mt-1 text-xs text-red-700 dark:text-red-400">{so.error}</p>}
                  </td>
                  <td className={`${td} text-right`}>
                    <DeleteStorage so={so} onDone={() => undefined} />
                  </td>
                </tr>
              ))}
            </tbody>
          </DataTable>
        </Card>
      )}
    </>
  );
}

export function StorageDetail() {
  const trpc = useTRPC();
  const router = useRouter();
  const params = useParams<{ plugin: string; name: string }>();
  const plugin = params.plugin as "ramdisk" | "fileio" | "block" | "rbd";
  const name = decodeURIComponent(params.name);
  const detail = useQuery(trpc.host.storageObject.queryOptions({ plugin, name }));
  const list = useQuery(trpc.storage.list.queryOptions());
  const so = list.data?.find((s) => s.plugin === plugin && s.name === name);
  if (!detail.isSuccess) return <QueryStatus query={detail} />;
  const d = detail.data;
  return (
    <>
      <PageHeader
        title={
          <>
            {d.name} <span className="text-base font-normal text-slate-500">{PLUGIN_LABEL[d.plugin]}</span>
          </>
        }
        description={<Link href="/storage" className="hover:underline">← All storage</Link>}
        actions={so && <DeleteStorage so={so} onDone={() => router.push("/storage")} />}
      />
      {d.error && <Alert tone="bad" title="Failed to restore">{d.error}</Alert>}
      <div className="grid gap-6 lg:grid-cols-2">
        <Card title="Summary">
          <dl className="grid grid-cols-[10rem_1fr] gap-x-4 gap-y-2 text-sm">
            <dt className="text-slate-600 dark:text-slate-400">Health</dt>
            <dd><Health so={{ live: d.live, error: d.error ?? undefined }} /></dd>
            <dt className="text-slate-600 dark:text-slate-400">Size</dt>
            <dd>{formatBytes(d.size)} ({d.size.toLocaleString()} bytes)</dd>
            <dt className="text-slate-600 dark:text-slate-400">Backing</dt>
            <dd className="font-mono text-xs break-all">{d.dev ?? "memory"}</dd>
            {d.backing && (
              <>
                <dt className="text-slate-600 dark:text-slate-400">Free around it</dt>
                <dd>{d.backing.free === null ? "—" : formatBytes(d.backing.free)}</dd>
              </>
            )}
            <dt className="text-slate-600 dark:text-slate-400">Unit serial</dt>
            <dd className="font-mono text-xs break-all">{d.wwn}</dd>
            <dt className="text-slate-600 dark:text-slate-400">Block size</dt>
            <dd>{d.blockSize} bytes</dd>
            <dt className="text-slate-600 dark:text-slate-400">Write cache</dt>
            <dd>{d.writeBack ? "write-back (faster; data in flight is lost on power loss)" : "write-through (every acknowledged write is on disk)"}</dd>
            <dt className="text-slate-600 dark:text-slate-400">Used by</dt>
            <dd>
              {so?.usedBy.length ? (
                so.usedBy.map((u) => (
                  <Link key={`${u.wwn}-${u.lun}`} className="block break-all hover:underline" href={`/targets/${encodeURIComponent(u.wwn)}?tpg=${u.tag}&tab=luns`}>
                    lun{u.lun} of {u.wwn} tpg{u.tag}
                  </Link>
                ))
              ) : (
                <span>not exported — <Link className="underline" href="/targets">map it to a target</Link></span>
              )}
            </dd>
          </dl>
        </Card>
        <div className="space-y-6">
          {plugin === "rbd" && d.live && <RbdImageCard name={name} />}
          <ResizeCard plugin={plugin} name={name} />
          <IdentityCard plugin={plugin} name={name} />
        </div>
      </div>
      {d.live && (
        <div className="mt-6">
          <AluaCard plugin={plugin} name={name} />
        </div>
      )}
      <div className="mt-6">
        <StorageAttributesEditor plugin={plugin} name={name} />
      </div>
    </>
  );
}
