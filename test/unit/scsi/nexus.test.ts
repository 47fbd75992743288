/**
 * One I_T nexus value (issue 9 item 2): built once at login by itNexus(), carried down as a
 * typed value; its port names are the RFC 7143 §13.1 forms and the key is only compared.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { itNexus } from "../../../server/engine/scsi/types";

describe("itNexus", () => {
  it("builds the initiator and target port names and the key once", () => {
    const n = itNexus("iqn.2024-01.org.portico.test:i", "40000137ABCD", "iqn.2024-01.org.portico.test:t", 26);
    expect(n).toEqual({
      initiatorName: "iqn.2024-01.org.portico.test:i",
      isid: "40000137abcd",
      targetName: "iqn.2024-01.org.portico.test:t",
      tpgTag: 26,
      initiatorPort: "iqn.2024-01.org.portico.test:i,i,0x40000137abcd",
      targetPort: "iqn.2024-01.org.portico.test:t,t,0x001a",
      key: "iqn.2024-01.org.portico.test:i,i,0x40000137abcd|iqn.2024-01.org.portico.test:t,t,0x001a",
    });
    expect(Object.isFrozen(n)).toBe(true);
  });

  it("no engine module builds or parses a nexus string by hand (only scsi/types.ts; pr.ts reads TransportIDs off the wire)", () => {
    const root = path.resolve(__dirname, "../../../server/engine");
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith(".ts") && !p.endsWith(path.join("scsi", "types.ts")) && !p.endsWith(path.join("scsi", "pr.ts"))) {
          const text = fs.readFileSync(p, "utf8").split("\n").filter((l) => !l.trim().startsWith("//") && !l.trim().startsWith("*"));
          if (text.some((l) => l.includes(",i,0x") || l.includes(",t,0x"))) offenders.push(path.relative(root, p));
        }
      }
    };
    walk(root);
    expect(offenders).toEqual([]);
  });
});
