/**
 * The live dashboard: its state and what each key does as pure functions (./model.ts), one refresh
 * gathered from a metrics source (./snapshot.ts), the layout for a terminal's size as styled lines
 * (./screen.ts), and the ink view that renders those lines and nothing else (./view.tsx). The refresh
 * loop, the keys and the terminal live in cli/viz/dashboard.tsx.
 */
export * from "./model.js";
export * from "./screen.js";
export * from "./snapshot.js";
export { Dashboard, Lines } from "./view.js";
