// The import rules of Trellis's layout, checked by dependency-cruiser through test/structure/check.ts
// (`npm run check:structure` and the "structure" step of `npm test`, which also checks file sizes). Each
// rule's comment says the rule in words, then after "To fix:" what to do; the check prints the latter.
//
// Type-only imports, dynamic imports and re-exports count everywhere: `import type` is still a dependency
// of the design, and a cycle through types is still a cycle a reader has to untangle.
//
// Allowed on purpose: cli/ and control/main.ts may import anything but test/ (they wire the parts);
// test/ may import anything; control/k8s/ and control/local/ may use control/common/ (shared
// interfaces such as the token verifier live there). A new folder in proxy/ gets a layer by being added
// to PROXY_LAYERS; until then only the rules that name all of proxy/ apply to it.

/** The source folders; test/ is not checked (it may import anything) but may never be imported. */
const SOURCE = "^(lib|proxy|control|cli|viz)/";

/** The folders under control/ that controllers share; every other folder under control/ is a controller. */
const CONTROL_SHARED = "api|common|k8s|local";

/**
 * The proxy's layers, low to high. A file may import its own layer or lower ones, never a higher one.
 * A single-file piece may grow into a folder of the same name, hence `(\.ts$|/)`.
 */
const PROXY_LAYERS = [
  { what: "config, errors, node-flags", path: "^proxy/(config|errors|node-flags)(\\.ts$|/)" },
  { what: "transport", path: "^proxy/transport/" },
  { what: "tls, metrics, balance, profiles", path: "^proxy/(tls|metrics|balance|profiles)/" },
  { what: "http", path: "^proxy/http/" },
  { what: "discovery", path: "^proxy/discovery/" },
  { what: "outbound, inbound", path: "^proxy/(outbound|inbound)/" },
  { what: "admin", path: "^proxy/admin/" },
  { what: "main.ts", path: "^proxy/main\\.ts$" },
];

/** One rule per layer but the top one: from layer N, not to any layer above N. */
const layerRules = PROXY_LAYERS.slice(0, -1).map((layer, i) => {
  const above = PROXY_LAYERS.slice(i + 1);
  return {
    name: `proxy-layer-${i + 1}-not-above`,
    severity: "error",
    comment:
      `proxy layer ${i + 1} (${layer.what}) imports only its own layer or lower ones, never ` +
      `${above.map((l) => l.what).join("; ")}. To fix: move the shared piece down to this layer ` +
      "or lower, or pass it in from above (a callback or an interface this layer owns).",
    from: { path: layer.path },
    to: { path: above.map((l) => l.path) },
  };
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment:
        "No two source files import each other, directly or through others, type-only imports included. " +
        "To fix: move what both need into a third file both import, or invert one edge with a callback " +
        "or an interface.",
      from: { path: SOURCE },
      to: { circular: true },
    },
    {
      name: "not-to-test",
      severity: "error",
      comment:
        "Source files never import test/. To fix: move what the source needs out of test/ into the " +
        "source folder that owns it.",
      from: { path: SOURCE },
      to: { path: "^test/" },
    },
    {
      name: "lib-only-builtins-npm-api",
      severity: "error",
      comment:
        "lib/ imports only node builtins, npm packages and control/api/ (the contracts). To fix: move " +
        "the needed code into lib/, or have the caller pass it in.",
      from: { path: "^lib/" },
      to: { path: "^(proxy|control|cli|viz)/", pathNot: "^control/api/" },
    },
    {
      name: "api-imports-nothing-ours",
      severity: "error",
      comment:
        "control/api/ (protos and generated code) imports nothing of ours outside control/api/. To fix: " +
        "put the shared code in lib/ and import the contracts from there, not the other way round.",
      from: { path: "^control/api/" },
      to: { path: "^(lib|proxy|control|cli|viz)/", pathNot: "^control/api/" },
    },
    {
      name: "proxy-not-to-control-cli-viz",
      severity: "error",
      comment:
        "proxy/ imports nothing of control/ but control/api/, and nothing of cli/ or viz/. To fix: if " +
        "both planes need it, move it to lib/; if it is a contract, it belongs in control/api/.",
      from: { path: "^proxy/" },
      to: { path: "^(control|cli|viz)/", pathNot: "^control/api/" },
    },
    {
      name: "control-not-to-proxy-cli-viz",
      severity: "error",
      comment:
        "control/ never imports proxy/, cli/ or viz/. To fix: move what both planes need to lib/ " +
        "(or to control/api/ if it is a contract).",
      from: { path: "^control/" },
      to: { path: "^(proxy|cli|viz)/" },
    },
    {
      name: "controller-not-to-other-controller",
      severity: "error",
      comment:
        `One controller (any folder under control/ but ${CONTROL_SHARED.replaceAll("|", ", ")}) never ` +
        "imports another controller's folder. To fix: move what both use to control/common/ (or " +
        "control/k8s/ for Kubernetes access, lib/ if the proxy needs it too); only control/main.ts wires " +
        "controllers together.",
      from: { path: "^control/([^/]+)/", pathNot: `^control/(${CONTROL_SHARED})/` },
      to: { path: "^control/[^/]+/", pathNot: `^control/(${CONTROL_SHARED}|$1)/` },
    },
    {
      name: "control-shared-not-to-controller",
      severity: "error",
      comment:
        "control/common/, control/k8s/ and control/local/ never import a controller's folder: controllers " +
        "build on them, not the reverse. To fix: move the needed piece into the shared folder, or pass " +
        "it in from the controller.",
      from: { path: "^control/(common|k8s|local)/" },
      to: { path: "^control/[^/]+/", pathNot: `^control/(${CONTROL_SHARED})/` },
    },
    {
      name: "control-common-not-to-k8s-local",
      severity: "error",
      comment:
        "control/common/ (what every controller shares) never imports control/k8s/ or control/local/, " +
        "which build on it. To fix: move the needed piece into control/common/.",
      from: { path: "^control/common/" },
      to: { path: "^control/(k8s|local)/" },
    },
    {
      name: "viz-only-lib-and-api",
      severity: "error",
      comment:
        "viz/ imports only lib/, control/api/ and its own files: never proxy/, control/ internals or " +
        "cli/. To fix: move what viz needs to lib/ (or to control/api/ if it is a contract).",
      from: { path: "^viz/" },
      to: { path: "^(proxy|control|cli)/", pathNot: "^control/api/" },
    },
    ...layerRules,
    {
      name: "proxy-generic-not-to-stages",
      severity: "error",
      comment:
        "Generic proxy pieces (everything in proxy/ but outbound/, inbound/ and main.ts) never import " +
        "proxy/outbound/ or proxy/inbound/. To fix: move the needed piece into the generic folder it " +
        "belongs to, or have the stage pass it in.",
      from: { path: "^proxy/", pathNot: "^proxy/((outbound|inbound)/|main\\.ts$)" },
      to: { path: "^proxy/(outbound|inbound)/" },
    },
    {
      name: "proxy-outbound-inbound-apart",
      severity: "error",
      comment:
        "proxy/outbound/ and proxy/inbound/ never import each other. To fix: move what both sides use " +
        "into a generic folder below them (http/, transport/, metrics/ ...).",
      from: { path: "^proxy/(outbound|inbound)/" },
      to: { path: "^proxy/(outbound|inbound)/", pathNot: "^proxy/$1/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|dist)/" },
    // Keep type-only imports as dependencies, so rules and the cycle check see them.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
    skipAnalysisNotInRules: true,
  },
};
