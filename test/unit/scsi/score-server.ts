/**
 * Runs the engine with one demo-mode target and one LUN for libiscsi's iscsi-test-cu
 * (not a vitest file):
 *   npx tsx test/unit/scsi/score-server.ts PORT ramdisk SIZE | fileio PATH SIZE [thin] | block DEV
 * Prints READY <iqn> when listening. Then: /work/shared/tools/libiscsi-score URL URL.
 */
import { createEngine } from "../../../server/engine";

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
  engine.createTarget(iqn);
  engine.createTpg(iqn, 1, { attributes: { generate_node_acls: 1, demo_mode_write_protect: 0 } });
  engine.createLun(iqn, 1, so.path, { index: 0 });
  await engine.createPortal(iqn, 1, "127.0.0.1", port);
  process.stdout.write(`READY ${iqn}\n`);
  const stop = async () => {
    await engine.shutdown();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
