/**
 * The audit log records each API change's input: an imported saveconfig.json is one long
 * string that may carry CHAP secrets anywhere, so its text must never reach the log.
 */
import { describe, expect, it } from "vitest";
import { redact } from "../../../server/history/events";

describe("audit log redaction", () => {
  it("does not keep the text of an imported configuration, even with the secret in its first 200 characters", () => {
    const config = JSON.stringify({ targets: [{ tpgs: [{ node_acls: [{ chap_password: "esxSecret1234", chap_userid: "esx01" }] }] }] });
    const logged = JSON.stringify(redact({ config, clear: true }));
    expect(logged).not.toContain("esxSecret1234");
    expect(logged).toContain(`${config.length} characters`);
  });

  it("keeps short plain values and hides keys that name secrets", () => {
    expect(redact({ name: "vm01", size: 1024, password: "hunter2hunter2" })).toEqual({ name: "vm01", size: 1024, password: "••••" });
  });
});
