/**
 * The local mode's stand-ins for what a cluster provides: signed ServiceAccount tokens (tokens.ts)
 * minted and checked with a key the local mesh holds, where a cluster has projected tokens and
 * TokenReview.
 */
export {
  createLocalTokenKey,
  LOCAL_TOKEN_ISSUER,
  type LocalTokenKey,
  LocalTokenVerifier,
  type MintOptions,
  mintLocalToken,
} from "./tokens.js";
