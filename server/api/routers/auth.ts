/**
 * Admin access: status and login are public; logout and password change need a session.
 * The session travels in an httpOnly, SameSite=Strict cookie (server/auth/cookies.ts).
 */
import { TRPCError } from "@trpc/server";
import { clearedSessionCookie, sessionCookie } from "../../auth/cookies";
import { changePasswordSchema, loginSchema } from "../../auth/schemas";
import type { Context } from "../trpc";
import { FieldError } from "../../console/errors";
import { procedure, publicProcedure, router } from "../trpc";
import { recordEvent } from "../../history/events";

/** A sign-in, refused sign-in, sign-out or password change for the audit log: who, from where, with what browser. */
function audit(ctx: Context, type: "signin" | "signin_failed" | "signout" | "password_changed", username: string, reason?: string, message?: string): void {
  recordEvent({
    type,
    actor: username.trim().slice(0, 64) || "(empty)",
    remote: ctx.http?.ip ?? "local",
    reason,
    message,
    detail: ctx.http?.userAgent ? { userAgent: ctx.http.userAgent.slice(0, 200) } : undefined,
  });
}

function authOf(ctx: Context) {
  if (!ctx.auth) throw new TRPCError({ code: "PRECONDITION_FAILED", message: "admin accounts are not available in this context" });
  return ctx.auth;
}

export const authRouter = router({
  /** Public: is the appliance set up, and is this browser signed in? */
  status: publicProcedure.query(({ ctx }) => {
    const onboarded = ctx.auth?.hasAdmin() ?? true;
    return { onboarded, signedIn: Boolean(ctx.session) || ctx.actor === "cli", username: ctx.session?.username ?? null };
  }),

  login: publicProcedure.input(loginSchema).mutation(async ({ ctx, input }) => {
    const auth = authOf(ctx);
    // One guess per request: a batch would let one request carry hundreds (server/main.ts also caps batch size).
    if (ctx.http?.batch) throw new TRPCError({ code: "BAD_REQUEST", message: "auth.login cannot be batched: send one sign-in per request" });
    if (!auth.hasAdmin()) throw new TRPCError({ code: "PRECONDITION_FAILED", message: "this appliance is not set up yet: open the onboarding wizard" });
    const key = ctx.http?.ip ?? "local";
    // Counted before the password is hashed, so parallel guesses count too (server/auth/rate-limit.ts).
    const wait = ctx.limiter?.attempt(key) ?? 0;
    if (wait > 0) {
      audit(ctx, "signin_failed", input.username, "rate_limited", "too many failed sign-ins from this address");
      throw new TRPCError({ code: "TOO_MANY_REQUESTS", message: `too many failed sign-ins: try again in ${Math.ceil(wait / 1000)} s` });
    }
    const userId = await auth.verify(input.username, input.password);
    if (userId === undefined) {
      audit(ctx, "signin_failed", input.username, "wrong_password", "wrong user name or password");
      throw new FieldError("wrong user name or password", "password");
    }
    ctx.limiter?.succeed(key);
    audit(ctx, "signin", input.username);
    const s = auth.createSession(userId, { ip: ctx.http?.ip, userAgent: ctx.http?.userAgent });
    ctx.http?.setCookie(sessionCookie(s.token, { maxAgeSeconds: s.maxAgeSeconds, secure: ctx.http.secure }));
    return { username: input.username.trim() };
  }),

  /** Every admin account, with its live sessions (Settings lists them: a second admin is never invisible). */
  admins: procedure.query(({ ctx }) => {
    const auth = authOf(ctx);
    return auth.listAdmins().map((a) => ({ ...a, you: a.id === ctx.session?.userId }));
  }),

  logout: procedure.mutation(({ ctx }) => {
    if (ctx.session) {
      ctx.auth?.endSession(ctx.session.tokenHash);
      audit(ctx, "signout", ctx.session.username);
    }
    ctx.http?.setCookie(clearedSessionCookie(ctx.http.secure));
    return { ok: true };
  }),

  /** Needs the current password; ends the admin's other sessions. */
  changePassword: procedure.input(changePasswordSchema).mutation(async ({ ctx, input }) => {
    const auth = authOf(ctx);
    const session = ctx.session;
    if (!session) throw new TRPCError({ code: "FORBIDDEN", message: "only a signed-in admin can change the password" });
    const key = ctx.http?.ip ?? "local";
    const wait = ctx.limiter?.attempt(key) ?? 0;
    if (wait > 0) throw new TRPCError({ code: "TOO_MANY_REQUESTS", message: `too many failed attempts: try again in ${Math.ceil(wait / 1000)} s` });
    if (!(await auth.verifyUserId(session.userId, input.current))) {
      audit(ctx, "signin_failed", session.username, "wrong_current_password", "password change refused: the current password is wrong");
      throw new FieldError("the current password is wrong", "current");
    }
    ctx.limiter?.succeed(key);
    await auth.setPassword(session.userId, input.password, session.tokenHash);
    audit(ctx, "password_changed", session.username, undefined, "password changed; the admin's other sessions ended");
    return { ok: true };
  }),
});
