/**
 * Polling for a state another process reaches in its own time (a member key, an election, a
 * watch applied): the tests and bench/failover.ts wait with this one helper, each call naming its
 * own bound and pace.
 */

/**
 * Calls `f` every `stepMs` until `ok` accepts its value, and returns that value. A call that
 * throws or yields undefined counts as "not yet" (a node's API is down during a failover, an
 * entry does not exist yet); after `timeoutMs` it throws, naming `what` and the last value or error.
 */
export async function until<T>(what: string, f: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs: number, stepMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let error = "";
    let v: T | undefined;
    try {
      v = await f();
    } catch (e) {
      error = (e as Error).message;
    }
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${error || JSON.stringify(v)?.slice(0, 500)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
