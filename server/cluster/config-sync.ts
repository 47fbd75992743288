/**
 * One configuration, everywhere (issue 14, step 2). The cluster's configuration is one etcd value,
 * `/portico/v1/config` (config-doc.ts); each node's SQLite database is its copy.
 *
 * - A change on any node (console, API, shell, restoreconfig) runs its local transaction and, just
 *   before COMMIT, one etcd transaction: "if the key's mod_revision is still the one this node
 *   applied last, put the new document". If another node's change got in first the compare fails
 *   and the change is refused by name ("changed on node gw-b meanwhile"), rolled back and undone
 *   here: nothing is ever merged. etcd unreachable refuses the change too (the node keeps serving).
 * - Every node watches the key and applies a newer document through the service (converge.ts:
 *   only what differs, so sessions on unchanged objects go on), as one local change that is not
 *   published again. The watch resumes from the last revision it delivered after etcd comes back,
 *   so a node that was cut off catches up with everything it missed.
 * - At start (and when etcd answers again after it never did): an empty cluster is seeded with
 *   this node's configuration; otherwise the cluster's wins. A node whose local configuration
 *   differs (changed while it was stopped or not joined) keeps it as a backup, says so in the
 *   event log, and then serves the cluster's.
 * Until that first read, changes on this node are refused: it cannot know what it would overwrite.
 */
import { randomBytes } from "node:crypto";
import { Etcd3, type Watcher } from "etcd3";
import { EngineError } from "../engine/core/errors";
import { listBackups, saveBackup } from "../config/backup";
import type { ConfigReplica, ConfigService, ReplicatedState } from "../config/service";
import { recordEvent } from "../history/events";
import { conflictMessage, CONFIG_KEY, ConfigDocError, decideRemote, decodeDoc, DOC_FORMAT, encodeDoc, MAX_DOC_BYTES, sizeMessage, stateText, type ConfigDoc } from "./config-doc";
import { convergeEngine } from "./converge";

const RETRY_MS = 1_000;
/** How long a change waits for etcd before it is refused. */
const CALL_DEADLINE_MS = 2_500;

export interface ConfigSyncStatus {
  /** The cluster's configuration has been read and applied here (changes are possible). */
  synced: boolean;
  /** The key's mod_revision this node applied or wrote last. */
  revision: string | null;
  /** Who wrote the configuration this node serves, and when. */
  writtenBy: string | null;
  writtenAt: string | null;
  error: string | null;
}

interface Receipt {
  revision: bigint;
  text: string;
  doc: ConfigDoc;
}

export class ConfigSync implements ConfigReplica {
  private readonly client: Etcd3;
  private watcher: Watcher | undefined;
  private revision: bigint | undefined;
  /** stateText() of the configuration at `revision`. */
  private text: string | undefined;
  private writer: { node: string; at: string } | undefined;
  private synced = false;
  private error: string | null = "connecting";
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  /** Called after the configuration changed here: a document from the cluster applied, or a change of this node published. */
  onChange: (() => void) | undefined;

  constructor(
    private readonly endpoints: string[],
    private readonly node: string,
    private readonly service: ConfigService,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    this.client = new Etcd3({
      hosts: endpoints,
      dialTimeout: 2_000,
      // A change must not hang on an unreachable etcd: it is refused, and the node keeps serving.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
    });
  }

  status(): ConfigSyncStatus {
    return {
      synced: this.synced,
      revision: this.revision?.toString() ?? null,
      writtenBy: this.writer?.node ?? null,
      writtenAt: this.writer?.at ?? null,
      error: this.error,
    };
  }

  /** Reads (or seeds) the cluster's configuration and follows it; resolves after the first attempt. */
  async start(): Promise<void> {
    await this.catchUp();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.watcher?.cancel().catch(() => undefined);
    this.client.close();
  }

  // ---- ConfigReplica: a change made on this node --------------------------------

