/**
 * The block device choices of the onboarding wizard and the storage wizard (one component):
 * each device with its size, type and model; a mounted or already exported one is listed,
 * disabled, with the reason.
 */
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { BlockDeviceOptions } from "@/components/form";

const device = { path: "/dev/sdb", size: 8 * 1024 ** 3, type: "disk", model: null, mounts: [] as string[], inUse: false };

describe("BlockDeviceOptions", () => {
  it("lists a prompt, then each device; mounted and exported devices cannot be chosen and say why", () => {
    const html = renderToStaticMarkup(
      createElement(BlockDeviceOptions, {
        devices: [
          { ...device, model: "QEMU HARDDISK" },
          { ...device, path: "/dev/sdc", type: "partition", size: 1536 * 1024 ** 2, mounts: ["/srv", "/var"] },
          { ...device, path: "/dev/loop0", type: "loop", inUse: true },
        ],
      }),
    );
    expect(html).toBe(
      '<option value="">Choose a device…</option>' +
        '<option value="/dev/sdb">/dev/sdb — 8 GiB disk (QEMU HARDDISK)</option>' +
        '<option value="/dev/sdc" disabled="">/dev/sdc — 1.5 GiB partition — mounted at /srv, /var</option>' +
        '<option value="/dev/loop0" disabled="">/dev/loop0 — 8 GiB loop — already exported</option>',
    );
  });
});
