/**
 * The stored configuration: LIO's object model as tables (lio-model.md §1.3–1.6).
 *
 * Foreign keys mirror LIO's rules: deleting a target takes its TPGs, and a TPG its
 * LUNs, portals and node ACLs (configfs rmdir of the parent); deleting a TPG LUN takes
 * the mapped LUNs that point at it (the configfs symlinks would dangle); a storage
 * object cannot be deleted while a LUN exports it (RESTRICT, as rtslib refuses).
 * Attributes and parameters are JSON maps so that the later "all attributes" work
 * adds no columns.
 */
import { sql } from "drizzle-orm";
import { check, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

type NumberMap = Record<string, number>;
type StringMap = Record<string, string>;

export const storageObjects = sqliteTable(
  "storage_objects",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    plugin: text("plugin", { enum: ["ramdisk", "fileio", "block", "rbd"] }).notNull(),
    name: text("name").notNull(),
    /** fileio: backing file; block: block device. */
    dev: text("dev"),
    /** Capacity in bytes as last opened. */
    size: integer("size").notNull(),
    /** Unit serial (VPD 0x80), a UUID. */
    wwn: text("wwn").notNull(),
    writeBack: integer("write_back", { mode: "boolean" }).notNull().default(false),
    blockSize: integer("block_size").notNull().default(512),
    readonly: integer("readonly", { mode: "boolean" }).notNull().default(false),
    attributes: text("attributes", { mode: "json" }).$type<NumberMap>().notNull().default(sql`'{}'`),
    /** ALUA target port groups (saveconfig `alua_tpgs`: name, id, attributes); [] = default_tg_pt_gp only, LIO's defaults. */
    aluaTpgs: text("alua_tpgs", { mode: "json" }).$type<{ name: string; id: number; attributes: NumberMap }[]>().notNull().default(sql`'[]'`),
    vendorId: text("vendor_id"),
    productId: text("product_id"),
    revision: text("revision"),
  },
  (t) => [
    uniqueIndex("storage_objects_plugin_name").on(t.plugin, t.name),
    check("storage_objects_block_size", sql`${t.blockSize} in (512, 4096)`),
  ],
);

export const targets = sqliteTable(
  "targets",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** Target IQN (LIO `wwn`), lowercase. */
    wwn: text("wwn").notNull(),
    fabric: text("fabric").notNull().default("iscsi"),
    parameters: text("parameters", { mode: "json" }).$type<StringMap>().notNull().default(sql`'{}'`),
  },
  (t) => [uniqueIndex("targets_wwn").on(t.wwn)],
);

const chapColumns = {
  chapUserid: text("chap_userid"),
  chapPassword: text("chap_password"),
  chapMutualUserid: text("chap_mutual_userid"),
  chapMutualPassword: text("chap_mutual_password"),
};

export const tpgs = sqliteTable(
  "tpgs",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    targetId: integer("target_id")
      .notNull()
      .references(() => targets.id, { onDelete: "cascade" }),
    tag: integer("tag").notNull(),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    attributes: text("attributes", { mode: "json" }).$type<NumberMap>().notNull().default(sql`'{}'`),
    parameters: text("parameters", { mode: "json" }).$type<StringMap>().notNull().default(sql`'{}'`),
    /** Networks (CIDR) logins may come from; [] = any. */
    allowedNetworks: text("allowed_networks", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    /** The cluster node that serves this TPG; null: any (docs/cluster.md). */
    node: text("node"),
    ...chapColumns,
  },
  (t) => [uniqueIndex("tpgs_target_tag").on(t.targetId, t.tag), check("tpgs_tag_range", sql`${t.tag} between 1 and 65535`)],
);

export const luns = sqliteTable(
  "luns",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    tpgId: integer("tpg_id")
      .notNull()
      .references(() => tpgs.id, { onDelete: "cascade" }),
    index: integer("lun_index").notNull(),
    storageObjectId: integer("storage_object_id")
      .notNull()
      .references(() => storageObjects.id, { onDelete: "restrict" }),
    alias: text("alias").notNull(),
    /** ALUA group of the storage object this LUN (target port) belongs to; null = default_tg_pt_gp. */
    aluaTgPtGpName: text("alua_tg_pt_gp_name"),
  },
  (t) => [
    uniqueIndex("luns_tpg_index").on(t.tpgId, t.index),
    uniqueIndex("luns_tpg_storage_object").on(t.tpgId, t.storageObjectId),
    check("luns_index_range", sql`${t.index} between 0 and 65535`),
  ],
);

