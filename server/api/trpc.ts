/**
 * tRPC setup: context, error shape and the base procedure.
 *
 * Errors: an EngineError becomes a TRPCError with its message and `data.field`
 * (the input it concerns) so the console can show it next to that input; a zod
 * rejection carries `data.field` (first issue's path) and `data.zodError`; a refused
 * saveconfig.json carries `data.issues` (path + message each).
 *
 * Access: `procedure` requires an admin session (cookie), the CLI's runtime-file
 * token, or an in-process caller; `publicProcedure` is only for login and the
 * onboarding status (server/api/routers/auth.ts, onboarding.ts).
 */
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError } from "zod";
import { ConfigImportError, type ConfigIssue } from "../config/errors";
import type { ConfigService } from "../config/service";
import { PasswordBusyError } from "../auth/password";
import type { LoginRateLimiter } from "../auth/rate-limit";
import type { HttpsControl } from "../http/front-door";
import type { AuthStore, SessionUser } from "../auth/store";
import { FieldError } from "../console/errors";
import type { Engine } from "../engine/core/engine";
import { EngineError } from "../engine/core/errors";
import { runAudited } from "../history/audit";
import { diffState } from "../config/diff";
import { recordConfigChange } from "../history/events";

export interface AppInfo {
  version: string;
  startedAt: number;
  dataDir: string;
  /** The console's URL, when served over HTTP. */
  url?: string;
}

export interface Context {
  service: ConfigService;
  engine: Engine;
  app: AppInfo;
  /** Who is calling: the CLI (runtime-file token), the console, or an in-process caller. */
  actor: "cli" | "console" | "internal";
  /** Admin accounts and sessions (absent for callers that never log in, e.g. unit tests of other routers). */
  auth?: AuthStore;
  /** The admin this request's session cookie belongs to. */
  session?: SessionUser;
  limiter?: LoginRateLimiter;
  /** The console's HTTPS certificate and access settings (absent without the HTTP front door). */
  https?: HttpsControl;
  /** Present for HTTP requests: who asked, and a way to set the session cookie on the response. */
  http?: {
    ip: string;
    /** On this machine (loopback, not forwarded by an untrusted proxy): server/http/policy.ts. */
    local?: boolean;
    userAgent?: string;
    /** The CLI's operating-system user (header x-portico-cli-user; informative: the token is what authorizes). */
    cliUser?: string;
    secure: boolean;
    setCookie(value: string): void;
    /** The onboarding setup code the request presents (server/auth/setup-code.ts). */
    setupCode?: string;
    /** The request is a tRPC batch (`?batch=1`): auth.login refuses those. */
    batch?: boolean;
  };
}

const CODE_BY_ENGINE_CODE: Record<EngineError["code"], TRPCError["code"]> = {
  not_found: "NOT_FOUND",
  exists: "CONFLICT",
  in_use: "CONFLICT",
  invalid: "BAD_REQUEST",
  io: "BAD_REQUEST",
  overcommit: "BAD_REQUEST",
};

function toTrpcError(err: unknown): TRPCError | undefined {
  if (err instanceof EngineError) return new TRPCError({ code: CODE_BY_ENGINE_CODE[err.code], message: err.message, cause: err });
  if (err instanceof ConfigImportError) return new TRPCError({ code: "BAD_REQUEST", message: err.message, cause: err });
  if (err instanceof FieldError) return new TRPCError({ code: err.code, message: err.message, cause: err });
  // The password-hashing queue is full (server/auth/password.ts): "busy, try again", not an internal error.
  if (err instanceof PasswordBusyError) return new TRPCError({ code: "TOO_MANY_REQUESTS", message: err.message, cause: err });
  return undefined;
}

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    let field: string | undefined;
    let issues: ConfigIssue[] | undefined;
    let zodError: ReturnType<typeof flatten> | undefined;
    if (cause instanceof EngineError || cause instanceof FieldError) field = cause.field;
    if (cause instanceof ConfigImportError) issues = cause.issues;
    if (cause instanceof ZodError) {
      zodError = flatten(cause);
      field = cause.issues[0]?.path.map(String).join(".") || undefined;
    }
    // No stack trace to the client (tRPC adds one unless NODE_ENV=production, which the appliance does not set): server internals and paths.
    const { stack: _stack, ...data } = shape.data;
    return { ...shape, data: { ...data, field, issues, zodError, engineCode: cause instanceof EngineError ? cause.code : cause instanceof FieldError ? cause.engineCode : undefined } };
  },
});

function flatten(err: ZodError): { formErrors: string[]; fieldErrors: Record<string, string[]> } {
  const fieldErrors: Record<string, string[]> = {};
  const formErrors: string[] = [];
  for (const issue of err.issues) {
    const key = issue.path.map(String).join(".");
    if (!key) formErrors.push(issue.message);
    else (fieldErrors[key] ??= []).push(issue.message);
  }
  return { formErrors, fieldErrors };
}

/** Turns engine and import refusals into typed tRPC errors; anything else stays INTERNAL_SERVER_ERROR (never a crash). */
const mapErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok) {
    const mapped = toTrpcError(result.error.cause);
    if (mapped) throw mapped;
  }
  return result;
});

/** Admin session, CLI token, or in-process caller; everything else is UNAUTHORIZED. */
const requireAdmin = t.middleware(({ ctx, next }) => {
  if (ctx.actor === "cli" || ctx.actor === "internal" || ctx.session) return next();
  throw new TRPCError({ code: "UNAUTHORIZED", message: "sign in to the console first" });
});

/**
 * Every mutation goes to the audit log (server/history/events.ts) with its path, who made it and
 * from where, and what it changed: the configuration transactions it ran note their changes in its
 * audit scope (server/history/audit.ts); a mutation that changes settings outside them (appliance
 * name, alert settings) is compared before → after here.
 */
const audit = t.middleware(async ({ ctx, type, path, next, getRawInput }) => {
  if (type !== "mutation") return next();
  const settingsBefore = safely(() => ctx.service.auditedState().settings);
  const { scope, result, error } = await runAudited(() => next());
  const changes = scope.changes;
  if (scope.transactions === 0 && settingsBefore) {
    const settingsAfter = safely(() => ctx.service.auditedState().settings);
    const empty = { storageObjects: [], targets: [], discoveryAuth: { enabled: false } };
    if (settingsAfter) changes.push(...diffState({ config: empty, settings: settingsBefore }, { config: empty, settings: settingsAfter }));
  }
  const ok = result?.ok ?? false;
  const who = ctx.session?.username ?? ctx.actor;
  const failure = result && !result.ok ? result.error.message : error instanceof Error ? error.message : undefined;
  recordConfigChange(path, who, ok, await getRawInput().catch(() => undefined), failure, changes, {
    remote: ctx.http?.ip,
    via: ctx.actor,
    osUser: ctx.actor === "cli" ? ctx.http?.cliUser : undefined,
    userAgent: ctx.actor === "console" ? ctx.http?.userAgent : undefined,
  });
  if (error !== undefined) throw error;
  return result!;
});

function safely<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

export const router = t.router;
/** Reachable without a session: login and the onboarding status only. */
export const publicProcedure = t.procedure.use(mapErrors);
/** Every other procedure: requires an admin (see requireAdmin). */
export const procedure = publicProcedure.use(requireAdmin).use(audit);
export const createCallerFactory = t.createCallerFactory;
