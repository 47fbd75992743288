import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeHeader, formatMessage, sendMail } from "../../../server/alerts/smtp";
import { startSmtpSink, type SmtpSink } from "../../support/sinks";

let sink: SmtpSink;
beforeAll(async () => {
  sink = await startSmtpSink({ requireAuth: { user: "u", password: "right-password" } });
});
afterAll(() => sink.close());

describe("SMTP client", () => {
  it("dot-stuffs lines that start with a dot and ends lines with CRLF", () => {
    const m = formatMessage({ from: "a@b.test", to: ["c@d.test"], subject: "s", text: "one\n.two\n..three" }, new Date(0));
    expect(m).toContain("\r\n\r\none\r\n..two\r\n...three\r\n");
    expect(m).toContain("Date: Thu, 01 Jan 1970 00:00:00 +0000");
  });

  it("encodes a non-ASCII subject as RFC 2047 words of at most 75 characters", () => {
    const s = "Stockage « disque-é » hors ligne — fichier supprimé, vérifiez le serveur";
    const enc = encodeHeader(s);
    const words = enc.split("\r\n ");
    expect(words.every((w) => w.length <= 75 && /^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=$/.test(w))).toBe(true);
    expect(words.map((w) => Buffer.from(w.slice(10, -2), "base64").toString("utf8")).join("")).toBe(s);
    expect(encodeHeader("plain")).toBe("plain");
  });

  it("delivers with AUTH to several recipients", async () => {
    await sendMail({ host: "127.0.0.1", port: sink.port, security: "none", username: "u", password: "right-password" }, { from: "p@a.test", to: ["x@y.test", "z@y.test"], subject: "hello", text: "body\n.dot" });
    const m = await sink.waitFor((x) => x.data.includes("Subject: hello"), 2000);
    expect(m.to).toEqual(["x@y.test", "z@y.test"]);
    expect(m.data).toContain("\r\nbody\r\n.dot\r\n");
  });

  it("a wrong password is an error with the server's reply, and nothing is sent", async () => {
    const before = sink.mails.length;
    await expect(sendMail({ host: "127.0.0.1", port: sink.port, security: "none", username: "u", password: "wrong" }, { from: "p@a.test", to: ["x@y.test"], subject: "no", text: "no" })).rejects.toThrow(/AUTH: the server said 535/);
    expect(sink.mails.length).toBe(before);
  });

  it("STARTTLS required but not offered is refused before any credentials are sent", async () => {
    await expect(sendMail({ host: "127.0.0.1", port: sink.port, security: "starttls", username: "u", password: "right-password" }, { from: "p@a.test", to: ["x@y.test"], subject: "no", text: "no" })).rejects.toThrow(/does not offer STARTTLS/);
  });
});
