import { afterEach, describe, expect, it } from "vitest";
import { clusterOptions } from "@/server/engine/backstores/rbd";

const optionsOf = () => new Map(clusterOptions(30));

describe("the options every Ceph connection of the rbd backstore is made with", () => {
  afterEach(() => {
    delete process.env.PORTICO_RBD_ZERO_COPY_WRITES;
    delete process.env.PORTICO_RBD_CACHE;
  });

  it("librbd's cache is left to ceph.conf (on by default) unless PORTICO_RBD_CACHE=0 turns it off", () => {
    expect(optionsOf().has("rbd_cache")).toBe(false);
    process.env.PORTICO_RBD_CACHE = "1";
    expect(optionsOf().has("rbd_cache")).toBe(false);
    process.env.PORTICO_RBD_CACHE = "0";
    expect(optionsOf().get("rbd_cache")).toBe("false");
  });

  it("librbd references a write's data (zero-copy writes) unless PORTICO_RBD_ZERO_COPY_WRITES=0", () => {
    expect(optionsOf().get("rbd_disable_zero_copy_writes")).toBe("false");
    process.env.PORTICO_RBD_ZERO_COPY_WRITES = "0";
    expect(optionsOf().get("rbd_disable_zero_copy_writes")).toBe("true");
  });

  it("submission inline on the calling thread, with an Objecter op budget past what write-around can hold, so an inline read never waits for room", () => {
    const o = optionsOf();
    expect(o.get("rbd_non_blocking_aio")).toBe("false");
    // rbd_cache_max_dirty (24 MiB) of 512-byte writes, plus the addon's 256.
    expect(Number(o.get("objecter_inflight_ops"))).toBeGreaterThanOrEqual((24 * 1024 * 1024) / 512 + 256);
    expect(o.get("rados_osd_op_timeout")).toBe("30");
  });
});
