/**
 * Where the destination service's knowledge comes from. Two implementations sit behind this interface:
 * the local directory of YAML files (local-source.ts) and Kubernetes informers (kubernetes-source.ts,
 * through control/k8s). The service never knows which it has: it reads the current snapshot and is
 * told of every new one.
 */
import { type ClusterState, EMPTY_STATE } from "./model.js";
import type { Problem } from "./resources.js";

export interface Source {
  /** The latest snapshot; loaded before the source is handed to the service. */
  current(): ClusterState;
  /** Called with every new snapshot, after current() returns it. Returns the unsubscribe function. */
  onChange(listener: (state: ClusterState) => void): () => void;
  /** Called once for each new refusal of a resource (the last good one of its name stays in force). */
  onRefusal(listener: (problem: Problem) => void): () => void;
  /** Stops watching; no listener is called afterwards. */
  stop(): void;
}

/** A source whose snapshot is set by hand: the base of real sources, and a test double. */
export class MemorySource implements Source {
  private state: ClusterState;
  private readonly listeners = new Set<(state: ClusterState) => void>();
  private readonly refusalListeners = new Set<(problem: Problem) => void>();
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

  onRefusal(listener: (problem: Problem) => void): () => void {
    this.refusalListeners.add(listener);
    return () => this.refusalListeners.delete(listener);
  }

  /** Tells refusal listeners of a new refusal. */
  refused(problem: Problem): void {
    if (this.stopped) return;
    for (const listener of [...this.refusalListeners]) listener(problem);
  }

  stop(): void {
    this.stopped = true;
    this.listeners.clear();
    this.refusalListeners.clear();
  }
}
