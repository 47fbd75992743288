/**
 * Runs the engine with one demo-mode target and one LUN for libiscsi's iscsi-test-cu
 * (not a vitest file):
 *   npx tsx test/unit/scsi/score-server.ts PORT ramdisk SIZE | fileio PATH SIZE [thin] | block DEV
 * Prints READY <iqn> when listening. Then: /work/shared/tools/libiscsi-score URL URL.
 */
import { createEngine } from "../../../server/engine";
import { serveDemoTarget } from "../../support/demo-target";

async function main() {
  const [portArg, plugin, a, b, c] = process.argv.slice(2);
  const port = Number(portArg);
  const engine = createEngine();
  const iqn = "iqn.2003-01.org.linux-iscsi.portico:score";
  const thin = [b, c].includes("thin");
  const attributes: Record<string, number> = thin ? { emulate_tpu: 1, emulate_tpws: 1 } : {};
  const so =
    plugin === "ramdisk"
      ? await engine.createStorageObject({ plugin: "ramdisk", name: "rd", size: Number(a), attributes })
      : plugin === "fileio"
        ? await engine.createStorageObject({ plugin: "fileio", name: "fio", dev: a, size: Number(b), attributes })
        : await engine.createStorageObject({ plugin: "block", name: "blk", dev: a, attributes });
  await serveDemoTarget(engine, { iqn, ip: "127.0.0.1", port, storageObjects: [so.path] });
  process.stdout.write(`READY ${iqn}\n`);
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
