/**
 * The console's session cookie: httpOnly (no script reads it), SameSite=Strict (no cross-site
 * request carries it). Over HTTPS it is `Secure` and named `__Host-portico_session`: the
 * browser then accepts it only from a secure origin, for this host, at Path=/, so a plain-HTTP
 * page or a sibling domain cannot plant or overwrite it. Plain HTTP (loopback) keeps the plain name.
 */
export const SESSION_COOKIE = "portico_session";
export const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

export function sessionCookieName(secure: boolean): string {
  return secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    if (!k || k in out) continue;
    try {
      out[k] = decodeURIComponent(part.slice(i + 1).trim());
    } catch {
      out[k] = part.slice(i + 1).trim();
    }
  }
  return out;
}

export function sessionCookie(token: string, opts: { maxAgeSeconds: number; secure: boolean }): string {
  return [`${sessionCookieName(opts.secure)}=${token}`, "Path=/", "HttpOnly", "SameSite=Strict", `Max-Age=${opts.maxAgeSeconds}`, ...(opts.secure ? ["Secure"] : [])].join("; ");
}

export function clearedSessionCookie(secure: boolean): string {
  return sessionCookie("", { maxAgeSeconds: 0, secure });
}
