/**
 * How a controller waits to be stopped: the first SIGTERM or SIGINT after it started listening, even
 * one that comes while it is still starting up, so a stop during start-up is never lost.
 */
export interface StopSignal {
  /** Resolves with the signal's name. */
  readonly stopped: Promise<string>;
  /** Stops listening (in the command's `finally`). */
  dispose(): void;
}

export function listenForStop(): StopSignal {
  let onSignal: (signal: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => {
    onSignal = resolve;
  });
  const handler = (signal: NodeJS.Signals) => onSignal(signal);
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
  return {
    stopped,
    dispose() {
      process.off("SIGTERM", handler);
      process.off("SIGINT", handler);
    },
  };
}
