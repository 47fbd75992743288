/**
 * tcmu-runner's `user:rbd` config string, as ceph-iscsi and targetcli write it into
 * saveconfig.json (`"config": "rbd/<pool>/<image>;osd_op_timeout=30;conf=...;id=..."`).
 * Pure functions: parse with defaults (tcmu-runner's: /etc/ceph/ceph.conf, client admin),
 * and format back in the same order tcmu-runner documents.
 */

export interface RbdConfig {
  pool: string;
  image: string;
  /** ceph.conf path (tcmu-runner `conf=`). */
  conf: string;
  /** Ceph client id without the `client.` prefix (tcmu-runner `id=`). */
  id: string;
  /** rados_osd_op_timeout in seconds: an OSD that stops answering fails commands after this. 0 = wait forever. */
  osdOpTimeout: number;
  /** Options that were given explicitly (formatRbdConfig writes back only these). */
  explicit: { conf: boolean; id: boolean; osdOpTimeout: boolean };
}

export const RBD_DEFAULT_CONF = "/etc/ceph/ceph.conf";
export const RBD_DEFAULT_ID = "admin";
/** tcmu-runner's default: ceph-iscsi's ALUA transition time is osd_op_timeout + 15. */
export const RBD_DEFAULT_OSD_OP_TIMEOUT = 30;

/** Pool and image names as Ceph accepts them: no '/', '@', ';' or whitespace. */
const NAME = /^[A-Za-z0-9_.+-][A-Za-z0-9_.+-]{0,249}$/;

export class RbdConfigError extends Error {}

/** Parses `rbd/<pool>/<image>[;conf=<path>][;id=<client>][;osd_op_timeout=<s>]`. */
export function parseRbdConfig(text: string): RbdConfig {
  const [head, ...opts] = text.trim().split(";");
  const parts = head.split("/");
  if (parts.length !== 3 || parts[0] !== "rbd") {
    throw new RbdConfigError(`config "${text}" is not an rbd config: use rbd/<pool>/<image>[;conf=<path>][;id=<client id>][;osd_op_timeout=<seconds>]`);
  }
  const [, pool, image] = parts;
  if (!NAME.test(pool)) throw new RbdConfigError(`pool name "${pool}" is not valid`);
  if (!NAME.test(image)) throw new RbdConfigError(`image name "${image}" is not valid (snapshots are not supported)`);
  const cfg: RbdConfig = {
    pool,
    image,
    conf: RBD_DEFAULT_CONF,
    id: RBD_DEFAULT_ID,
    osdOpTimeout: RBD_DEFAULT_OSD_OP_TIMEOUT,
    explicit: { conf: false, id: false, osdOpTimeout: false },
  };
  for (const opt of opts) {
    if (opt === "") continue;
    const eq = opt.indexOf("=");
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? "" : opt.slice(eq + 1);
    if (key === "conf") {
      if (!value.startsWith("/")) throw new RbdConfigError(`conf=${value}: give the absolute path of a ceph.conf`);
      cfg.conf = value;
      cfg.explicit.conf = true;
    } else if (key === "id") {
      const id = value.replace(/^client\./, "");
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new RbdConfigError(`id=${value} is not a valid Ceph client id`);
      cfg.id = id;
      cfg.explicit.id = true;
    } else if (key === "osd_op_timeout") {
      const n = Number(value);
      if (!/^\d+$/.test(value) || n > 3600) throw new RbdConfigError(`osd_op_timeout=${value}: give whole seconds, 0..3600`);
      cfg.osdOpTimeout = n;
      cfg.explicit.osdOpTimeout = true;
    } else {
      throw new RbdConfigError(`unknown rbd config option "${key}" (known: conf, id, osd_op_timeout)`);
    }
  }
  return cfg;
}

/** The config string back, with only the options given explicitly (a round trip keeps the text). */
export function formatRbdConfig(cfg: Omit<RbdConfig, "explicit"> & { explicit?: RbdConfig["explicit"] }): string {
  const ex = cfg.explicit ?? { conf: cfg.conf !== RBD_DEFAULT_CONF, id: cfg.id !== RBD_DEFAULT_ID, osdOpTimeout: cfg.osdOpTimeout !== RBD_DEFAULT_OSD_OP_TIMEOUT };
  let out = `rbd/${cfg.pool}/${cfg.image}`;
  if (ex.osdOpTimeout) out += `;osd_op_timeout=${cfg.osdOpTimeout}`;
  if (ex.conf) out += `;conf=${cfg.conf}`;
  if (ex.id) out += `;id=${cfg.id}`;
  return out;
}
