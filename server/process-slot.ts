/**
 * A process-wide slot for an object one part of the appliance sets (server/main.ts starts the
 * monitor, the cluster membership, the alert service…) and another reads (the tRPC routers, the
 * console, GET /metrics). The console and its API are bundled by Next, which loads its own copy of
 * a module next to the one server/main.ts imported through tsx: a module-level variable would be two
 * variables. The slot lives on globalThis under a registered symbol (`Symbol.for(name)`), one per
 * process whichever copy asks.
 */
export interface ProcessSlot<T> {
  get(): T | undefined;
  set(value: T | undefined): void;
}

export function processSlot<T>(name: string): ProcessSlot<T> {
  const key = Symbol.for(name);
  const g = globalThis as unknown as Record<symbol, T | undefined>;
  return {
    get: () => g[key],
    set: (value) => {
      g[key] = value;
    },
  };
}
