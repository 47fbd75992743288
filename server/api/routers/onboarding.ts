/**
 * The onboarding wizard's API. `status` is public. While the appliance has no admin,
 * the wizard's helpers and `complete` are reachable without a session (there is no one
 * to sign in yet) but only with the one-time setup code (server/auth/setup-code.ts), from
 * loopback too; once an admin exists, they need one, and `complete` is refused.
 */
import { TRPCError } from "@trpc/server";
import { sessionCookie } from "../../auth/cookies";
import { capabilities } from "../../config/capabilities";
import { addresses, blockDevices, defaultIqnPrefix, hostname } from "../../console/host";
import { createInitialConfig, storageProblems } from "../../console/onboarding";
import net from "node:net";
import { FieldError } from "../../console/errors";
import { onboardingSchema, onboardingStorageSchema, onboardingTargetSchema } from "../../console/schemas";
import { portalKey } from "../../engine/core/names";
import { z } from "zod";
import type { Context } from "../trpc";
import { publicProcedure, router } from "../trpc";
import { runAudited } from "../../history/audit";
import { recordEvent } from "../../history/events";

/** Refuses an onboarding request from the network without the right setup code (FORBIDDEN, field `setupCode`). */
function requireSetupCode(ctx: Context): void {
  if (ctx.actor !== "console") return;
  const refusal = ctx.auth?.setupCode?.refusal(ctx.http?.ip, ctx.http?.setupCode);
  if (refusal) throw new FieldError(refusal, "setupCode", "FORBIDDEN");
}

const setupOrAdmin = publicProcedure.use(({ ctx, next }) => {
  const onboarded = ctx.auth?.hasAdmin() ?? true;
  if (ctx.session || ctx.actor === "cli" || ctx.actor === "internal") return next();
  if (!onboarded) {
    requireSetupCode(ctx);
    return next();
  }
  throw new TRPCError({ code: "UNAUTHORIZED", message: "sign in to the console first" });
});

