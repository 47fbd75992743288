/**
 * Local receivers for alert delivery tests, on 127.0.0.1 and free ports: an SMTP sink
 * that speaks enough RFC 5321 (EHLO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, QUIT) to take
 * mail from any client and keep it, and a webhook receiver that keeps every POST body.
 */
import http from "node:http";
import net from "node:net";

export interface SunkMail {
  from: string;
  to: string[];
  data: string;
  auth?: { user: string; password: string };
}

export interface SmtpSink {
  port: number;
  mails: SunkMail[];
  /** Resolves with the first mail (from now on or already received) that matches. */
  waitFor(pred: (m: SunkMail) => boolean, timeoutMs?: number): Promise<SunkMail>;
  close(): Promise<void>;
}

export async function startSmtpSink(opts: { requireAuth?: { user: string; password: string } } = {}): Promise<SmtpSink> {
  const mails: SunkMail[] = [];
  const waiters: (() => void)[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => undefined);
    let buf = "";
    let mode: "cmd" | "data" | "login-user" | "login-pass" = "cmd";
    let cur: SunkMail = { from: "", to: [], data: "" };
    let authed = !opts.requireAuth;
    let loginUser = "";
    const reply = (s: string) => sock.write(`${s}\r\n`);
    const checkAuth = (user: string, password: string) => {
      cur.auth = { user, password };
      authed = !opts.requireAuth || (opts.requireAuth.user === user && opts.requireAuth.password === password);
      reply(authed ? "235 2.7.0 Authentication successful" : "535 5.7.8 Authentication credentials invalid");
    };
    reply("220 sink.local ESMTP test sink");
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (mode === "data") {
          if (line === ".") {
            mode = "cmd";
            mails.push(cur);
            cur = { from: "", to: [], data: "", auth: cur.auth };
            reply("250 2.0.0 queued");
            waiters.splice(0).forEach((w) => w());
          } else cur.data += `${line.startsWith("..") ? line.slice(1) : line}\r\n`;
          continue;
        }
        if (mode === "login-user") {
          loginUser = Buffer.from(line, "base64").toString();
          mode = "login-pass";
          reply("334 UGFzc3dvcmQ6");
          continue;
        }
        if (mode === "login-pass") {
          mode = "cmd";
          checkAuth(loginUser, Buffer.from(line, "base64").toString());
          continue;
        }
        const verb = line.split(" ")[0].toUpperCase();
        if (verb === "EHLO" || verb === "HELO") reply("250-sink.local\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME");
        else if (verb === "AUTH") {
          const [, mech, arg] = line.split(" ");
          if (mech?.toUpperCase() === "PLAIN" && arg) {
            const [, user, password] = Buffer.from(arg, "base64").toString().split("\u0000");
            checkAuth(user ?? "", password ?? "");
          } else if (mech?.toUpperCase() === "LOGIN") {
            mode = "login-user";
            reply("334 VXNlcm5hbWU6");
          } else reply("504 5.5.4 unrecognized authentication type");
        } else if (verb === "MAIL") {
          if (!authed) reply("530 5.7.0 Authentication required");
          else {
            cur.from = /<([^>]*)>/.exec(line)?.[1] ?? "";
            reply("250 2.1.0 ok");
          }
        } else if (verb === "RCPT") {
          cur.to.push(/<([^>]*)>/.exec(line)?.[1] ?? "");
          reply("250 2.1.5 ok");
        } else if (verb === "DATA") {
          mode = "data";
          reply("354 end data with <CR><LF>.<CR><LF>");
        } else if (verb === "QUIT") {
          reply("221 2.0.0 bye");
          sock.end();
        } else if (verb === "RSET" || verb === "NOOP") reply("250 2.0.0 ok");
        else reply("502 5.5.2 command not recognized");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    mails,
    async waitFor(pred, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = mails.find(pred);
        if (hit) return hit;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching mail within ${timeoutMs} ms (got ${mails.length})`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => (clearTimeout(t), resolve()));
        });
      }
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export interface WebhookSink {
  url: string;
  bodies: unknown[];
  /** Answer with this status (default 200), to test a failing receiver. */
  status: number;
  waitFor(pred: (b: unknown) => boolean, timeoutMs?: number): Promise<unknown>;
  close(): Promise<void>;
}

export async function startWebhookSink(): Promise<WebhookSink> {
  const bodies: unknown[] = [];
  const waiters: (() => void)[] = [];
  const sink: Partial<WebhookSink> = { bodies, status: 200 };
  const server = http.createServer((req, res) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => (data += d));
    req.on("end", () => {
      try {
        bodies.push(JSON.parse(data));
      } catch {
        bodies.push(data);
      }
      res.writeHead(sink.status ?? 200).end();
      waiters.splice(0).forEach((w) => w());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(sink, {
    url: `http://127.0.0.1:${port}/hook`,
    async waitFor(pred: (b: unknown) => boolean, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = bodies.find(pred);
        if (hit) return hit;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching webhook call within ${timeoutMs} ms (got ${bodies.length})`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => (clearTimeout(t), resolve()));
        });
      }
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  }) as WebhookSink;
}
