/**
 * The action bar of an editor that collects changes before saving them together:
 * "Discard" (when offered and there is something to discard) and "Save N changes".
 */
import { Button } from "./index";

export function DraftActions({ changes, busy, onSave, onDiscard, testId }: { changes: number; busy: boolean; onSave: () => void; onDiscard?: () => void; testId?: string }) {
  return (
    <>
      {onDiscard && changes > 0 && <Button onClick={onDiscard}>Discard</Button>}
      <Button tone="primary" disabled={!changes} busy={busy} onClick={onSave} data-testid={testId}>
        Save {changes || ""} change{changes === 1 ? "" : "s"}
      </Button>
    </>
  );
}
