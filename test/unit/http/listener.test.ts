import net from "node:net";
import tls from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { generateSelfSigned } from "../../../server/http/certificate";
import { createDualListener, type DualListener } from "../../../server/http/listener";

const first = generateSelfSigned({ dns: ["localhost"], ips: ["127.0.0.1"] }, 2);
const second = generateSelfSigned({ dns: ["localhost"], ips: ["127.0.0.1"] }, 2);
let listener: DualListener | undefined;
afterEach(() => {
  listener?.closeAllConnections();
  listener?.server.close();
  listener = undefined;
});

async function start(): Promise<number> {
  listener = createDualListener({ handler: (req, res) => res.end(`${(req.socket as tls.TLSSocket).encrypted ? "tls" : "plain"} ${req.url}`), tls: first });
  await new Promise<void>((r) => listener!.server.listen(0, "127.0.0.1", r));
  return (listener.server.address() as net.AddressInfo).port;
}

/** Sends raw requests on one connection; resolves with the bodies seen and a promise of its close. */
function exchange(socket: net.Socket, paths: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    socket.on("data", (d) => {
      seen += d;
      if (paths.every((p) => seen.includes(` ${p}`))) resolve(seen);
    });
    socket.on("error", reject);
    for (const p of paths) socket.write(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  });
}

describe("one port, TLS and plain HTTP", () => {
  it("routes by the first byte and keeps connections alive", async () => {
    const port = await start();
    const plain = net.connect(port, "127.0.0.1");
    expect(await exchange(plain, ["/a", "/b"])).toMatch(/plain \/a[\s\S]*plain \/b/);
    const secure = tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false });
    await new Promise((r) => secure.once("secureConnect", r));
    expect(await exchange(secure, ["/c", "/d"])).toMatch(/tls \/c[\s\S]*tls \/d/);
    // closeAllConnections reaches connections handed to the inner servers.
    const closed = Promise.all([plain, secure].map((s) => new Promise((r) => s.once("close", r))));
    listener!.closeAllConnections();
    await closed;
    expect(plain.destroyed && secure.destroyed).toBe(true);
  });

  it("serves a new certificate to new connections after setCertificate", async () => {
    const port = await start();
    const fingerprint = async () => {
      const s = tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false });
      await new Promise((r) => s.once("secureConnect", r));
      const f = s.getPeerX509Certificate()!.fingerprint256;
      s.destroy();
      return f;
    };
    const before = await fingerprint();
    listener!.setCertificate(second.cert, second.key);
    const after = await fingerprint();
    expect(before).not.toBe(after);
    expect(after).toBe(new (await import("node:crypto")).X509Certificate(second.cert).fingerprint256);
  });

  it("a client that sends garbage TLS does not disturb the others", async () => {
    const port = await start();
    const bad = net.connect(port, "127.0.0.1");
    bad.on("error", () => undefined);
    bad.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])); // a handshake record that never completes
    const silent = net.connect(port, "127.0.0.1"); // and one that never says anything
    // A malformed plain request gets Node's 400, and only that connection closes.
    const garbage = net.connect(port, "127.0.0.1");
    const answer = await new Promise<string>((resolve) => {
      let seen = "";
      garbage.on("data", (d) => (seen += d));
      garbage.on("close", () => resolve(seen));
      garbage.on("error", () => undefined);
      garbage.write("BLAH / HTTP/9\r\n\r\n");
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    const good = net.connect(port, "127.0.0.1");
    expect(await exchange(good, ["/ok"])).toContain("plain /ok");
    good.destroy();
    expect(bad.destroyed || silent.destroyed).toBe(false);
    bad.destroy();
    silent.destroy();
  });
});
