/**
 * `meshctl install` with its defaults, as tests need it: its flags, the config it records, and the
 * injector's config from that with the trust anchors of the install fixtures (what the injector,
 * trellis-init and inject tests render pods from).
 */
import { readFileSync } from "node:fs";
import type { InstallFlags, MeshConfig } from "../../cli/install/index.js";
import { FLAG_DEFAULTS, meshConfig, resolveValues } from "../../cli/install/index.js";
import { type InjectorConfig, injectorConfig } from "../../control/injector/index.js";

/** The PEM trust anchors of test/fixtures/install (the ones given to install there). */
export const FIXTURE_ANCHORS = readFileSync(new URL("../fixtures/install/ca.crt", import.meta.url), "utf8");

/** install's flags at their defaults (no CRDs, no HA, the issuer rendered, YAML), `extra` over them. */
export function installFlags(extra: Partial<InstallFlags> = {}): InstallFlags {
  return {
    ...FLAG_DEFAULTS,
    crds: false,
    ha: false,
    identityExternalIssuer: false,
    output: "yaml",
    ...extra,
  };
}

/** install's defaults as the `trellis-config` ConfigMap holds them. */
export function defaultMeshConfig(extra: Partial<InstallFlags> = {}): MeshConfig {
  return meshConfig(resolveValues(installFlags(extra)));
}

/** The injector's config from install's defaults and `anchors` (the fixtures' by default). */
export function defaultInjectorConfig(anchors = FIXTURE_ANCHORS): InjectorConfig {
  return injectorConfig(defaultMeshConfig(), anchors);
}
