/** What every Trellis process's exit code means; only entry points call process.exit. */

/** Done, nothing failed (warnings allowed). */
export const EXIT_OK = 0;
/** Something failed at run time: a check, a file, a port, a peer. */
export const EXIT_FAILURE = 1;
/** The command line was wrong: an unknown flag, a bad value, a missing argument. */
export const EXIT_USAGE = 2;
