/**
 * The Cluster page's API (issue 14, point 5): thin, zod then a service in server/cluster.
 * `status` is the raw membership (null on a single appliance); `overview` is what the page
 * shows (nodes with their lease, ownership when the ownership module runs).
 */
import { TRPCError } from "@trpc/server";
import { getCluster } from "../../cluster";
import { clusterOverview, moveLu } from "../../cluster/console";
import { getClusterControl } from "../../cluster/join";
import { FieldError } from "../../console/errors";
import { evictNodeSchema, joinClusterSchema, moveOwnershipSchema } from "../schemas/cluster";
import { procedure, router, type Context } from "../trpc";

function control() {
  const c = getClusterControl();
  if (!c) throw new TRPCError({ code: "PRECONDITION_FAILED", message: "cluster control is not running in this process" });
  return c;
}

const who = (ctx: Context) => ctx.session?.username ?? ctx.actor;
import { ownershipStatus } from "../../cluster/ownership";

export const clusterRouter = router({
  /** This node's membership and the live members (null on a single appliance). */
  status: procedure.query(() => getCluster()?.status() ?? null),

  /** Everything the Cluster page shows. */
  overview: procedure.query(({ ctx }) => clusterOverview(ctx.engine)),

  /** Joins this node (saved in the data directory, so it rejoins after a restart). */
  join: procedure.input(joinClusterSchema).mutation(({ input, ctx }) => control().join(input, who(ctx))),

  /** This node leaves the cluster on purpose. */
  leave: procedure.mutation(({ ctx }) => control().leave(who(ctx))),

  /** Removes another node (evicts its member key); it does not come back until joined again from its own page. */
  evict: procedure.input(evictNodeSchema).mutation(({ input, ctx }) => control().evict(input.node, who(ctx))),

  /** Moves a LUN's ownership to another live member (when the ownership module can). */
  moveOwnership: procedure.input(moveOwnershipSchema).mutation(async ({ input, ctx }) => {
    try {
      await moveLu(input.lu, input.to, who(ctx));
    } catch (err) {
      if (err instanceof TRPCError || err instanceof FieldError) throw err;
      throw new FieldError((err as Error).message, "to", "CONFLICT");
    }
  }),

  /** Per rbd LU: the owner (its ALUA group Active/Optimized), this node's part and state (empty on a single appliance). */
  ownership: procedure.query(() => ownershipStatus()),
});
