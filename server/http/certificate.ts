/**
 * The console's TLS certificate, in `<data dir>/tls/` (directory 0700, files 0600):
 *
 *   self-signed.crt / self-signed.key  made at first start (and again when expired) by
 *                                      Debian's `openssl` for this host's names and addresses;
 *   uploaded.crt / uploaded.key        a real certificate (and chain) an admin installed;
 *                                      when present it is the one served, and HSTS is sent.
 *
 * Browsers show the self-signed one as untrusted: the admin compares its SHA-256
 * fingerprint (ready line, Settings) with what the browser shows, once.
 */
import { execFileSync } from "node:child_process";
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { removeFileDurable, writeFileAtomic } from "../runtime";

export type CertificateKind = "self-signed" | "uploaded";

export interface CertificateInfo {
  kind: CertificateKind;
  subject: string;
  issuer: string;
  /** e.g. `DNS:portico, IP Address:192.0.2.2`. */
  subjectAltName: string;
  validFrom: string;
  validTo: string;
  /** SHA-256 of the DER certificate, colon-separated hex (what browsers show). */
  fingerprint256: string;
  /** Certificates in the chain file, the leaf first. */
  chainLength: number;
}

export interface ActiveCertificate {
  cert: string;
  key: string;
  info: CertificateInfo;
}

export class CertificateError extends Error {
  constructor(
    message: string,
    readonly field: "cert" | "key",
  ) {
    super(message);
    this.name = "CertificateError";
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const SELF_SIGNED_DAYS = 825;

export function describe(kind: CertificateKind, certPem: string): CertificateInfo {
  const blocks = certPem.match(PEM_CERT) ?? [];
  const leaf = new X509Certificate(blocks[0] ?? certPem);
  return {
    kind,
    subject: leaf.subject.replace(/\n/g, ", "),
    issuer: leaf.issuer.replace(/\n/g, ", "),
    subjectAltName: leaf.subjectAltName ?? "",
    validFrom: new Date(leaf.validFrom).toISOString(),
    validTo: new Date(leaf.validTo).toISOString(),
    fingerprint256: leaf.fingerprint256,
    chainLength: blocks.length,
  };
}

/**
 * Checks an uploaded certificate (PEM, leaf first, then its chain) and unencrypted private
 * key, and returns them normalised; throws CertificateError naming the field at fault.
 */
export function checkCertificatePair(certPem: string, keyPem: string, now = new Date()): { cert: string; key: string; info: CertificateInfo } {
  const blocks = certPem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new CertificateError("no certificate found: paste the PEM text (-----BEGIN CERTIFICATE-----…), the server's certificate first, then its chain", "cert");
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(blocks[0]!);
    for (const b of blocks.slice(1)) new X509Certificate(b);
  } catch (err) {
    throw new CertificateError(`the certificate cannot be read: ${(err as Error).message}`, "cert");
  }
  if (/ENCRYPTED/.test(keyPem)) throw new CertificateError("the private key is protected by a passphrase: upload it without one (openssl pkey -in key.pem -out plain.pem)", "key");
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new CertificateError(`the private key cannot be read (PEM, PKCS#8, PKCS#1 or SEC1): ${(err as Error).message}`, "key");
  }
  if (!leaf.checkPrivateKey(key)) throw new CertificateError("this private key does not belong to the certificate (the first certificate must be the server's own)", "key");
  const from = new Date(leaf.validFrom);
  const to = new Date(leaf.validTo);
  if (to.getTime() <= now.getTime()) throw new CertificateError(`the certificate expired on ${to.toISOString()}`, "cert");
  if (from.getTime() > now.getTime()) throw new CertificateError(`the certificate is not valid before ${from.toISOString()}`, "cert");
  const cert = `${blocks.join("\n")}\n`;
  const keyOut = key.export({ type: "pkcs8", format: "pem" }).toString();
  try {
    tls.createSecureContext({ cert, key: keyOut });
  } catch (err) {
    throw new CertificateError(`TLS refuses this certificate and key: ${(err as Error).message}`, "cert");
  }
  return { cert, key: keyOut, info: describe("uploaded", cert) };
}

/** Names and addresses a self-signed certificate is made for. */
export function machineNames(): { dns: string[]; ips: string[] } {
  const host = os.hostname().toLowerCase();
  const dns = new Set<string>(["localhost"]);
  for (const n of [host, host.split(".")[0]!]) if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(n)) dns.add(n);
  const ips = new Set<string>(["127.0.0.1", "::1"]);
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (!a.address.includes("%") && !a.address.toLowerCase().startsWith("fe80:")) ips.add(a.address);
  }
  return { dns: [...dns], ips: [...ips] };
}

