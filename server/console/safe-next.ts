/**
 * Where the login page may send the browser after sign-in (`/login?next=…`): only a page
 * of the console itself. `next` is resolved against the console's own origin the way
 * the browser will resolve it, and anything that lands elsewhere is dropped: a prefix
 * check on the string is not enough, because the URL parser turns `/\evil.example/`
 * into `//evil.example/` and strips tabs and newlines (`/%09/evil.example/`), both of
 * which leave the site. Pure: the login page (components/pages/login.tsx) calls it.
 */
export function safeNext(next: string | null | undefined, origin: string): string {
  if (!next || !next.startsWith("/")) return "/";
  let url: URL;
  try {
    url = new URL(next, origin);
  } catch {
    return "/";
  }
  if (url.origin !== new URL(origin).origin) return "/";
  // Back to the login page would be a loop.
  if (url.pathname === "/login" || url.pathname.startsWith("/login/")) return "/";
  return `${url.pathname}${url.search}${url.hash}`;
}
