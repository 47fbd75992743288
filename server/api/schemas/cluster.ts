/**
 * The Cluster page's forms and the cluster router's inputs: one schema each, used by the form
 * (errors next to the field) and by the API. Node names follow the TPG `node` / PORTICO_NODE rule
 * (engine/core/names), endpoints the PORTICO_CLUSTER rule (cluster/endpoints).
 */
import { z } from "zod";
import { nodeNameReason } from "../../engine/core/names";
import { parseEndpoints } from "../../cluster/endpoints";

export const clusterNodeNameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .min(1, "required")
  .superRefine((v, ctx) => {
    const reason = v ? nodeNameReason(v) : undefined; // empty: "required" alone
    if (reason) ctx.addIssue({ code: "custom", message: `not a valid node name: ${reason}` });
  });

/** etcd endpoints: `etcd://h:p,h:p`, `http://h:p` or a bare `h:p, h:p`; parsed into client URLs. */
export const clusterEndpointsSchema = z
  .string()
  .trim()
  .min(1, "required: the etcd endpoints, e.g. 10.0.0.5:2379,10.0.0.6:2379")
  .transform((v, ctx) => {
    const r = parseEndpoints(v, { bare: true });
    if ("reason" in r) {
      ctx.addIssue({ code: "custom", message: r.reason });
      return z.NEVER;
    }
    return r.endpoints;
  });

/** Join the cluster from the Cluster page: the etcd endpoints and this node's name. */
export const joinClusterSchema = z.object({
  endpoints: clusterEndpointsSchema,
  node: clusterNodeNameSchema,
});
export type JoinClusterInput = z.input<typeof joinClusterSchema>;

/** Remove another member (evict its lease); `confirm` repeats its name, as the dialog asks. */
export const evictNodeSchema = z
  .object({ node: clusterNodeNameSchema, confirm: z.string().trim().toLowerCase() })
  .refine((v) => v.node === v.confirm, { path: ["confirm"], message: "type the node's name to confirm" });

/** Move an rbd LU's ownership to another live member. */
export const moveOwnershipSchema = z.object({
  /** The LU: its rbd storage object's name, as the ownership status names it. */
  lu: z.string().trim().min(1, "required").max(300),
  to: clusterNodeNameSchema,
});
