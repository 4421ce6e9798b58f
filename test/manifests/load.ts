/**
 * The manifests in manifests/ and the example resources in test/manifests/fixtures/, read the way
 * kubectl reads them: every file, every YAML document, anchors resolved.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseAllDocuments } from "yaml";
import type { K8sObject } from "../../cli/install/manifests.js";
import { repoRoot } from "../support/process.js";

export const MANIFESTS_DIR = join(repoRoot, "manifests");
export const FIXTURES_DIR = join(repoRoot, "test/manifests/fixtures");

/** One YAML document of a file: a Kubernetes object as a plain value. */
export interface Doc {
  file: string;
  index: number;
  object: K8sObject;
}

export type { K8sObject };

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return yamlFiles(path);
      return /\.ya?ml$/.test(name) ? [path] : [];
    })
    .sort();
}

/** Every document of every YAML file under `dir`; throws naming the file on a YAML error or a non-object. */
export function loadDocs(dir: string): Doc[] {
  return yamlFiles(dir).flatMap((path) => {
    const file = relative(repoRoot, path);
    const docs = parseAllDocuments(readFileSync(path, "utf8"));
    if (!Array.isArray(docs)) throw new Error(`${file}: not a YAML stream`);
    return docs.flatMap((doc, i) => {
      const err = doc.errors[0];
      if (err) throw new Error(`${file} (document ${i + 1}): ${err.message}`);
      const value: unknown = doc.toJS({ maxAliasCount: 1000 });
      if (value === null || value === undefined) return [];
      if (typeof value !== "object" || Array.isArray(value))
        throw new Error(`${file} (document ${i + 1}): expected a mapping, got ${JSON.stringify(value)}`);
      return [{ file, index: i + 1, object: value as K8sObject }];
    });
  });
}

/**
 * The manifests in the order they can be created: the namespace first (namespaced objects need it),
 * then CRDs, then the rest.
 */
export function loadManifests(): Doc[] {
  const rank = (d: Doc) =>
    d.object.kind === "Namespace" ? 0 : d.object.kind === "CustomResourceDefinition" ? 1 : 2;
  return loadDocs(MANIFESTS_DIR).sort((a, b) => rank(a) - rank(b));
}

/** A fixture's expectation, from its annotations. */
export const REFUSED_FIELD = "test.trellis.dev/refused-field";

/** Fixtures the API server and the destination service both accept. */
export function validExamples(): Doc[] {
  return loadDocs(join(FIXTURES_DIR, "valid"));
}

/** Fixtures both refuse; each names the refused field in its {@link REFUSED_FIELD} annotation. */
export function invalidExamples(): Doc[] {
  return loadDocs(join(FIXTURES_DIR, "invalid"));
}

export function refusedField(doc: Doc): string {
  const field = doc.object.metadata.annotations?.[REFUSED_FIELD];
  if (!field) throw new Error(`${doc.file} (document ${doc.index}): no ${REFUSED_FIELD} annotation`);
  return field;
}
