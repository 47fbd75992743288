/** A refusal that concerns one input of a console form: the API puts `field` in the tRPC error's data. */
export class FieldError extends Error {
  constructor(
    message: string,
    readonly field: string,
    readonly code: "BAD_REQUEST" | "CONFLICT" | "NOT_FOUND" | "FORBIDDEN" = "BAD_REQUEST",
    /** The engine's reason when the engine refused (e.g. "overcommit": the form offers the confirmation). */
    readonly engineCode?: string,
  ) {
    super(message);
    this.name = "FieldError";
  }
}
