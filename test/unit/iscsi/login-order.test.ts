/**
 * What a completed login does before and after its final Login Response (issue 16 item 4):
 * the response leaves first; the session's statistics, the read of the initiator's address
 * (getpeername) and TCP_NODELAY (setsockopt) come after it, while the initiator reads the
 * answer. A TPG with allowed networks, or a throttled address, still has the address read
 * before the login is evaluated. No poll window follows the final Login Response (the
 * initiator's next PDU comes much later than a window lasts).
 */
import type net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { nativeAddon } from "../../../server/engine/backstores/native";
import { IoStats, type SessionCounters, type SessionIdentity } from "../../../server/engine/core/stats";
import type { Connection } from "../../../server/engine/iscsi/connection";
import { IscsiClient } from "../../support/iscsi-client";
import { INITIATOR, TARGET, startTarget, type Harness } from "./harness";

/** The server side's bytes written when something happened on it. */
interface Probe {
  socket?: net.Socket;
  statsOpened: number[];
  addressRead: number[];
  noDelay: number[];
}

class ProbedStats extends IoStats {
  constructor(private readonly probe: Probe) {
    super();
  }

  override openSession(id: string, identity: SessionIdentity): SessionCounters {
    this.probe.statsOpened.push(this.probe.socket!.bytesWritten);
    return super.openSession(id, identity);
  }
}

/** Watches the server side of every connection: reads of its peer address, setNoDelay calls. */
function watch(h: Harness, probe: Probe): void {
  const loginEnv = h.fabric.loginEnv.bind(h.fabric);
  h.fabric.loginEnv = (conn: Connection) => {
    const socket = conn.socket;
    probe.socket = socket;
    const proto = Object.getPrototypeOf(socket) as net.Socket;
    const address = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(proto), "remoteAddress")
      ?? Object.getOwnPropertyDescriptor(proto, "remoteAddress");
    Object.defineProperty(socket, "remoteAddress", {
      configurable: true,
      get() {
        probe.addressRead.push(socket.bytesWritten);
        return address!.get!.call(socket);
      },
    });
    const setNoDelay = socket.setNoDelay.bind(socket);
    socket.setNoDelay = (on?: boolean) => {
      probe.noDelay.push(socket.bytesWritten);
      return setNoDelay(on);
    };
    return loginEnv(conn);
  };
}

let h: Harness | undefined;
const clients: IscsiClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await h?.close();
  h = undefined;
});

describe("a completed login", () => {
  it("writes its final Login Response before opening the session's statistics, reading the peer's address and setting TCP_NODELAY", async () => {
    const probe: Probe = { statsOpened: [], addressRead: [], noDelay: [] };
    h = await startTarget({ stats: new ProbedStats(probe) });
    watch(h, probe);
    const c = await IscsiClient.connect(h.port);
    clients.push(c);
    expect((await c.login({ targetName: TARGET, initiatorName: INITIATOR, isid: "400001000e01" })).statusClass).toBe(0);
    const answered = probe.socket!.bytesWritten;
    expect(answered).toBeGreaterThanOrEqual(48);
    expect(probe.statsOpened).toEqual([answered]);
    expect(probe.noDelay).toEqual([answered]);
    expect(probe.addressRead.length).toBeGreaterThan(0);
    expect(Math.min(...probe.addressRead)).toBe(answered);
    // The address was read in time for the session list and the login event.
    const s = h.engine.sessions().find((x) => x.isid === "400001000e01")!;
    expect(s.connections[0].remoteAddress).toBe("127.0.0.1");
    expect(await c.logout()).toBe(0);
  });

  it("reads the peer's address before answering when the TPG restricts its networks", async () => {
    const probe: Probe = { statsOpened: [], addressRead: [], noDelay: [] };
    h = await startTarget({ stats: new ProbedStats(probe) });
    h.engine.setTpgAllowedNetworks(TARGET, 1, ["127.0.0.0/8"]);
    watch(h, probe);
    const c = await IscsiClient.connect(h.port);
    clients.push(c);
    expect((await c.login({ targetName: TARGET, initiatorName: INITIATOR, isid: "400001000e02" })).statusClass).toBe(0);
    expect(Math.min(...probe.addressRead)).toBe(0);
  });

  it("arms no poll window after the final Login Response", async () => {
    const a = nativeAddon as { pollSpins?: () => number } | undefined;
    expect(typeof a?.pollSpins).toBe("function"); // npm test builds native/
    h = await startTarget();
    const s0 = a!.pollSpins!();
    for (let i = 0; i < 5; i++) {
      const c = await IscsiClient.connect(h.port);
      clients.push(c);
      expect((await c.login({ targetName: TARGET, initiatorName: INITIATOR, isid: `400001000e1${i}` })).statusClass).toBe(0);
    }
    await new Promise((r) => setTimeout(r, 20));
    expect(a!.pollSpins!() - s0).toBe(0);
  });
});
