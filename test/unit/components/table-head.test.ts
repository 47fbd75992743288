/**
 * TableHead (components/ui): a DataTable's header row, one <th> a column in the kit's header
 * style; numeric columns align right, the actions column is named for screen readers only.
 */
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { actionsColumn, TableHead, th } from "@/components/ui";

describe("TableHead", () => {
  it("renders each column as a header cell, in order", () => {
    const html = renderToStaticMarkup(createElement("table", null, createElement(TableHead, { columns: ["Name", { label: "IOPS", numeric: true }, actionsColumn] })));
    expect(html).toBe(
      "<table><thead><tr>" +
        `<th class="${th}">Name</th>` +
        `<th class="${th} text-right">IOPS</th>` +
        `<th class="${th}"><span class="sr-only">Actions</span></th>` +
        "</tr></thead></table>",
    );
  });
});
