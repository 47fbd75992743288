/**
 * What a test connection received and nobody has asked for yet (RawConnection's PDUs, IscsiClient's
 * unsolicited ones): an arrival goes to the oldest waiter, else it queues; a wait takes the oldest
 * queued one, else ends with the next arrival, or with undefined once the connection closed or
 * after the timeout.
 */
export class Inbox<T> {
  private readonly queue: T[] = [];
  private waiters: ((v: T | undefined) => void)[] = [];
  private closed = false;

  put(v: T): void {
    const w = this.waiters.shift();
    if (w) w(v);
    else this.queue.push(v);
  }

  /** The connection closed: every waiter gets undefined, and so does every later wait once the queue is empty. */
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  next(timeoutMs: number): Promise<T | undefined> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift());
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(undefined);
      }, timeoutMs);
      const done = (v: T | undefined) => {
        clearTimeout(t);
        resolve(v);
      };
      this.waiters.push(done);
    });
  }
}