  async publish(state: ReplicatedState): Promise<Receipt | undefined> {
    const text = stateText(state);
    // Node-local changes (storage roots, preferences) leave the cluster's configuration as it is.
    if (this.synced && text === this.text) return undefined;
    if (!this.synced) {
      throw new EngineError(
        `this node has not loaded the cluster configuration yet (${this.error ?? "connecting to etcd"}): configuration changes are refused until it has, so that none overwrites a newer one; it keeps serving`,
        "in_use",
      );
    }
    const doc: ConfigDoc = { format: DOC_FORMAT, node: this.node, at: new Date().toISOString(), change: randomBytes(8).toString("hex"), ...state };
    const value = encodeDoc(doc);
    if (Buffer.byteLength(value) > MAX_DOC_BYTES) throw new EngineError(sizeMessage(Buffer.byteLength(value)), "invalid");
    let r;
    try {
      r = await this.client
        .if(CONFIG_KEY, "Mod", "==", (this.revision ?? 0n).toString())
        .then(this.client.put(CONFIG_KEY).value(value))
        .else(this.client.get(CONFIG_KEY))
        .commit();
    } catch (err) {
      throw new EngineError(this.unreachable(err), "io");
    }
    if (r.succeeded) return { revision: BigInt(r.header.revision), text, doc };
    const kv = r.responses[0]?.response_range?.kvs[0];
    const current = kv ? safeDecode(kv.value.toString()) : undefined;
    // A retried request whose first attempt landed (its answer was lost): that is our own change.
    if (kv && current?.change === doc.change) return { revision: BigInt(kv.mod_revision), text, doc };
    throw new EngineError(conflictMessage(current ? { node: current.node, revision: kv?.mod_revision } : undefined, this.node), "in_use");
  }

  committed(receipt: unknown): void {
    const r = receipt as Receipt | undefined;
    if (!r) return;
    if (this.revision === undefined || r.revision > this.revision) {
      this.revision = r.revision;
      this.text = r.text;
      this.writer = { node: r.doc.node, at: r.doc.at };
    }
    this.onChange?.();
  }

  // ---- the cluster's configuration, to this node --------------------------------

