/**
 * A small SMTP client (RFC 5321) for alert e-mail: EHLO, STARTTLS (RFC 3207) or TLS
 * from the start, AUTH PLAIN / LOGIN (RFC 4954), one message to a few recipients.
 * Enough for a relay or a mail provider's submission port; an appliance sends a few
 * plain-text alerts, so no pooling, attachments or retries here (the alert service
 * retries on its next evaluation).
 */
import { randomBytes } from "node:crypto";
import net from "node:net";
import os from "node:os";
import tls from "node:tls";

export interface SmtpOptions {
  host: string;
  port: number;
  security: "none" | "starttls" | "tls";
  username?: string;
  password?: string;
  /** Accept a certificate that does not verify (a relay with a self-signed certificate). Default false. */
  allowUnverified?: boolean;
  timeoutMs?: number;
}

export interface MailMessage {
  from: string;
  to: string[];
  subject: string;
  text: string;
}

export class SmtpError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
  }
}

/**
 * A header value with non-ASCII characters as RFC 2047 encoded-words (each at most 75
 * characters, split between characters, folded onto continuation lines).
 */
export function encodeHeader(v: string): string {
  if (/^[\x20-\x7e]*$/.test(v)) return v;
  const words: string[] = [];
  let chunk = "";
  for (const ch of v) {
    // 45 bytes of UTF-8 → 60 characters of base64 + 12 of "=?UTF-8?B?" and "?=" = 72.
    if (Buffer.byteLength(chunk + ch, "utf8") > 45) {
      words.push(chunk);
      chunk = "";
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, "utf8").toString("base64")}?=`).join("\r\n ");
}

/** The message as sent after DATA: headers, body in quoted-printable-free 7bit/8bit, dot-stuffed (RFC 5321 §4.5.2), CRLF line ends. */
export function formatMessage(m: MailMessage, now = new Date(), hostname = os.hostname()): string {
  const domain = /@(.+)$/.exec(m.from)?.[1] ?? hostname;
  const headers = [
    `From: ${m.from}`,
    `To: ${m.to.join(", ")}`,
    `Subject: ${encodeHeader(m.subject.replace(/[\r\n]+/g, " "))}`,
    `Date: ${now.toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: <${randomBytes(12).toString("hex")}@${domain}>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "Auto-Submitted: auto-generated",
  ];
  const body = m.text.replace(/\r?\n/g, "\r\n").split("\r\n").map((l) => (l.startsWith(".") ? `.${l}` : l)).join("\r\n");
  return `${headers.join("\r\n")}\r\n\r\n${body}\r\n`;
}

/** Reads SMTP replies (multi-line: `250-…` until `250 …`) from a socket. */
class ReplyReader {
  private buf = "";
  private waiting: ((r: { code: number; text: string }) => void) | undefined;
  private failed: ((e: Error) => void) | undefined;
  private queue: { code: number; text: string }[] = [];
  private lines: string[] = [];

  attach(sock: net.Socket | tls.TLSSocket): void {
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => this.push(d));
  }

  fail(e: Error): void {
    this.failed?.(e);
  }

  private push(d: string): void {
    this.buf += d;
    let i: number;
    while ((i = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, i).replace(/\r$/, "");
      this.buf = this.buf.slice(i + 1);
      this.lines.push(line);
      if (/^\d{3}(?: |$)/.test(line)) {
        const r = { code: Number(line.slice(0, 3)), text: this.lines.map((l) => l.slice(4)).join("\n") };
        this.lines = [];
        if (this.waiting) {
          const w = this.waiting;
          this.waiting = undefined;
          w(r);
        } else this.queue.push(r);
      }
    }
  }

  next(timeoutMs: number): Promise<{ code: number; text: string }> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new SmtpError(`no reply from the SMTP server within ${timeoutMs / 1000} s`)), timeoutMs);
      this.waiting = (r) => (clearTimeout(t), resolve(r));
      this.failed = (e) => (clearTimeout(t), reject(e));
    });
  }
}

