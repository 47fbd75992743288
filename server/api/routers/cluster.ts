import { getCluster } from "../../cluster";
import { procedure, router } from "../trpc";

export const clusterRouter = router({
  /** This node's membership and the live members (null on a single appliance). */
  status: procedure.query(() => getCluster()?.status() ?? null),
});
