/**
 * A task that never runs twice at once: a call while a run is under way asks for exactly one more run
 * after it (which sees whatever changed meanwhile), and every caller gets the promise of the run that
 * covers its call. Reloads driven by file-watch events and a poll timer use it, so a burst of events
 * costs one or two reads, never overlapping ones.
 */
export function coalesced(task: () => Promise<void>, stopped: () => boolean): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await task();
        } while (again && !stopped());
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
}