/** Sends one message; resolves when the server accepted it (250 after DATA), rejects with the server's words otherwise. */
export async function sendMail(o: SmtpOptions, m: MailMessage): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 15_000;
  const tlsOpts = { servername: net.isIP(o.host) ? undefined : o.host, rejectUnauthorized: !o.allowUnverified };
  let sock: net.Socket | tls.TLSSocket = await new Promise((resolve, reject) => {
    const s: net.Socket = o.security === "tls" ? tls.connect({ host: o.host, port: o.port, ...tlsOpts }) : net.connect({ host: o.host, port: o.port });
    const t = setTimeout(() => (s.destroy(), reject(new SmtpError(`cannot connect to ${o.host}:${o.port}: timed out`))), timeoutMs);
    s.once(o.security === "tls" ? "secureConnect" : "connect", () => (clearTimeout(t), resolve(s)));
    s.once("error", (e) => (clearTimeout(t), reject(new SmtpError(`cannot connect to ${o.host}:${o.port}: ${e.message}`))));
  });
  let reader = new ReplyReader();
  reader.attach(sock);
  const onError = (e: Error) => reader.fail(new SmtpError(`SMTP connection: ${e.message}`));
  sock.on("error", onError);
  const expect = async (ok: (c: number) => boolean, what: string) => {
    const r = await reader.next(timeoutMs);
    if (!ok(r.code)) throw new SmtpError(`${what}: the server said ${r.code} ${r.text}`, r.code);
    return r;
  };
  const cmd = async (line: string, ok: (c: number) => boolean, what = line.split(" ")[0]) => {
    sock.write(`${line}\r\n`);
    return expect(ok, what);
  };
  const is2 = (c: number) => c >= 200 && c < 300;
  try {
    await expect(is2, "greeting");
    const helo = `EHLO ${os.hostname() || "portico"}`;
    let ehlo = await cmd(helo, is2, "EHLO");
    if (o.security === "starttls") {
      if (!/^STARTTLS\b/im.test(ehlo.text)) throw new SmtpError("the server does not offer STARTTLS: choose 'none' only for a trusted relay");
      await cmd("STARTTLS", (c) => c === 220);
      sock.removeListener("error", onError);
      sock = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ socket: sock as net.Socket, ...tlsOpts });
        s.once("secureConnect", () => resolve(s));
        s.once("error", (e) => reject(new SmtpError(`TLS with ${o.host}: ${e.message}`)));
      });
      reader = new ReplyReader();
      reader.attach(sock);
      sock.on("error", onError);
      ehlo = await cmd(helo, is2, "EHLO");
    }
    if (o.username) {
      const mechs = /^AUTH[ =](.*)$/im.exec(ehlo.text)?.[1].toUpperCase().split(/\s+/) ?? [];
      if (mechs.includes("PLAIN") || !mechs.includes("LOGIN")) {
        const token = Buffer.from(`\u0000${o.username}\u0000${o.password ?? ""}`, "utf8").toString("base64");
        await cmd(`AUTH PLAIN ${token}`, (c) => c === 235, "AUTH");
      } else {
        await cmd("AUTH LOGIN", (c) => c === 334, "AUTH");
        await cmd(Buffer.from(o.username).toString("base64"), (c) => c === 334, "AUTH user");
        await cmd(Buffer.from(o.password ?? "").toString("base64"), (c) => c === 235, "AUTH");
      }
    }
    await cmd(`MAIL FROM:<${m.from}>`, is2, "MAIL FROM");
    for (const rcpt of m.to) await cmd(`RCPT TO:<${rcpt}>`, is2, `RCPT TO ${rcpt}`);
    await cmd("DATA", (c) => c === 354);
    sock.write(formatMessage(m));
    await cmd(".", is2, "message");
    sock.write("QUIT\r\n");
    await expect(() => true, "QUIT").catch(() => undefined);
  } finally {
    sock.end();
    setTimeout(() => sock.destroy(), 1000).unref();
  }
}
