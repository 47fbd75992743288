/**
 * Socket reads into one buffer, shared by every connection and reused by every read, instead of
 * a fresh Buffer per read ('data' events).
 *
 * Why: each 'data' chunk is a new ArrayBuffer (64 KiB), which V8 counts as external memory. At
 * 1 MiB writes the appliance receives ~0.3-1 GB/s: a forced scavenge every ~32 MB of them
 * (Heap::AllocateExternalBackingStore), and with the old generation's slack shrunk by that
 * external memory, a mark-compact of the whole heap every 40-80 ms that frees almost nothing
 * (docs/performance.md, "large writes"). A reused buffer costs no allocation and no Readable
 * stream machinery per read.
 *
 * How: Node's `onread` option (net.connect's `{ buffer, callback }`: libuv reads into the given
 * buffer and the callback gets the byte count) exists only for sockets Node creates for a client;
 * an accepted socket gets it here through the same fields Socket's constructor sets (kBuffer,
 * kBufferCb) and the handle's useUserBuffer, which is what that constructor does. Node's own
 * pause()/resume() honour it (readStop/readStart). When a Node version lacks any of these, the
 * caller keeps 'data' events.
 *
 * The price: the buffer is overwritten by the next read, so PduStream must copy what it emits
 * (PduStream.reusesChunks).
 *
 * One buffer for all connections, not one each: a buffer per connection was 256 KiB of external
 * memory per login, and 500 logins in a row (bench/login-cost.ts) cost 2.0-3.4 ms of CPU each
 * instead of 0.6-1.0, most of it V8's GC threads. Sharing is safe because every read lands on
 * the event loop's thread: libuv reads one stream into the buffer, Node hands the bytes to that
 * connection's callback synchronously, and the callback keeps no view of them (above) before
 * libuv reads the next stream.
 */
import type net from "node:net";

/** Bytes per read at most: a 1 MiB write arrives in a few reads. */
export const RECEIVE_BUFFER_SIZE = 256 * 1024;

/** The buffer every connection's reads land in, made at the first connection (one per size asked). */
const shared = new Map<number, Buffer>();
function sharedBuffer(size: number): Buffer {
  let buffer = shared.get(size);
  if (!buffer) shared.set(size, (buffer = Buffer.allocUnsafeSlow(size)));
  return buffer;
}

interface UserBufferHandle {
  useUserBuffer?: (buf: Uint8Array) => void;
}

/** The Socket's own symbol fields by their description (they are not exported by Node; the same for every socket). */
const symbols = new Map<string, symbol | undefined>();
function socketSymbol(socket: net.Socket, description: string): symbol | undefined {
  if (!symbols.has(description)) symbols.set(description, Object.getOwnPropertySymbols(socket).find((s) => s.description === description));
  return symbols.get(description);
}

/**
 * Makes `socket` read into the shared buffer of `size` bytes, calling `onChunk` with a view of the
 * bytes each read gave (valid only until onChunk returns: the next read of any connection
 * overwrites them). False when this Node cannot (then nothing
 * was changed and the caller listens for 'data').
 */
export function readIntoReusedBuffer(socket: net.Socket, size: number, onChunk: (chunk: Buffer) => void): boolean {
  const handle = (socket as unknown as { _handle?: UserBufferHandle })._handle;
  const kBuffer = socketSymbol(socket, "kBuffer");
  const kBufferCb = socketSymbol(socket, "kBufferCb");
  const kBufferGen = socketSymbol(socket, "kBufferGen");
  if (typeof handle?.useUserBuffer !== "function" || !kBuffer || !kBufferCb || !kBufferGen) return false;
  const fields = socket as unknown as Record<symbol, unknown>;
  if (fields[kBuffer] || fields[kBufferGen]) return false; // already reading into a buffer of someone else's
  const buffer = sharedBuffer(size);
  fields[kBuffer] = buffer;
  // A full read (the common case at large writes) is the buffer itself: no view allocated.
  fields[kBufferCb] = (nread: number) => onChunk(nread === size ? buffer : buffer.subarray(0, nread));
  handle.useUserBuffer(buffer);
  return true;
}
