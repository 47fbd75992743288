/**
 * QueryStatus (components/ui): what a card shows until its query has data: the loading state
 * (with the card's own label) while pending, then the error with "Try again" if the query failed.
 */
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { QueryStatus } from "@/components/ui";

const query = (over: { isPending: boolean; error: { message: string } | null }) => ({ ...over, refetch: () => undefined });

describe("QueryStatus", () => {
  it("while the query is pending: the loading state, with its label", () => {
    const html = renderToStaticMarkup(createElement(QueryStatus, { query: query({ isPending: true, error: null }), label: "Loading events…" }));
    expect(html).toContain('data-testid="loading-state"');
    expect(html).toContain("Loading events…");
    expect(html).not.toContain("error-state");
  });

  it("after it failed: the error state with the message and a retry button", () => {
    const html = renderToStaticMarkup(createElement(QueryStatus, { query: query({ isPending: false, error: { message: "no such target" } }) }));
    expect(html).toContain('data-testid="error-state"');
    expect(html).toContain("no such target");
    expect(html).toContain("Try again");
    expect(html).not.toContain("loading-state");
  });
});