export const portals = sqliteTable(
  "portals",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    tpgId: integer("tpg_id")
      .notNull()
      .references(() => tpgs.id, { onDelete: "cascade" }),
    /** As LIO writes it: IPv6 in brackets. */
    ip: text("ip").notNull(),
    port: integer("port").notNull().default(3260),
    iser: integer("iser", { mode: "boolean" }).notNull().default(false),
    offload: integer("offload", { mode: "boolean" }).notNull().default(false),
  },
  (t) => [uniqueIndex("portals_tpg_ip_port").on(t.tpgId, t.ip, t.port), check("portals_port_range", sql`${t.port} between 1 and 65535`)],
);

export const nodeAcls = sqliteTable(
  "node_acls",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    tpgId: integer("tpg_id")
      .notNull()
      .references(() => tpgs.id, { onDelete: "cascade" }),
    /** Initiator IQN (LIO `node_wwn`), lowercase. */
    initiatorName: text("initiator_name").notNull(),
    /** ACL tag (rtslib NodeACLGroup, targetcli's initiator groups; saveconfig.json's `tag`), not the TPG's tag. */
    aclTag: text("acl_tag"),
    cmdsnDepth: integer("cmdsn_depth").notNull().default(64),
    attributes: text("attributes", { mode: "json" }).$type<NumberMap>().notNull().default(sql`'{}'`),
    ...chapColumns,
  },
  (t) => [uniqueIndex("node_acls_tpg_initiator").on(t.tpgId, t.initiatorName)],
);

export const mappedLuns = sqliteTable(
  "mapped_luns",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    nodeAclId: integer("node_acl_id")
      .notNull()
      .references(() => nodeAcls.id, { onDelete: "cascade" }),
    /** LUN number the initiator sees. */
    index: integer("mapped_lun_index").notNull(),
    /** The TPG LUN it maps to (LIO `tpg_lun`); deleting that LUN deletes this mapping. */
    lunId: integer("lun_id")
      .notNull()
      .references(() => luns.id, { onDelete: "cascade" }),
    writeProtect: integer("write_protect", { mode: "boolean" }).notNull().default(false),
    alias: text("alias").notNull(),
  },
  (t) => [uniqueIndex("mapped_luns_acl_index").on(t.nodeAclId, t.index), check("mapped_luns_index_range", sql`${t.index} between 0 and 65535`)],
);

/** iSCSI discovery authentication (saveconfig `fabric_modules[name=iscsi]`): at most one row per fabric. */
export const discoveryAuth = sqliteTable("discovery_auth", {
  fabric: text("fabric").primaryKey(),
  enabled: integer("enabled", { mode: "boolean" }).notNull().default(false),
  ...chapColumns,
});

/** Appliance settings (key → JSON-encoded value). */
export const settings = sqliteTable("settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

/** The console's administrator (one today; a table so more can follow). Password: scrypt (server/auth/password.ts). */
export const adminUsers = sqliteTable(
  "admin_users",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    username: text("username").notNull(),
    /** `scrypt$N$r$p$<salt b64>$<hash b64>`. */
    passwordHash: text("password_hash").notNull(),
    createdAt: integer("created_at").notNull(),
    passwordChangedAt: integer("password_changed_at").notNull(),
  },
  (t) => [uniqueIndex("admin_users_username").on(t.username)],
);

/** Console sessions. Only the SHA-256 of the cookie value is stored, so a copy of the database logs nobody in. */
export const adminSessions = sqliteTable("admin_sessions", {
  tokenHash: text("token_hash").primaryKey(),
  userId: integer("user_id")
    .notNull()
    .references(() => adminUsers.id, { onDelete: "cascade" }),
  createdAt: integer("created_at").notNull(),
  lastSeenAt: integer("last_seen_at").notNull(),
  expiresAt: integer("expires_at").notNull(),
  ip: text("ip"),
  userAgent: text("user_agent"),
});
