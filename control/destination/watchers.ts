/**
 * Watchers: one topic per distinct subscription (a target for Get; a target and caller namespace for
 * GetProfile), shared by every stream that asks for it. On each new snapshot a topic recomputes its
 * view once and hands the resulting messages to all its listeners, so 1,000 streams on one Service
 * cost one diff per change, not 1,000. A topic lives while it has listeners.
 */
import type { DestinationProfile, Update } from "../api/gen/trellis/destination/v1/destination.js";
import { diffEndpoints, type EndpointView, endpointView } from "./endpoints.js";
import type { ClusterState } from "./model.js";
import type { Target } from "./names.js";
import { profileView } from "./profiles.js";
import type { Source } from "./source.js";

interface Topic<M> {
  listeners: Set<(messages: M[]) => void>;
  /** What a joining listener gets first: the whole current state. */
  initial(): M[];
  /** Recomputes against a snapshot; returns the messages to send (none when nothing changed). */
  refresh(state: ClusterState): M[];
}

export interface WatchersOptions {
  clusterDomain: string;
  trustDomain: string;
}

export class Watchers {
  private readonly endpointTopics = new Map<string, Topic<Update>>();
  private readonly profileTopics = new Map<string, Topic<DestinationProfile>>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly source: Source,
    private readonly options: WatchersOptions,
  ) {
    this.unsubscribe = source.onChange((state) => {
      for (const topic of this.endpointTopics.values()) publish(topic, state);
      for (const topic of this.profileTopics.values()) publish(topic, state);
    });
  }

  /** Subscribes to a target's endpoints; the listener gets the current state at once. */
  endpoints(target: Target, listener: (updates: Update[]) => void): () => void {
    const id = JSON.stringify(target);
    let topic = this.endpointTopics.get(id);
    if (!topic) {
      const { trustDomain } = this.options;
      let view: EndpointView = endpointView(target, this.source.current(), trustDomain);
      topic = {
        listeners: new Set(),
        // From nothing: the whole set as one add, or no_endpoints when there is none.
        initial: () => diffEndpoints(undefined, view),
        refresh: (state) => {
          const next = endpointView(target, state, trustDomain);
          const updates = diffEndpoints(view, next);
          view = next;
          return updates;
        },
      };
      this.endpointTopics.set(id, topic);
    }
    return this.join(this.endpointTopics, id, topic, listener);
  }

  /** Subscribes to a target's profile as seen from a namespace; the listener gets it at once. */
  profile(
    target: Target,
    contextNamespace: string,
    listener: (profiles: DestinationProfile[]) => void,
  ): () => void {
    const id = JSON.stringify([target, contextNamespace]);
    let topic = this.profileTopics.get(id);
    if (!topic) {
      const { clusterDomain } = this.options;
      let current = profileView(target, contextNamespace, this.source.current(), clusterDomain);
      let json = JSON.stringify(current);
      topic = {
        listeners: new Set(),
        initial: () => [current],
        refresh: (state) => {
          const next = profileView(target, contextNamespace, state, clusterDomain);
          const nextJson = JSON.stringify(next);
          if (nextJson === json) return [];
          current = next;
          json = nextJson;
          return [next];
        },
      };
      this.profileTopics.set(id, topic);
    }
    return this.join(this.profileTopics, id, topic, listener);
  }

  /** The number of live topics, for metrics and tests. */
  topics(): { endpoints: number; profiles: number } {
    return { endpoints: this.endpointTopics.size, profiles: this.profileTopics.size };
  }

  stop(): void {
    this.unsubscribe();
    this.endpointTopics.clear();
    this.profileTopics.clear();
  }

  private join<M>(
    topics: Map<string, Topic<M>>,
    id: string,
    topic: Topic<M>,
    listener: (messages: M[]) => void,
  ): () => void {
    topic.listeners.add(listener);
    listener(topic.initial());
    return () => {
      topic.listeners.delete(listener);
      if (topic.listeners.size === 0 && topics.get(id) === topic) topics.delete(id);
    };
  }
}

function publish<M>(topic: Topic<M>, state: ClusterState): void {
  const messages = topic.refresh(state);
  if (messages.length === 0) return;
  for (const listener of [...topic.listeners]) listener(messages);
}
