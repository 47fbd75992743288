/**
 * What parts of LIO's configuration Portico honours today. Import reports every
 * key outside these by name instead of dropping it silently; flipping a flag here
 * (once the fabric implements it) makes import, store and export carry the keys.
 */
export const capabilities = {
  /** CHAP (per-TPG, per-ACL) and discovery authentication, enforced by the iSCSI fabric at login. */
  chap: true,
} as const;

/** Storage object attributes LIO exposes read-only: rtslib never dumps them, and the backstore decides them. */
export const READ_ONLY_SO_ATTRIBUTES = new Set(["hw_block_size", "hw_max_sectors", "hw_queue_depth", "hw_pi_prot_type"]);

/** ALUA target port group every LUN belongs to when none is configured (lio-model.md §1.3). */
export const DEFAULT_ALUA_GROUP = "default_tg_pt_gp";
