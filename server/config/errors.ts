/** A saveconfig.json (or an import request) Portico refuses, with every problem found, each by its path in the file. */
export interface ConfigIssue {
  /** e.g. `targets[0].tpgs[0].luns[1].storage_object`. */
  path: string;
  message: string;
}

export class ConfigImportError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(
      issues.length === 1
        ? `configuration refused: ${issues[0].path ? `${issues[0].path}: ` : ""}${issues[0].message}`
        : `configuration refused (${issues.length} problems):\n${issues.map((i) => `  ${i.path ? `${i.path}: ` : ""}${i.message}`).join("\n")}`,
    );
    this.name = "ConfigImportError";
  }
}
