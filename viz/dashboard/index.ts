/**
 * The live dashboard: its state as pure functions over refreshes (./model.ts) and the ink view that
 * renders that state and nothing else (./view.tsx). The refresh loop and keys live in cli/viz/.
 */
export * from "./model.js";
export { Dashboard } from "./view.js";
