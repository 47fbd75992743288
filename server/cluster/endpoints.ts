/**
 * etcd endpoints as an admin types them (PORTICO_CLUSTER, the Cluster page's join form):
 * `etcd://h1:p1,h2:p2`, `http://…`, or a bare `h1:p1, h2:p2`. Pure (no Node imports) so the
 * console's form and the API's schema say the same as the start-up check.
 */

/** The etcd client URLs (`http://host:port`, duplicates removed), or why the text is not a list of endpoints. */
export function parseEndpoints(raw: string, opts: { bare?: boolean } = {}): { endpoints: string[] } | { reason: string } {
  const text = raw.trim();
  const m = /^(etcd|http):\/\/(.+)$/.exec(text);
  if (!m && !(opts.bare && text && !text.includes("://"))) return { reason: "expected etcd://host:port[,host:port...]" };
  const list = m ? m[2]! : text;
  const endpoints: string[] = [];
  for (const hp of list.split(",")) {
    const h = hp.trim().replace(/\/+$/, "");
    const mm = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(h);
    const port = mm ? Number(mm[2]) : NaN;
    if (!mm || port < 1 || port > 65535) return { reason: `"${hp.trim()}" is not host:port` };
    endpoints.push(`http://${mm[1]}:${port}`);
  }
  return { endpoints: [...new Set(endpoints)] };
}
