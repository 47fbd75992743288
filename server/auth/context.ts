/**
 * The tRPC context of an HTTP request (server/main.ts): the CLI's token header or the
 * console's session cookie decides who is calling; the login procedures get a way to
 * set the cookie on the response.
 */
import { timingSafeEqual } from "node:crypto";
import type http from "node:http";
import { TRPCError } from "@trpc/server";
import type { AppInfo, Context } from "../api/trpc";
import type { ConfigService } from "../config/service";
import type { Engine } from "../engine/core/engine";
import { CLI_USER_HEADER, TOKEN_HEADER } from "../runtime";
import type { HttpsControl } from "../http/front-door";
import { requestClient } from "../http/client";
import { parseCookies, sessionCookieName } from "./cookies";
import type { LoginRateLimiter } from "./rate-limit";
import { SETUP_CODE_HEADER } from "./setup-code";
import type { AuthStore } from "./store";

/** Constant-time comparison, so the CLI token cannot be guessed byte by byte from response times. */
function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The session of the request's cookie; over HTTPS only the `__Host-` cookie counts (server/auth/cookies.ts). */
export function sessionOf(auth: AuthStore, req: http.IncomingMessage) {
  return auth.session(parseCookies(req.headers.cookie)[sessionCookieName(requestClient(req).secure)]);
}

export function httpContextFactory(deps: { service: ConfigService; engine: Engine; app: AppInfo; auth: AuthStore; limiter: LoginRateLimiter; token: string; https?: { current?: HttpsControl } }) {
  return ({ req, res, info }: { req: http.IncomingMessage; res: http.ServerResponse; info?: { isBatchCall: boolean } }): Context => {
    const given = req.headers[TOKEN_HEADER];
    const tokenOk = typeof given === "string" && sameSecret(given, deps.token);
    if (given !== undefined && !tokenOk) throw new TRPCError({ code: "UNAUTHORIZED", message: "wrong token: is the runtime file from another start?" });
    const ua = req.headers["user-agent"];
    const setupCode = req.headers[SETUP_CODE_HEADER];
    const client = requestClient(req); // the front door's view: a trusted proxy's client, HTTPS as the browser sees it
    const cliUser = req.headers[CLI_USER_HEADER];
    return {
      service: deps.service,
      engine: deps.engine,
      app: deps.app,
      actor: tokenOk ? "cli" : "console",
      auth: deps.auth,
      limiter: deps.limiter,
      https: deps.https?.current,
      session: sessionOf(deps.auth, req),
      http: {
        ip: client.ip,
        local: client.local,
        userAgent: typeof ua === "string" ? ua : undefined,
        cliUser: tokenOk && typeof cliUser === "string" ? cliUser.slice(0, 64) : undefined,
        secure: client.secure,
        setupCode: typeof setupCode === "string" ? setupCode : undefined,
        batch: Boolean(info?.isBatchCall),
        setCookie: (value) => {
          const prev = res.getHeader("set-cookie");
          res.setHeader("set-cookie", [...(Array.isArray(prev) ? prev : prev ? [String(prev)] : []), value]);
        },
      },
    };
  };
}