  private unreachable(err: unknown): string {
    return `etcd at ${this.endpoints.join(", ")} is not reachable (${(err as Error).message}): configuration changes are refused on this node until it answers; it keeps serving its configuration`;
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.catchUp(), RETRY_MS);
    this.retry.unref();
  }

  /** Reads the key; seeds it from this node when the cluster has none, else applies it; then watches. */
  private async catchUp(): Promise<void> {
    if (this.stopped) return;
    try {
      let read = await this.client.get(CONFIG_KEY).exec();
      let header = BigInt(read.header.revision);
      if (!read.kvs[0]) {
        if (await this.seed()) header = this.revision!;
        else read = await this.client.get(CONFIG_KEY).exec(); // another node seeded it meanwhile
      }
      const kv = read.kvs[0];
      if (kv) {
        header = BigInt(read.header.revision);
        await this.applyRemote(kv.value.toString(), BigInt(kv.mod_revision), { joining: true });
      }
      this.synced = this.revision !== undefined;
      if (!this.synced) throw new Error("the cluster configuration could not be read");
      this.error = null;
      await this.watch(header + 1n);
    } catch (err) {
      this.error = err instanceof ConfigDocError ? err.message : `etcd at ${this.endpoints.join(", ")} is not reachable: ${(err as Error).message}`;
      this.scheduleRetry();
    }
  }

  /** The first node of an empty cluster: its configuration becomes the cluster's (create-only, so two first nodes cannot both seed). */
  private async seed(): Promise<boolean> {
    let seeded = false;
    // In the service's queue: no change of this node can slip in between the read and the put.
    await this.service.applyReplicated(async (state) => {
      const doc: ConfigDoc = { format: DOC_FORMAT, node: this.node, at: new Date().toISOString(), change: randomBytes(8).toString("hex"), ...state };
      const r = await this.client.if(CONFIG_KEY, "Create", "==", 0).then(this.client.put(CONFIG_KEY).value(encodeDoc(doc))).commit();
      if (!r.succeeded) return undefined;
      seeded = true;
      this.revision = BigInt(r.header.revision);
      this.text = stateText(state);
      this.writer = { node: doc.node, at: doc.at };
      return undefined;
    });
    if (seeded) {
      this.log(`portico: cluster: the cluster configuration was empty: seeded it from ${this.node} (revision ${this.revision})`);
      recordEvent({ type: "cluster_config", actor: "system", remote: "local", reason: "seeded", message: `The cluster configuration was empty: seeded from node ${this.node}` });
    }
    return seeded;
  }

  private async watch(from: bigint): Promise<void> {
    await this.watcher?.cancel().catch(() => undefined);
    const watcher = await this.client.watch().key(CONFIG_KEY).startRevision(from.toString()).create();
    this.watcher = watcher;
    watcher.on("put", (kv) => {
      void this.applyRemote(kv.value.toString(), BigInt(kv.mod_revision), { joining: false }).catch((err: Error) => {
        this.log(`portico: cluster: could not apply the cluster configuration (revision ${kv.mod_revision}): ${err.message}`);
      });
    });
    watcher.on("delete", () => {
      this.log(`portico: cluster: ${CONFIG_KEY} was deleted in etcd; this node keeps its configuration (a change on any node writes it again)`);
      this.revision = 0n;
      this.text = undefined;
    });
    watcher.on("disconnected", () => {
      if (!this.stopped) this.error = `lost the watch on etcd at ${this.endpoints.join(", ")}: reconnecting`;
    });
    watcher.on("connected", () => {
      if (this.synced) this.error = null;
    });
    watcher.on("error", (err) => {
      // E.g. the revision to resume from was compacted: read the key again.
      if (this.stopped || this.watcher !== watcher) return;
      this.log(`portico: cluster: the configuration watch failed (${err.message}); reading it again`);
      this.watcher = undefined;
      void watcher.cancel().catch(() => undefined);
      this.scheduleRetry();
    });
  }

  /** A document read or delivered by the watch: applied, in order with local changes, when newer and different. */
  private async applyRemote(value: string, revision: bigint, opts: { joining: boolean }): Promise<void> {
    let doc: ConfigDoc;
    try {
      doc = decodeDoc(value);
    } catch (err) {
      this.log(`portico: cluster: ignored revision ${revision} of the cluster configuration: ${(err as Error).message}`);
      if (opts.joining) throw err;
      return;
    }
    const started = Date.now();
    let backup: string | undefined;
    let changed = false;
    const warnings = await this.service.applyReplicated(async (local) => {
      const text = stateText(doc);
      const decision = decideRemote(revision, this.revision, text === stateText(local));
      if (decision === "ignore") return undefined;
      if (decision === "record") {
        this.revision = revision;
        this.text = text;
        this.writer = { node: doc.node, at: doc.at };
        return undefined;
      }
      // Joining with a configuration of its own (made while stopped or not joined): it is kept, then replaced.
      if (opts.joining && (local.config.storageObjects.length || local.config.targets.length)) backup = this.keepLocalCopy();
      const warnings = await convergeEngine(this.service.engine, local.config, doc.config);
      this.revision = revision;
      this.text = text;
      this.writer = { node: doc.node, at: doc.at };
      changed = true;
      return { state: { config: doc.config, settings: doc.settings }, warnings };
    });
    if (!changed) return;
    const ms = Date.now() - started;
    const failed = warnings?.length ? `; ${warnings.length} object(s) could not be applied here: ${warnings.map((w) => `${w.object}: ${w.reason}`).join("; ")}` : "";
    const message = !opts.joining
      ? `Applied the cluster configuration revision ${revision} (changed on node ${doc.node}) in ${ms} ms${failed}`
      : backup
        ? `Joined with a configuration that differed from the cluster's: the cluster's (revision ${revision}, written by node ${doc.node}) replaced it; the local one is kept as backup ${backup}${failed}`
        : `Joined: applied the cluster configuration revision ${revision} (written by node ${doc.node}) in ${ms} ms${failed}`;
    this.log(`portico: cluster: ${message}`);
    recordEvent({ type: "cluster_config", actor: "system", remote: "local", reason: opts.joining ? "replaced_local" : "applied", message, detail: { revision: revision.toString(), node: doc.node, backup, warnings } });
    this.onChange?.();
  }

  /** A backup of this node's configuration before the cluster's replaces it; its name. */
  private keepLocalCopy(): string | undefined {
    const dir = this.service.dataDir;
    if (!dir) return undefined;
    try {
      return saveBackup(dir, this.service.exportSaveconfig({ secrets: true }), Math.max(this.service.settings().maxBackupFiles, 2)) ?? listBackups(dir)[0]?.name;
    } catch (err) {
      this.log(`portico: cluster: could not back up the local configuration in ${dir}/backup: ${(err as Error).message}`);
      return undefined;
    }
  }
}

function safeDecode(text: string): ConfigDoc | undefined {
  try {
    return decodeDoc(text);
  } catch {
    return undefined;
  }
}
