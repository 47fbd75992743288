import { createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CertificateError, CertificateStore, checkCertificatePair, generateSelfSigned } from "../../../server/http/certificate";

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "portico-cert-"));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const names = { dns: ["localhost", "portico-test"], ips: ["127.0.0.1", "::1", "192.0.2.2"] };
const own = generateSelfSigned(names, 30);
const other = generateSelfSigned({ dns: ["other"], ips: [] }, 30);

function refusal(fn: () => unknown): CertificateError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CertificateError);
    return err as CertificateError;
  }
  throw new Error("not refused");
}

describe("self-signed certificate", () => {
  it("is a P-256 server certificate for this host's names and addresses, not a CA", () => {
    const x = new X509Certificate(own.cert);
    expect(x.subjectAltName).toContain("DNS:localhost");
    expect(x.subjectAltName).toContain("DNS:portico-test");
    expect(x.subjectAltName).toContain("IP Address:127.0.0.1");
    expect(x.subjectAltName).toContain("IP Address:192.0.2.2");
    expect(x.ca).toBe(false);
    expect(x.checkPrivateKey(createPrivateKey(own.key))).toBe(true);
    expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(x.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const days = (new Date(x.validTo).getTime() - new Date(x.validFrom).getTime()) / 86_400_000;
    expect(Math.round(days)).toBe(30);
  });
});

describe("CertificateStore", () => {
  it("makes the self-signed certificate once, in a 0700 directory with 0600 files, and keeps it", () => {
    const store = new CertificateStore(tmp());
    const a = store.active();
    expect(a.info.kind).toBe("self-signed");
    expect(fs.statSync(store.dir).mode & 0o777).toBe(0o700);
    for (const f of ["self-signed.crt", "self-signed.key"]) expect(fs.statSync(path.join(store.dir, f)).mode & 0o777, f).toBe(0o600);
    expect(store.active().info.fingerprint256).toBe(a.info.fingerprint256);
    // Expired (or about to): a new one is made.
    const later = new Date(new Date(a.info.validTo).getTime() + 1000);
    expect(store.active(later).info.fingerprint256).not.toBe(a.info.fingerprint256);
  });

  it("installs an uploaded certificate, serves it, and goes back to the self-signed one", () => {
    const store = new CertificateStore(tmp());
    const self = store.active();
    const up = store.install(own.cert, own.key);
    expect(up.info.kind).toBe("uploaded");
    expect(store.active().info).toMatchObject({ kind: "uploaded", fingerprint256: new X509Certificate(own.cert).fingerprint256 });
    for (const f of ["uploaded.crt", "uploaded.key"]) expect(fs.statSync(path.join(store.dir, f)).mode & 0o777, f).toBe(0o600);
    store.removeUploaded();
    expect(store.active().info).toMatchObject({ kind: "self-signed", fingerprint256: self.info.fingerprint256 });
  });

  it("a certificate beside a key that is not its own (a replacement cut short between its two renames) is not served", () => {
    const store = new CertificateStore(tmp());
    const self = store.active();
    store.install(own.cert, own.key);
    // install(other) renamed the new key into place, then the process died before the certificate.
    fs.writeFileSync(path.join(store.dir, "uploaded.key"), other.key);
    const warnings: string[] = [];
    expect(store.active(new Date(), (m) => warnings.push(m)).info).toMatchObject({ kind: "self-signed", fingerprint256: self.info.fingerprint256 });
    expect(warnings).toEqual([expect.stringMatching(/cannot read the uploaded certificate .*its key does not belong to it.*serving the self-signed certificate/)]);
    // The same for the self-signed pair: a new one is made.
    fs.writeFileSync(path.join(store.dir, "self-signed.key"), other.key);
    const made = store.active(new Date(), (m) => warnings.push(m));
    expect(made.info.kind).toBe("self-signed");
    expect(new X509Certificate(made.cert).checkPrivateKey(createPrivateKey(made.key))).toBe(true);
    expect(warnings[2]).toMatch(/self-signed certificate .*its key does not belong to it.*making a new one/);
  });

  it("writes nothing when an upload is refused", () => {
    const store = new CertificateStore(tmp());
    store.active();
    expect(() => store.install(own.cert, other.key)).toThrow(CertificateError);
    expect(fs.existsSync(path.join(store.dir, "uploaded.crt"))).toBe(false);
    expect(fs.existsSync(path.join(store.dir, "uploaded.key"))).toBe(false);
    expect(store.active().info.kind).toBe("self-signed");
  });
});

describe("checkCertificatePair", () => {
  it("accepts a certificate with its chain and normalises the key to PKCS#8", () => {
    const r = checkCertificatePair(`${own.cert}\n${other.cert}`, own.key);
    expect(r.info.chainLength).toBe(2);
    expect(r.key).toContain("BEGIN PRIVATE KEY");
    expect(r.info.fingerprint256).toBe(new X509Certificate(own.cert).fingerprint256);
  });
  it("names the field at fault", () => {
    expect(refusal(() => checkCertificatePair("hello", own.key))).toMatchObject({ field: "cert" });
    expect(refusal(() => checkCertificatePair("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", own.key))).toMatchObject({ field: "cert" });
    expect(refusal(() => checkCertificatePair(own.cert, "not a key"))).toMatchObject({ field: "key" });
    const wrong = refusal(() => checkCertificatePair(own.cert, other.key));
    expect(wrong.field).toBe("key");
    expect(wrong.message).toContain("does not belong");
    const encrypted = createPrivateKey(own.key).export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "secret" }).toString();
    expect(refusal(() => checkCertificatePair(own.cert, encrypted)).message).toContain("passphrase");
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
    expect(refusal(() => checkCertificatePair(own.cert, rsa)).field).toBe("key");
  });
  it("refuses an expired or not yet valid certificate", () => {
    const x = new X509Certificate(own.cert);
    expect(refusal(() => checkCertificatePair(own.cert, own.key, new Date(new Date(x.validTo).getTime() + 1000))).message).toContain("expired");
    expect(refusal(() => checkCertificatePair(own.cert, own.key, new Date(new Date(x.validFrom).getTime() - 60_000))).message).toContain("not valid before");
  });
});
