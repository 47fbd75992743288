/**
 * An error the engine reports to an admin: a configuration it refuses, with a
 * message fit to show next to the field it concerns.
 */
export class EngineError extends Error {
  constructor(
    message: string,
    /**
     * Machine-readable reason: "not_found", "exists", "invalid", "in_use", "io", or "overcommit"
     * (a sparse file larger than the free space: accepted only when the caller confirms over-commit).
     */
    readonly code: "not_found" | "exists" | "invalid" | "in_use" | "io" | "overcommit" = "invalid",
    /** The input field the error concerns, when there is one (e.g. "wwn", "dev", "port"). */
    readonly field?: string,
  ) {
    super(message);
    this.name = "EngineError";
  }
}