export const onboardingRouter = router({
  status: publicProcedure.query(({ ctx }) => {
    const onboarded = ctx.auth?.hasAdmin() ?? true;
    // Whether this browser must enter the setup code (a code is in force: until an admin exists).
    const setupCodeRequired = !onboarded && ctx.actor === "console" && Boolean(ctx.auth?.setupCode?.refusal(ctx.http?.ip, undefined));
    return { onboarded, setupCodeRequired };
  }),

  /** The wizard's first step: is this the setup code? (FORBIDDEN at field `setupCode` when not.) */
  checkSetupCode: publicProcedure.input(z.object({ code: z.string().trim().min(1, "required").max(64) })).mutation(({ ctx, input }) => {
    if (ctx.auth?.hasAdmin() ?? true) throw new TRPCError({ code: "CONFLICT", message: "this appliance is already set up: sign in instead" });
    const refusal = ctx.auth?.setupCode?.refusal(ctx.http?.ip, input.code);
    if (refusal) throw new FieldError(refusal, "setupCode", "FORBIDDEN");
    return { ok: true };
  }),

  /** What the wizard offers: host name, IQN prefix, addresses, block devices, what the engine enforces. */
  defaults: setupOrAdmin.query(({ ctx }) => {
    const existing = ctx.service.config();
    return {
      hostname: hostname(),
      iqnPrefix: defaultIqnPrefix(),
      addresses: addresses(),
      blockDevices: blockDevices().map((d) => ({ ...d, inUse: existing.storageObjects.some((s) => s.plugin === "block" && s.dev === d.path) })),
      chap: capabilities.chap,
      dataDir: ctx.app.dataDir,
      /** Where a new file goes by default: the first storage root, else the storage directory (never the data directory). */
      fileDir: ctx.engine.fileioSettings.storageRoots[0] ?? ctx.engine.fileioSettings.storageDir ?? null,
      existing: { storageObjects: existing.storageObjects.length, targets: existing.targets.length },
    };
  }),

  /** The storage step's server-side checks (existing names, missing directory or device, free space), before review. */
  checkStorage: setupOrAdmin.input(onboardingStorageSchema).mutation(async ({ ctx, input }) => {
    const p = await storageProblems(ctx.service, input);
    if (p) throw p;
    return { ok: true };
  }),

  /** The target step's checks: a new name, and a portal address this machine has with a port nothing else holds. */
  checkTarget: setupOrAdmin.input(onboardingTargetSchema).mutation(async ({ ctx, input }) => {
    const wwn = input.wwn.trim().toLowerCase();
    if (ctx.service.config().targets.some((t) => t.wwn === wwn)) throw new FieldError(`target ${wwn} already exists`, "target.wwn", "CONFLICT");
    const ip = input.ip.replace(/^\[|\]$/g, "");
    // A portal the engine already listens on can serve another TPG too (as in LIO); otherwise try to bind it.
    if (ctx.engine.fabric && ctx.engine.portalKeys().includes(portalKey(ip, input.port))) return { ok: true };
    await probeListen(ip, input.port);
    return { ok: true };
  }),

  /**
   * Creates the admin and everything else in one go (or nothing), and signs them in. The
   * admin row is claimed first, atomically (AuthStore.createFirstAdmin): of two parallel
   * requests one gets CONFLICT and creates nothing; if the configuration then fails, the
   * admin is taken back.
   */
  complete: publicProcedure.input(onboardingSchema).mutation(async ({ ctx, input }) => {
    const auth = ctx.auth;
    if (!auth) throw new TRPCError({ code: "PRECONDITION_FAILED", message: "admin accounts are not available in this context" });
    const alreadySetUp = () => new TRPCError({ code: "CONFLICT", message: "this appliance is already set up: sign in instead" });
    if (auth.hasAdmin()) throw alreadySetUp();
    requireSetupCode(ctx);
    const userId = await auth.createFirstAdmin(input.admin.username, input.admin.password);
    if (userId === undefined) throw alreadySetUp();
    // Audited as one action: the objects onboarding created go in the onboarding event (server/history/audit.ts).
    const { scope, result: created, error } = await runAudited(() => createInitialConfig(ctx.service, input));
    if (error !== undefined) {
      auth.deleteAdmin(userId);
      throw error;
    }
    const { notHonoured } = created!;
    auth.setSetting("appliance.name", input.appliance.name);
    auth.setSetting("appliance.iqnPrefix", input.appliance.iqnPrefix);
    auth.setSetting("onboarding.completedAt", new Date().toISOString());
    auth.setupCode?.drop();
    recordEvent({
      type: "onboarding",
      actor: input.admin.username.trim(),
      remote: ctx.http?.ip ?? "local",
      message: `appliance ${input.appliance.name} set up; administrator ${input.admin.username.trim()} created${input.target ? `, target ${input.target.wwn.trim().toLowerCase()}` : ""}`,
      detail: { changes: scope.changes, ...(ctx.http?.userAgent ? { userAgent: ctx.http.userAgent.slice(0, 200) } : {}) },
    });
    const s = auth.createSession(userId, { ip: ctx.http?.ip, userAgent: ctx.http?.userAgent });
    ctx.http?.setCookie(sessionCookie(s.token, { maxAgeSeconds: s.maxAgeSeconds, secure: ctx.http.secure }));
    return { notHonoured, target: input.target ? { ...input.target, wwn: input.target.wwn.trim().toLowerCase() } : null };
  }),
});


/** Binds and releases ip:port, to tell "in use" or "not an address of this machine" before anything is created. */
function probeListen(ip: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE") reject(new FieldError(`port ${port} on ${ip} is already in use: pick another port`, "target.port", "CONFLICT"));
      else if (err.code === "EADDRNOTAVAIL") reject(new FieldError(`${ip} is not an address of this machine`, "target.ip"));
      else if (err.code === "EACCES") reject(new FieldError(`not allowed to listen on port ${port} (ports below 1024 need privileges)`, "target.port"));
      else reject(new FieldError(`cannot listen on ${ip}:${port}: ${err.message}`, "target.port"));
    });
    srv.listen({ host: ip === "::0" ? "::" : ip, port, exclusive: true }, () => srv.close(() => resolve()));
  });
}
