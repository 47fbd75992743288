/** SavedNote (components/ui): "Saved." as a status beside a form's Save button, only once saved. */
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { SavedNote } from "@/components/ui";

describe("SavedNote", () => {
  it("says Saved. as a status once saved, and nothing before", () => {
    expect(renderToStaticMarkup(createElement(SavedNote, { show: true }))).toBe('<span role="status" class="text-sm text-emerald-700 dark:text-emerald-400">Saved.</span>');
    expect(renderToStaticMarkup(createElement(SavedNote, { show: false }))).toBe("");
  });
});
