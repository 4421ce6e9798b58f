/**
 * Kubernetes access, one home for every part of Trellis that talks to an API server (the controllers,
 * and install, check, the injector, and viz as it comes): loading the client configuration
 * (client.ts), the list/watch of each kind the mesh follows (resources.ts), a plain JSON client for reading many kinds by path (rest.ts), informers that restart
 * with backoff when a watch or list fails (informer.ts), and the TokenReview call (token-review.ts).
 * It says nothing about what the objects mean: translating them into a controller's model, or
 * deciding what a TokenReview's answer proves, stays with the controller that asks.
 */
export { apiErrorMessage, loadKubeConfig } from "./client.js";
export {
  INFORMER_BACKOFF_INITIAL_MS,
  INFORMER_BACKOFF_MAX_MS,
  RestartingInformer,
  type RestartingInformerOptions,
} from "./informer.js";
export {
  configMapsListWatch,
  type ListWatch,
  listWatches,
  namespacesListWatch,
  type WatchedKind,
} from "./resources.js";
export { REST_TIMEOUT_MS, RestClient, type RestResult } from "./rest.js";
export { TOKEN_REVIEW_TIMEOUT_MS, TokenReviewer, type TokenReviewResult } from "./token-review.js";