/** Makes a self-signed ECDSA P-256 certificate with Debian's `openssl` (serverAuth, not a CA). */
export function generateSelfSigned(names = machineNames(), days = SELF_SIGNED_DAYS): { cert: string; key: string } {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "portico-tls-"));
  try {
    const cn = names.dns.find((n) => n !== "localhost") ?? "localhost";
    const alt = [...names.dns.map((n, i) => `DNS.${i + 1} = ${n}`), ...names.ips.map((ip, i) => `IP.${i + 1} = ${ip}`)];
    const config = [
      "[req]",
      "distinguished_name = dn",
      "prompt = no",
      "x509_extensions = v3",
      "[dn]",
      "O = Portico appliance (self-signed)",
      `CN = ${cn}`,
      "[v3]",
      "basicConstraints = critical, CA:FALSE",
      "keyUsage = critical, digitalSignature",
      "extendedKeyUsage = serverAuth",
      "subjectKeyIdentifier = hash",
      "subjectAltName = @alt",
      "[alt]",
      ...alt,
      "",
    ].join("\n");
    fs.writeFileSync(path.join(tmp, "req.cnf"), config, { mode: 0o600 });
    const keyFile = path.join(tmp, "key.pem");
    const certFile = path.join(tmp, "cert.pem");
    try {
      execFileSync(
        "openssl",
        ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", String(days), "-config", path.join(tmp, "req.cnf")],
        { stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 },
      );
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
      if (e.code === "ENOENT") throw new Error("openssl is not installed (apt-get install openssl): it makes the console's self-signed certificate");
      throw new Error(`openssl could not make a certificate: ${(e.stderr?.toString() || e.message).trim()}`);
    }
    return { cert: fs.readFileSync(certFile, "utf8"), key: fs.readFileSync(keyFile, "utf8") };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The certificate files of one data directory. */
export class CertificateStore {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, "tls");
  }

  private file(kind: CertificateKind, part: "crt" | "key"): string {
    return path.join(this.dir, `${kind}.${part}`);
  }

  private read(kind: CertificateKind): ActiveCertificate | undefined {
    try {
      const cert = fs.readFileSync(this.file(kind, "crt"), "utf8");
      const key = fs.readFileSync(this.file(kind, "key"), "utf8");
      // The pair is two files, each replaced atomically but not together: a crash between the
      // two renames of write() leaves a new key beside the old certificate. Never serve that.
      const leaf = new X509Certificate((cert.match(PEM_CERT) ?? [cert])[0]!);
      if (!leaf.checkPrivateKey(createPrivateKey(key))) throw new Error("its key does not belong to it (a change cut short?)");
      return { cert, key, info: describe(kind, cert) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new Error(`cannot read the ${kind} certificate in ${this.dir}: ${(err as Error).message}`);
    }
  }

  private write(kind: CertificateKind, cert: string, key: string): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(this.dir, 0o700);
    // The key first: a certificate never exists without its key.
    writeFileAtomic(this.file(kind, "key"), key);
    writeFileAtomic(this.file(kind, "crt"), cert);
  }

  /**
   * The certificate to serve: the uploaded one if installed (an unreadable one is reported
   * and skipped, so the console stays reachable), else the self-signed one, made now if
   * missing or expiring within a day.
   */
  active(now = new Date(), warn: (message: string) => void = () => {}): ActiveCertificate {
    try {
      const up = this.read("uploaded");
      if (up) return up;
    } catch (err) {
      warn(`${(err as Error).message}; serving the self-signed certificate`);
    }
    let own: ActiveCertificate | undefined;
    try {
      own = this.read("self-signed");
    } catch (err) {
      warn(`${(err as Error).message}; making a new one`);
    }
    if (own && new Date(own.info.validTo).getTime() > now.getTime() + 86_400_000) return own;
    const made = generateSelfSigned();
    this.write("self-signed", made.cert, made.key);
    return { ...made, info: describe("self-signed", made.cert) };
  }

  /** Installs an uploaded certificate and key (checked first; nothing is written if they are refused). */
  install(certPem: string, keyPem: string, now = new Date()): ActiveCertificate {
    const checked = checkCertificatePair(certPem, keyPem, now);
    this.write("uploaded", checked.cert, checked.key);
    return checked;
  }

  /** Removes the uploaded certificate: the self-signed one is served again. */
  removeUploaded(): void {
    // Synced: a removed certificate must not come back after a power loss.
    removeFileDurable(this.file("uploaded", "crt"));
    removeFileDurable(this.file("uploaded", "key"));
  }
}
