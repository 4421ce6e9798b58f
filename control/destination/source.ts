/**
 * Where the destination service's knowledge comes from. Two implementations sit behind this interface:
 * the local directory of YAML files (local-source.ts) and, later, Kubernetes informers. The service
 * never knows which it has: it reads the current snapshot and is told of every new one.
 */
import { type ClusterState, EMPTY_STATE } from "./model.js";

export interface Source {
  /** The latest snapshot; loaded before the source is handed to the service. */
  current(): ClusterState;
  /** Called with every new snapshot, after current() returns it. Returns the unsubscribe function. */
  onChange(listener: (state: ClusterState) => void): () => void;
  /** Stops watching; no listener is called afterwards. */
  stop(): void;
}

/** A source whose snapshot is set by hand: the base of real sources, and a test double. */
export class MemorySource implements Source {
  private state: ClusterState;
  private readonly listeners = new Set<(state: ClusterState) => void>();
  private stopped = false;

  constructor(initial: ClusterState = EMPTY_STATE) {
    this.state = initial;
  }

  current(): ClusterState {
    return this.state;
  }

  onChange(listener: (state: ClusterState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Publishes a new snapshot to every listener. */
  set(state: ClusterState): void {
    if (this.stopped) return;
    this.state = state;
    for (const listener of [...this.listeners]) listener(state);
  }

  stop(): void {
    this.stopped = true;
    this.listeners.clear();
  }
}
