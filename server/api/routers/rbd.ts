/**
 * Ceph RBD for the console's storage wizard and detail view: whether the rbd backstore can
 * be used here, a cluster's health and pools, a pool's images, an rbd object's image details.
 */
import { TRPCError } from "@trpc/server";
import { featureNames, rbdAvailable, rbdClusterInfo, rbdImages, rbdStatus, RbdBackstore } from "../../engine/backstores/rbd";
import { rbdClusterSchema, rbdPoolSchema, storageObjectRefSchema } from "../schemas/storage";
import { procedure, router } from "../trpc";

function cephError(err: unknown): never {
  throw new TRPCError({ code: "BAD_REQUEST", message: (err as Error).message, cause: err });
}

function needRbd(): void {
  if (!rbdAvailable()) throw new TRPCError({ code: "PRECONDITION_FAILED", message: `rbd backstore unavailable: ${rbdStatus}` });
}

export const rbdRouter = router({
  /** { available, reason }: the wizard offers Ceph RBD only when available, and says why not. */
  status: procedure.query(() => ({ available: rbdAvailable(), reason: rbdStatus })),
  /** Health (HEALTH_OK/WARN/ERR and its checks), capacity, and every pool with its usage. */
  cluster: procedure.input(rbdClusterSchema).query(async ({ input }) => {
    needRbd();
    return rbdClusterInfo(input.conf, input.id).catch(cephError);
  }),
  images: procedure.input(rbdPoolSchema).query(async ({ input }) => {
    needRbd();
    return rbdImages(input.conf, input.id, input.pool).catch(cephError);
  }),
  /** An rbd storage object's image: provisioned vs used bytes, features, lock owners, offline reason. */
  image: procedure.input(storageObjectRefSchema).query(async ({ ctx, input }) => {
    const so = ctx.engine.storageObject(input.plugin, input.name);
    const b = so.backstore;
    if (!(b instanceof RbdBackstore)) throw new TRPCError({ code: "BAD_REQUEST", message: `${so.key} is not an rbd storage object` });
    const base = { config: so.dev ?? "", pool: b.config.pool, image: b.config.image, provisioned: b.sizeBytes, offline: b.offline ?? null, lastError: b.lastError ?? null };
    if (b.offline) return { ...base, used: null, features: [] as string[], lockOwners: [] as string[], objectSize: b.objectSize };
    const st = await b.stat(true).catch(cephError);
    return { ...base, used: st.used ?? null, features: featureNames(st.features), lockOwners: st.lockOwners, objectSize: st.objectSize };
  }),
});
