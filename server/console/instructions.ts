/**
 * How an initiator connects to one TPG, built from the configuration in force: the
 * portal, who may log in (demo mode or the node ACLs' initiator names), whether CHAP is
 * required, with which credentials, and mutual CHAP. One pure function, used by
 * onboarding's last step, the target's Portals tab and a session's detail (through the
 * API), so what the console shows is what the engine will accept.
 *
 * Secrets are masked unless `reveal` is set: the API returns them only on request.
 *
 * Initiator notes:
 *  - open-iscsi: node.session.auth.* (username_in/password_in for mutual CHAP); the
 *    initiator name lives in /etc/iscsi/initiatorname.iscsi.
 *  - libiscsi: iscsi://user%secret@host:port/iqn/lun, mutual CHAP as the URL arguments
 *    target_user/target_password; `-i` sets the initiator name. Its URL parser splits at
 *    the first '@', '%', '?' and '/', so credentials with those characters go in the
 *    LIBISCSI_CHAP_* environment variables instead.
 *  - QEMU: the URL for `-drive` with `-iscsi initiator-name=`; qemu-img has no -iscsi, so it
 *    gets --image-opts (initiator-name, user, password-secret). QEMU does no mutual CHAP:
 *    it authenticates itself, the target is not verified.
 *  - Windows accepts CHAP secrets of 12 to 16 characters.
 */
import { tpgAttributeDefaults } from "../engine/core/defaults";

/** The shape of a CHAP credential set in the stored configuration. */
export interface ChapConfig {
  userid?: string;
  password?: string;
  mutualUserid?: string;
  mutualPassword?: string;
}

export interface InstructionsModel {
  target: string;
  tpg: {
    tag: number;
    enabled: boolean;
    /** Stored attributes (LIO defaults fill the rest). */
    attributes: Record<string, number>;
    chap: ChapConfig;
    allowedNetworks?: string[];
    luns: { index: number }[];
    portals: { ip: string; port: number }[];
    nodeAcls: { initiatorName: string; chap: ChapConfig; mappedLuns: { index: number; tpgLun: number }[] }[];
  };
  discoveryAuth: ChapConfig & { enabled: boolean };
}

export interface InstructionsOptions {
  /** The address to show for a wildcard portal (0.0.0.0, ::0): how initiators reach this machine. */
  wildcardHost: string;
  /** Show secrets (default: masked). */
  reveal?: boolean;
  /** Only this initiator (a session's detail). */
  initiatorName?: string;
}

/** One way to reach the target: commands to copy, or steps to follow (text with `code` spans). */
export interface InitiatorInstructions {
  /** null: any initiator name (demo mode). */
  initiatorName: string | null;
  /** The credentials this initiator logs in with, null without CHAP. Secrets masked unless revealed. */
  chap: { userid: string; secret: string; mutualUserid: string | null; mutualSecret: string | null } | null;
  /** Why this initiator cannot log in as configured (then the rest shows what it would do). */
  problem: string | null;
  /** LUN numbers this initiator sees; the URL uses the first. */
  luns: number[];
  linux: string;
  url: string;
  libiscsi: string;
  qemu: string;
  windows: string[];
  esxi: string[];
}

export interface Instructions {
  target: string;
  tpgTag: number;
  /** host:port the instructions use, [v6]:port for IPv6; null without a portal. */
  portal: { host: string; port: number; address: string } | null;
  /** Further portals (multipath). */
  otherPortals: string[];
  access: "demo" | "acl";
  /** TPG attribute authentication=1: every login must do CHAP. */
  chapRequired: boolean;
  /** Initiator names allowed by ACLs (demo mode also admits any other name). */
  allowedInitiators: string[];
  masked: boolean;
  initiators: InitiatorInstructions[];
  /** Problems with the configuration that the instructions cannot work around. */
  warnings: string[];
}

export const MASK = "••••••••";

