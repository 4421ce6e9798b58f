/**
 * Loads the live dashboard (./dashboard.tsx, and with it ink) for `viz dashboard` and `meshctl demo`,
 * so that ink draws interactively on a terminal even when the environment says CI.
 */

/**
 * The variables is-in-ci reads. Ink reads them once, as it loads, and when one is set it draws nothing
 * until it exits (then only the last frame) and ignores resizes: right for a CI log, wrong for the
 * user watching a terminal whose shell happens to export CI.
 */
const CI_VARIABLES = ["CI", "CONTINUOUS_INTEGRATION"] as const;

/**
 * Loads ./dashboard.tsx (and with it ink). When stdout is a terminal, the CI variables are hidden while
 * ink loads, so it draws every frame there; they are put back at once for everything else (the demo's
 * processes, the tests). Nothing else in meshctl loads ink, which is why the dashboard is loaded here
 * and never imported statically.
 */
export async function loadDashboard(
  stdout: { isTTY?: boolean } = process.stdout,
): Promise<typeof import("./dashboard.js")> {
  const saved = CI_VARIABLES.map((name) => [name, process.env[name]] as const);
  if (stdout.isTTY) for (const name of CI_VARIABLES) delete process.env[name];
  try {
    return await import("./dashboard.js");
  } finally {
    for (const [name, value] of saved) if (value !== undefined) process.env[name] = value;
  }
}
