/**
 * Admin accounts, sessions and appliance settings in the appliance database.
 * Session tokens are 32 random bytes; the database keeps only their SHA-256.
 */
import { createHash, randomBytes } from "node:crypto";
import { and, eq, lt, ne, sql } from "drizzle-orm";
import type { PorticoDb } from "../db";
import { adminSessions, adminUsers, settings } from "../db/schema";
import { DUMMY_HASH, hashPassword, verifyPassword } from "./password";
import type { SetupCode } from "./setup-code";

/** A session ends after this long without a request… */
export const SESSION_IDLE_MS = 12 * 60 * 60_000;
/** …and after this long regardless. */
export const SESSION_MAX_MS = 7 * 24 * 60 * 60_000;

export interface SessionUser {
  userId: number;
  username: string;
  /** The SHA-256 of the token, to end exactly this session at logout. */
  tokenHash: string;
}

export interface ApplianceSettings {
  name: string;
  iqnPrefix: string;
  onboardedAt: string | null;
}

const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");

export class AuthStore {
  /** The one-time onboarding setup code of this run (server/main.ts), while no admin exists. */
  setupCode?: SetupCode;

  constructor(
    private readonly db: PorticoDb,
    private readonly now: () => number = Date.now,
  ) {}

  hasAdmin(): boolean {
    return this.db.select({ id: adminUsers.id }).from(adminUsers).limit(1).get() !== undefined;
  }

  async createAdmin(username: string, password: string): Promise<number> {
    const hash = await hashPassword(password);
    const t = this.now();
    const row = this.db.insert(adminUsers).values({ username, passwordHash: hash, createdAt: t, passwordChangedAt: t }).returning({ id: adminUsers.id }).get();
    return row.id;
  }

  /**
   * Onboarding's admin: created only if no admin exists, in one statement (check and insert
   * cannot be separated by another request, as two parallel `onboarding.complete` were);
   * undefined when an admin already exists.
   */
  async createFirstAdmin(username: string, password: string): Promise<number | undefined> {
    const hash = await hashPassword(password);
    const t = this.now();
    const row = this.db.get<{ id: number } | undefined>(
      sql`insert into admin_users (username, password_hash, created_at, password_changed_at)
          select ${username}, ${hash}, ${t}, ${t} where not exists (select 1 from admin_users) returning id`,
    );
    return row?.id;
  }

  /** Takes back an admin that onboarding created when the rest of onboarding failed. */
  deleteAdmin(userId: number): void {
    this.db.delete(adminUsers).where(eq(adminUsers.id, userId)).run();
  }

  /** Every admin account (Settings lists them: none may be invisible). */
  listAdmins(): { id: number; username: string; createdAt: number; passwordChangedAt: number; lastSeenAt: number | null; sessions: number }[] {
    const users = this.db.select().from(adminUsers).orderBy(adminUsers.id).all();
    const t = this.now();
    return users.map((u) => {
      const live = this.db
        .select({ lastSeenAt: adminSessions.lastSeenAt, expiresAt: adminSessions.expiresAt })
        .from(adminSessions)
        .where(eq(adminSessions.userId, u.id))
        .all()
        .filter((s) => s.expiresAt > t);
      return {
        id: u.id,
        username: u.username,
        createdAt: u.createdAt,
        passwordChangedAt: u.passwordChangedAt,
        lastSeenAt: live.length ? Math.max(...live.map((s) => s.lastSeenAt)) : null,
        sessions: live.length,
      };
    });
  }

  /** The user id when the password is right; undefined otherwise (same work either way). */
  async verify(username: string, password: string): Promise<number | undefined> {
    const user = this.db.select().from(adminUsers).where(eq(adminUsers.username, username.trim())).get();
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    return ok && user ? user.id : undefined;
  }

  async verifyUserId(userId: number, password: string): Promise<boolean> {
    const user = this.db.select().from(adminUsers).where(eq(adminUsers.id, userId)).get();
    return verifyPassword(password, user?.passwordHash ?? DUMMY_HASH).then((ok) => ok && Boolean(user));
  }

  /** Sets a new password and ends every other session of that user. */
  async setPassword(userId: number, password: string, keepTokenHash?: string): Promise<void> {
    const hash = await hashPassword(password);
    this.db.update(adminUsers).set({ passwordHash: hash, passwordChangedAt: this.now() }).where(eq(adminUsers.id, userId)).run();
    this.db
      .delete(adminSessions)
      .where(keepTokenHash ? and(eq(adminSessions.userId, userId), ne(adminSessions.tokenHash, keepTokenHash)) : eq(adminSessions.userId, userId))
      .run();
  }

  createSession(userId: number, meta: { ip?: string; userAgent?: string } = {}): { token: string; maxAgeSeconds: number } {
    const token = randomBytes(32).toString("base64url");
    const t = this.now();
    this.db.delete(adminSessions).where(lt(adminSessions.expiresAt, t)).run();
    this.db
      .insert(adminSessions)
      .values({ tokenHash: hashToken(token), userId, createdAt: t, lastSeenAt: t, expiresAt: t + SESSION_IDLE_MS, ip: meta.ip ?? null, userAgent: meta.userAgent?.slice(0, 200) ?? null })
      .run();
    return { token, maxAgeSeconds: Math.floor(SESSION_MAX_MS / 1000) };
  }

  /** The session's user, sliding its idle expiry; undefined for an unknown, idle or too old token. */
  session(token: string | undefined): SessionUser | undefined {
    if (!token || token.length > 100) return undefined;
    const tokenHash = hashToken(token);
    const row = this.db
      .select({ s: adminSessions, username: adminUsers.username })
      .from(adminSessions)
      .innerJoin(adminUsers, eq(adminUsers.id, adminSessions.userId))
      .where(eq(adminSessions.tokenHash, tokenHash))
      .get();
    const t = this.now();
    if (!row) return undefined;
    if (row.s.expiresAt <= t || t - row.s.createdAt > SESSION_MAX_MS) {
      this.db.delete(adminSessions).where(eq(adminSessions.tokenHash, tokenHash)).run();
      return undefined;
    }
    // Write at most once a minute: reads stay reads.
    if (t - row.s.lastSeenAt > 60_000) {
      this.db.update(adminSessions).set({ lastSeenAt: t, expiresAt: t + SESSION_IDLE_MS }).where(eq(adminSessions.tokenHash, tokenHash)).run();
    }
    return { userId: row.s.userId, username: row.username, tokenHash };
  }

  endSession(tokenHash: string): void {
    this.db.delete(adminSessions).where(eq(adminSessions.tokenHash, tokenHash)).run();
  }

  // ---- appliance settings (settings table, key → JSON) -------------------

  getSetting<T>(key: string): T | undefined {
    const row = this.db.select().from(settings).where(eq(settings.key, key)).get();
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  setSetting(key: string, value: unknown): void {
    const v = JSON.stringify(value);
    this.db.insert(settings).values({ key, value: v }).onConflictDoUpdate({ target: settings.key, set: { value: v } }).run();
  }

  appliance(defaults: { name: string; iqnPrefix: string }): ApplianceSettings {
    return {
      name: this.getSetting<string>("appliance.name") ?? defaults.name,
      iqnPrefix: this.getSetting<string>("appliance.iqnPrefix") ?? defaults.iqnPrefix,
      onboardedAt: this.getSetting<string>("onboarding.completedAt") ?? null,
    };
  }
}
