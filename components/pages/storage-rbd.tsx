"use client";
/**
 * Storage detail for an rbd object: the Ceph image behind it (pool/image, provisioned vs used,
 * object size, features, who holds the exclusive lock), and why it is offline if it is.
 */
import { useQuery } from "@tanstack/react-query";
import { formatBytes } from "../form";
import { useTRPC } from "../trpc";
import { Alert, Badge, Card, QueryStatus } from "../ui";

export function RbdImageCard({ name }: { name: string }) {
  const trpc = useTRPC();
  const image = useQuery({ ...trpc.rbd.image.queryOptions({ plugin: "rbd", name }), refetchInterval: 10_000, retry: false });
  if (!image.isSuccess) return <Card title="Ceph image"><QueryStatus query={image} label="Asking the cluster…" /></Card>;
  const im = image.data;
  const usedPct = im.used !== null && im.provisioned > 0 ? Math.round((im.used / im.provisioned) * 100) : undefined;
  return (
    <Card title="Ceph image" id="so-rbd">
      {im.offline && (
        <Alert tone="bad" title="Offline" testId="rbd-offline">
          {im.offline}. Initiators get NOT READY for this LUN; other LUNs are not affected.
        </Alert>
      )}
      <dl className="grid grid-cols-[10rem_1fr] gap-x-4 gap-y-2 text-sm" data-testid="rbd-image">
        <dt className="text-slate-600 dark:text-slate-400">Image</dt>
        <dd className="font-mono text-xs break-all">
          {im.pool}/{im.image}
        </dd>
        <dt className="text-slate-600 dark:text-slate-400">Provisioned</dt>
        <dd>{formatBytes(im.provisioned)}</dd>
        <dt className="text-slate-600 dark:text-slate-400">Used in the cluster</dt>
        <dd>{im.used === null ? "—" : `${formatBytes(im.used)}${usedPct !== undefined ? ` (${usedPct} %)` : ""}`}</dd>
        <dt className="text-slate-600 dark:text-slate-400">Object size</dt>
        <dd>{formatBytes(im.objectSize)}</dd>
        <dt className="text-slate-600 dark:text-slate-400">Features</dt>
        <dd className="flex flex-wrap gap-1">
          {im.features.length ? im.features.map((f) => <Badge key={f}>{f}</Badge>) : "—"}
        </dd>
        <dt className="text-slate-600 dark:text-slate-400">Exclusive lock</dt>
        <dd className="font-mono text-xs break-all">{im.lockOwners.length ? im.lockOwners.join(", ") : "not held"}</dd>
        <dt className="text-slate-600 dark:text-slate-400">Config string</dt>
        <dd className="font-mono text-xs break-all">{im.config}</dd>
      </dl>
      {im.lastError && !im.offline && (
        <p className="mt-3 text-sm text-amber-700 dark:text-amber-400" data-testid="rbd-last-error">
          Last error from Ceph: {im.lastError}
        </p>
      )}
    </Card>
  );
}
