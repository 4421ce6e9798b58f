/**
 * trellis-init's error catalogue. Codes are stable: they start the one line trellis-init prints on
 * stderr before it exits 1, so an operator reading the init container's log can search for them. Never
 * reuse a code for another meaning; retire it instead. Bad flags are usage errors (exit 2) named by
 * the flag, not catalogued here.
 */
import { type CatalogueEntry, catalogue } from "../../lib/errors.js";

export const INIT_ERRORS = {
  /** Neither backend's iptables tools are installed or work (the Trellis image ships both). */
  TRELLIS_E_INIT_NO_IPTABLES: { summary: "no usable iptables" },
  /** The forced backend's tools (`--iptables-mode`, or ip6tables with `--ipv6=on`) are not installed. */
  TRELLIS_E_INIT_TOOL_MISSING: { summary: "an iptables tool is not installed" },
  /** `*-save -t nat` failed, so the current rules could not be read. */
  TRELLIS_E_INIT_SAVE_FAILED: { summary: "the nat table could not be read" },
  /** `*-restore --noflush` refused the rules; nothing of that input was applied (it is atomic). */
  TRELLIS_E_INIT_RESTORE_FAILED: { summary: "the rules could not be applied" },
  /** The rules were applied, but the nat table read back does not hold exactly one copy of them. */
  TRELLIS_E_INIT_VERIFY_FAILED: { summary: "the rules read back differ from those applied" },
} as const satisfies Record<string, CatalogueEntry>;

export type InitErrorCode = keyof typeof INIT_ERRORS;

const CATALOGUE = catalogue(INIT_ERRORS);

/** A failure of trellis-init at run time (exit 1), with its stable code. */
export class InitError extends Error {
  constructor(
    readonly code: InitErrorCode,
    reason: string,
  ) {
    super(CATALOGUE.describe(code, reason));
    this.name = "InitError";
  }
}
