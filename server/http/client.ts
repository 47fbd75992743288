/**
 * The client of a request as the front door (server/main.ts, server/http/policy.ts) decided
 * it: address, HTTPS, on this machine. Handlers read it here instead of req.socket, so a
 * trusted reverse proxy and forwarded requests are treated alike everywhere (sign-in
 * throttling, the setup code, /metrics, the cookie's name).
 */
import type http from "node:http";
import type { TLSSocket } from "node:tls";
import { clientOf, type Client } from "./policy";

const clients = new WeakMap<http.IncomingMessage, Client>();

export function rememberClient(req: http.IncomingMessage, client: Client): void {
  clients.set(req, client);
}

/** The decided client, or (a request that did not pass the front door, e.g. in unit tests) the TCP peer as it is. */
export function requestClient(req: http.IncomingMessage): Client {
  const known = clients.get(req);
  if (known) return known;
  return clientOf(
    { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers ?? {}, remoteAddress: req.socket?.remoteAddress, encrypted: Boolean((req.socket as TLSSocket | undefined)?.encrypted) },
    () => false,
  );
}
