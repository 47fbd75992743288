/** Issue 15 item 4: the login page's `next` never leaves the console's origin. */
import { describe, expect, it } from "vitest";
import { safeNext } from "@/server/console/safe-next";

const ORIGIN = "http://appliance.lan:3000";

/** What the browser does with the result: resolve it against the page's URL. */
const landing = (next: string | null) => new URL(safeNext(next, ORIGIN), `${ORIGIN}/login`).origin;

describe("safeNext", () => {
  it("keeps a page of the console, with its query and fragment", () => {
    expect(safeNext("/targets", ORIGIN)).toBe("/targets");
    expect(safeNext("/storage?tab=fileio#disk1", ORIGIN)).toBe("/storage?tab=fileio#disk1");
    expect(safeNext("/targets/../settings", ORIGIN)).toBe("/settings");
  });

  // The probes: URLSearchParams.get has already decoded %5C and %09 by the time the page sees them.
  it.each([
    ["/\\127.0.0.1:9999/phish.html"],
    ["/\t/127.0.0.1:9999/phish.html"],
    ["/\n/evil.example/"],
    ["/\\/evil.example/"],
    ["//evil.example/"],
    ["https://evil.example/"],
    ["javascript:alert(1)"],
    ["\\\\evil.example"],
  ])("drops %j (it would leave the site)", (next) => {
    expect(safeNext(next, ORIGIN)).toBe("/");
    expect(landing(next)).toBe(ORIGIN);
  });

  it("drops empty, relative and login-page values", () => {
    expect(safeNext(null, ORIGIN)).toBe("/");
    expect(safeNext("", ORIGIN)).toBe("/");
    expect(safeNext("targets", ORIGIN)).toBe("/");
    expect(safeNext("/login?next=/x", ORIGIN)).toBe("/");
  });

  it("decodes the query the way the login page reads it", () => {
    const params = new URLSearchParams("next=/%5C127.0.0.1:9999/phish.html");
    expect(params.get("next")).toBe("/\\127.0.0.1:9999/phish.html");
    expect(safeNext(params.get("next"), ORIGIN)).toBe("/");
    const tab = new URLSearchParams("next=/%09/127.0.0.1:9999/phish.html");
    expect(safeNext(tab.get("next"), ORIGIN)).toBe("/");
  });
});