/** libiscsi's URL parser (iscsi_parse_url) cuts at these: credentials holding one go in the environment. */
const URL_UNSAFE = /[@%:?&=/#\s]/;

/** Quotes a word for a POSIX shell when it needs it. */
export function shellQuote(v: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

/** QEMU option values double their commas. */
function qemuOpt(v: string): string {
  return v.replace(/,/g, ",,");
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function isWildcard(ip: string): boolean {
  const bare = ip.replace(/^\[|\]$/g, "");
  return bare === "0.0.0.0" || bare === "::" || bare === "::0";
}

function hasChap(c: ChapConfig | undefined): c is ChapConfig & { userid: string; password: string } {
  return Boolean(c?.userid && c?.password);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function buildInstructions(model: InstructionsModel, opts: InstructionsOptions): Instructions {
  const { target, tpg } = model;
  const attrs = { ...tpgAttributeDefaults, ...tpg.attributes };
  const demo = attrs.generate_node_acls === 1;
  const required = attrs.authentication === 1;
  const reveal = opts.reveal === true;
  const secret = (s: string) => (reveal ? s : MASK);
  const warnings: string[] = [];

  const portals = tpg.portals.map((p) => ({ host: isWildcard(p.ip) ? opts.wildcardHost : p.ip.replace(/^\[|\]$/g, ""), port: p.port }));
  const first = portals[0];
  const portal = first ? { ...first, address: hostPort(first.host, first.port) } : null;
  const hp = portal?.address ?? "<portal>";
  if (!portal) warnings.push(`tpg${tpg.tag} has no portal: add one before an initiator can connect`);
  if (!tpg.enabled) warnings.push(`tpg${tpg.tag} is disabled: logins are refused until it is enabled`);
  if (tpg.allowedNetworks?.length) warnings.push(`Logins are accepted only from ${tpg.allowedNetworks.join(", ")}`);

  const aclCreds = tpg.nodeAcls.filter((a) => hasChap(a.chap));
  if (!required && (aclCreds.length > 0 || (demo && hasChap(tpg.chap)))) {
    warnings.push(
      `CHAP credentials are set but tpg${tpg.tag} does not require CHAP (authentication=0): an initiator that does not offer CHAP logs in without it. Require CHAP to enforce them.`,
    );
  }

  const discovery = model.discoveryAuth.enabled && hasChap(model.discoveryAuth) ? model.discoveryAuth : undefined;

  interface Who {
    name: string | null;
    chap: ChapConfig | undefined;
    luns: number[];
  }
  const who: Who[] = tpg.nodeAcls.map((a) => ({
    name: a.initiatorName,
    chap: a.chap,
    luns: a.mappedLuns.filter((m) => tpg.luns.some((l) => l.index === m.tpgLun)).map((m) => m.index).sort((x, y) => x - y),
  }));
  if (demo) who.push({ name: null, chap: tpg.chap, luns: tpg.luns.map((l) => l.index).sort((x, y) => x - y) });
  if (!demo && who.length === 0) warnings.push(`tpg${tpg.tag} has no node ACL and is not in demo mode: no initiator may log in. Add an ACL with the initiator's name.`);

  let selected = who;
  if (opts.initiatorName) {
    const want = opts.initiatorName.toLowerCase();
    const acl = who.find((w) => w.name?.toLowerCase() === want);
    const any = who.find((w) => w.name === null);
    selected = acl ? [acl] : any ? [{ ...any, name: opts.initiatorName }] : [];
  }

  const initiators = selected.map((w) => initiatorInstructions(w, { target, tpgTag: tpg.tag, hp, portal, required, secret, discovery, isDemoEntry: w.name === null || !tpg.nodeAcls.some((a) => a.initiatorName.toLowerCase() === w.name?.toLowerCase()) }));

  return {
    target,
    tpgTag: tpg.tag,
    portal,
    otherPortals: portals.slice(1).map((p) => hostPort(p.host, p.port)),
    access: demo ? "demo" : "acl",
    chapRequired: required,
    allowedInitiators: tpg.nodeAcls.map((a) => a.initiatorName),
    masked: !reveal,
    initiators,
    warnings,
  };
}

/**
 * How libiscsi gets CHAP credentials: in the URL (`user%secret@`, and `?target_user=…&target_password=…`
 * for mutual CHAP) when none of them has a character the URL cannot hold, else as LIBISCSI_CHAP_*
 * variables before the command (`env`, with its trailing space; `inUrl` false). All empty without credentials.
 */
function libiscsiChap(
  c: { userid: string; password: string } | undefined,
  mutual: { user: string; secret: string } | undefined,
  secret: (s: string) => string,
): { inUrl: boolean; cred: string; args: string; env: string } {
  if (!c) return { inUrl: false, cred: "", args: "", env: "" };
  const inUrl = !URL_UNSAFE.test(c.userid) && !URL_UNSAFE.test(c.password) && (!mutual || (!URL_UNSAFE.test(mutual.user) && !URL_UNSAFE.test(mutual.secret)));
  if (inUrl) return { inUrl, cred: `${c.userid}%${secret(c.password)}@`, args: mutual ? `?target_user=${mutual.user}&target_password=${secret(mutual.secret)}` : "", env: "" };
  const vars = [
    `LIBISCSI_CHAP_USERNAME=${shellQuote(c.userid)}`,
    `LIBISCSI_CHAP_PASSWORD=${shellQuote(secret(c.password))}`,
    ...(mutual ? [`LIBISCSI_CHAP_TARGET_USERNAME=${shellQuote(mutual.user)}`, `LIBISCSI_CHAP_TARGET_PASSWORD=${shellQuote(secret(mutual.secret))}`] : []),
  ];
  return { inUrl, cred: "", args: "", env: vars.join(" ") + " " };
}

function initiatorInstructions(
  w: { name: string | null; chap: ChapConfig | undefined; luns: number[] },
  ctx: {
    target: string;
    tpgTag: number;
    hp: string;
    portal: { host: string; port: number } | null;
    required: boolean;
    secret: (s: string) => string;
    discovery: (ChapConfig & { userid: string; password: string }) | undefined;
    /** Demo mode's "any initiator": no name to set. */
    isDemoEntry: boolean;
  },
): InitiatorInstructions {
  const { target, hp, secret } = ctx;
  const c = hasChap(w.chap) ? w.chap : undefined;
  const mutual = c && c.mutualUserid && c.mutualPassword ? { user: c.mutualUserid, secret: c.mutualPassword } : undefined;
  const lun = w.luns[0] ?? 0;
  const name = w.name;
  const setName = !ctx.isDemoEntry && name !== null;

  let problem: string | null = null;
  if (ctx.required && !c) problem = `CHAP is required but ${name ? `the ACL of ${name} has` : "the TPG has"} no CHAP credentials: this initiator cannot log in. Set credentials${name ? " on the ACL" : " on the TPG (demo mode)"}.`;
  else if (w.luns.length === 0) problem = `No LUN is mapped${name ? ` for ${name}` : ""}: the initiator logs in but sees no disk.`;

  // ---- open-iscsi -------------------------------------------------------------------------
  const node = `sudo iscsiadm -m node -T ${target} -p ${hp}`;
  const linux: string[] = [];
  if (setName) {
    linux.push(`# This host's initiator name must be the one the ACL allows`);
    linux.push(`echo 'InitiatorName=${name}' | sudo tee /etc/iscsi/initiatorname.iscsi`);
    linux.push(`sudo systemctl restart iscsid`);
  }
  if (ctx.discovery) {
    const d = ctx.discovery;
    const db = `sudo iscsiadm -m discoverydb -t sendtargets -p ${hp}`;
    linux.push(`${db} -o new`);
    linux.push(`${db} -o update -n discovery.sendtargets.auth.authmethod -v CHAP`);
    linux.push(`${db} -o update -n discovery.sendtargets.auth.username -v ${shellQuote(d.userid)}`);
    linux.push(`${db} -o update -n discovery.sendtargets.auth.password -v ${shellQuote(secret(d.password))}`);
    if (d.mutualUserid && d.mutualPassword) {
      linux.push(`${db} -o update -n discovery.sendtargets.auth.username_in -v ${shellQuote(d.mutualUserid)}`);
      linux.push(`${db} -o update -n discovery.sendtargets.auth.password_in -v ${shellQuote(secret(d.mutualPassword))}`);
    }
    linux.push(`${db} --discover`);
  } else {
    linux.push(`sudo iscsiadm -m discovery -t sendtargets -p ${hp}`);
  }
  if (c) {
    linux.push(`${node} -o update -n node.session.auth.authmethod -v CHAP`);
    linux.push(`${node} -o update -n node.session.auth.username -v ${shellQuote(c.userid)}`);
    linux.push(`${node} -o update -n node.session.auth.password -v ${shellQuote(secret(c.password))}`);
    if (mutual) {
      linux.push(`${node} -o update -n node.session.auth.username_in -v ${shellQuote(mutual.user)}`);
      linux.push(`${node} -o update -n node.session.auth.password_in -v ${shellQuote(secret(mutual.secret))}`);
    }
  }
  linux.push(`${node} --login`);
  linux.push(`lsblk   # the new disk appears as /dev/sdX`);

  // ---- libiscsi -----------------------------------------------------------------------------
  const session = libiscsiChap(c, mutual, secret);
  const url = `iscsi://${session.cred}${hp}/${target}/${lun}${session.args}`;
  // iscsi-ls runs a discovery session: it authenticates with the discovery credentials, if any.
  const d = ctx.discovery;
  const discovery = libiscsiChap(d, d?.mutualUserid && d.mutualPassword ? { user: d.mutualUserid, secret: d.mutualPassword } : undefined, secret);
  const portalUrl = `iscsi://${discovery.cred}${hp}${discovery.args}`;
  const i = setName ? ` -i ${name}` : "";
  const libiscsi = [
    ...(setName ? [`# -i gives the initiator name the ACL allows`] : []),
    `# the targets this initiator may log in to (a discovery session)`,
    `${discovery.env}iscsi-ls${i} ${shellQuote(portalUrl)}`,
    `# the disk at LUN ${lun}`,
    `${session.env}iscsi-inq${i} ${shellQuote(url)}`,
  ].join("\n");

  // ---- QEMU -----------------------------------------------------------------------------
  const qemu: string[] = [];
  const imageOpts = [
    "driver=iscsi",
    "transport=tcp",
    `portal=${qemuOpt(hp)}`,
    `target=${target}`,
    `lun=${lun}`,
    ...(setName ? [`initiator-name=${name}`] : []),
    ...(c ? [`user=${qemuOpt(c.userid)}`, "password-secret=chap0"] : []),
  ].join(",");
  if (!setName && !c) {
    qemu.push(`qemu-img info ${shellQuote(url)}`);
  } else {
    qemu.push(`qemu-img info ${c ? `--object ${shellQuote(`secret,id=chap0,data=${qemuOpt(secret(c.password))}`)} ` : ""}--image-opts ${shellQuote(imageOpts)}`);
  }
  if (mutual) qemu.push(`# QEMU does one-way CHAP only: it authenticates to the target but does not check the target's mutual credentials`);
  qemu.push(`# a VM's disk:`);
  // The URL carries no mutual arguments for QEMU (it ignores them).
  const qemuUrl = `iscsi://${session.cred}${hp}/${target}/${lun}`;
  if (c && !session.inUrl) {
    qemu.push(`qemu-system-x86_64 -iscsi ${shellQuote(`initiator-name=${name ?? "iqn.2008-11.org.linux-kvm"},user=${qemuOpt(c.userid)},password=${qemuOpt(secret(c.password))}`)} -drive ${shellQuote(`file=iscsi://${hp}/${target}/${lun},format=raw,if=virtio`)} …`);
  } else {
    qemu.push(`qemu-system-x86_64${setName ? ` -iscsi initiator-name=${name}` : ""} -drive ${shellQuote(`file=${qemuUrl},format=raw,if=virtio`)} …`);
  }

  // ---- Windows ---------------------------------------------------------------------------
  const host = ctx.portal?.host ?? "<portal>";
  const port = ctx.portal?.port ?? 3260;
  const windows: string[] = [`Open **iSCSI Initiator** (iscsicpl.exe) and allow the service to start.`];
  if (setName) windows.push(`On **Configuration**, choose **Change…** and set the initiator name to \`${name}\`.`);
  if (mutual) windows.push(`On **Configuration**, choose **CHAP…** and enter \`${secret(mutual.secret)}\` as the initiator CHAP secret (the target's mutual secret).`);
  windows.push(
    `On **Discovery**, choose **Discover Portal…** and enter \`${host}\`, port \`${port}\`${ctx.discovery ? `; under **Advanced…** tick **Enable CHAP log on**, name \`${ctx.discovery.userid}\`, target secret \`${secret(ctx.discovery.password)}\`` : ""}.`,
  );
  windows.push(
    `On **Targets**, select \`${target}\` and choose **Connect**${c ? `; under **Advanced…** tick **Enable CHAP log on**, name \`${c.userid}\`, target secret \`${secret(c.password)}\`${mutual ? `, and tick **Perform mutual authentication**` : ""}` : ""}.`,
  );
  windows.push(`Open **Disk Management**: bring the new disk online, initialise it and create a volume.`);
  const windowsProblems = [c?.password, mutual?.secret].filter((s): s is string => s !== undefined && (s.length < 12 || s.length > 16));
  if (windowsProblems.length) windows.push(`Windows accepts CHAP secrets of 12 to 16 characters only: ${plural(windowsProblems.length, "secret")} here ${windowsProblems.length === 1 ? "does" : "do"} not fit.`);

  // ---- VMware ESXi ---------------------------------------------------------------------------
  const esxi: string[] = [`**Storage → Adapters → Software iSCSI**: enable it.`];
  if (setName) esxi.push(`In the same dialog, set **Name & alias** (the iSCSI name) to \`${name}\`.`);
  if (c) esxi.push(`**CHAP authentication**: **Use CHAP**${ctx.required ? "" : " (or Use CHAP unless prohibited by target)"}, name \`${c.userid}\`, secret \`${secret(c.password)}\`.`);
  if (mutual) esxi.push(`**Mutual CHAP authentication**: **Use CHAP**, name \`${mutual.user}\`, secret \`${secret(mutual.secret)}\`.`);
  esxi.push(`Under **Dynamic targets**, add \`${host}\` port \`${port}\`. Save, then **Rescan**.`);
  esxi.push(`**Storage → Datastores → New datastore** on the new \`LIO-ORG\` disk.`);

  return {
    initiatorName: name,
    chap: c ? { userid: c.userid, secret: secret(c.password), mutualUserid: mutual?.user ?? null, mutualSecret: mutual ? secret(mutual.secret) : null } : null,
    problem,
    luns: w.luns,
    linux: linux.join("\n"),
    url,
    libiscsi,
    qemu: qemu.join("\n"),
    windows,
    esxi,
  };
}
