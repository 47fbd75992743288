/**
 * HTTPS and plain HTTP on one port. Each connection's first byte decides: 0x16 is a TLS
 * handshake record (RFC 8446 §5.1, ContentType handshake(22)) → the https server; anything
 * else → the plain http server (which policy.ts keeps for loopback and otherwise redirects).
 * The byte is pushed back before the socket is handed over, so neither server misses it
 * (the TLS wrap reads what is buffered on the socket first).
 */
import http from "node:http";
import https from "node:https";
import net from "node:net";

const TLS_HANDSHAKE = 0x16;
/** A connection that sends nothing is dropped after this (browsers open spare sockets and may leave them idle). */
const FIRST_BYTE_TIMEOUT_MS = 65_000;

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
export type UpgradeHandler = (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void;

export interface DualListener {
  /** The listening socket (listen, address, close). */
  readonly server: net.Server;
  readonly http: http.Server;
  /** Undefined when TLS is off (PORTICO_HTTPS=off). */
  readonly https?: https.Server;
  /** Serves a new certificate to new connections (an upload), without a restart. */
  setCertificate(cert: string, key: string): void;
  closeIdleConnections(): void;
  closeAllConnections(): void;
}

function tune(server: http.Server): void {
  // Idle keep-alive sockets outlive any client's own idle limit (undici's is 4 s), so the
  // client always closes first: a server closing at 5 s races a request just written on the
  // same socket ("other side closed"), seen when a script's client was busy for a few seconds.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
}

export function createDualListener(opts: { handler: Handler; upgrade?: UpgradeHandler; tls?: { cert: string; key: string } }): DualListener {
  const plain = http.createServer(opts.handler);
  const secure = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, opts.handler) : undefined;
  for (const s of [plain, secure]) {
    if (!s) continue;
    tune(s);
    if (opts.upgrade) s.on("upgrade", opts.upgrade);
    // Malformed requests and failed handshakes keep Node's defaults (400/408/431 then close; a
    // failed TLS handshake closes that socket): one bad client never disturbs another.
    // These servers never listen themselves: 'listening' is what starts Node's connection
    // tracking (closeIdleConnections/closeAllConnections, headersTimeout and requestTimeout checks).
    s.emit("listening");
  }

  /** Connections that have not sent their first byte yet (the http servers track the rest). */
  const waiting = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    waiting.add(socket);
    socket.on("close", () => waiting.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
    socket.once("data", (chunk: Buffer) => {
      waiting.delete(socket);
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(chunk);
      if (secure && chunk[0] === TLS_HANDSHAKE) {
        secure.emit("connection", socket);
      } else {
        plain.emit("connection", socket);
        socket.resume();
      }
    });
  });

  return {
    server,
    http: plain,
    https: secure,
    setCertificate(cert, key) {
      secure?.setSecureContext({ cert, key });
    },
    closeIdleConnections() {
      plain.closeIdleConnections();
      secure?.closeIdleConnections();
    },
    closeAllConnections() {
      for (const s of waiting) s.destroy();
      plain.closeAllConnections();
      secure?.closeAllConnections();
    },
  };
}
