/**
 * A small validator for the subset of OpenAPI v3 that the CRDs in manifests/ use, so that unit tests
 * can check examples against a CRD's schema without an API server: types, properties and required,
 * items, the size and range keywords, pattern, int-or-string with anyOf, and preserve-unknown-fields.
 * Unknown fields are errors, as with the API server's strict field validation (kubectl's default).
 * CEL rules (x-kubernetes-validations) are not evaluated here; the cluster tier checks them against
 * the real API server. Errors name the field as the API server does: `spec.routes[0].name`.
 */

export interface Schema {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  minItems?: number;
  minProperties?: number;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  pattern?: string;
  anyOf?: Schema[];
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-validations"?: { rule: string; message?: string }[];
}

const KEYWORDS = new Set([
  "type",
  "description",
  "properties",
  "required",
  "items",
  "minItems",
  "minProperties",
  "minimum",
  "maximum",
  "minLength",
  "pattern",
  "anyOf",
  "x-kubernetes-int-or-string",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-validations",
]);

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function hasType(v: unknown, type: Schema["type"]): boolean {
  const t = typeOf(v);
  return t === type || (type === "number" && t === "integer");
}

const at = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** Every error of `value` against `schema`, each `<field path>: <what>`; empty when it is valid. */
export function validate(schema: Schema, value: unknown, path = ""): string[] {
  const errors: string[] = [];
  const fail = (what: string) => errors.push(`${path || "<root>"}: ${what}`);
  if (schema["x-kubernetes-int-or-string"]) {
    if (typeOf(value) !== "integer" && typeof value !== "string")
      return [`${path}: expected an integer or a string, got ${typeOf(value)}`];
  } else if (schema.type && !hasType(value, schema.type)) {
    return [`${path || "<root>"}: expected ${schema.type}, got ${typeOf(value)}`];
  }
  if (schema.anyOf && !schema.anyOf.some((s) => validate(s, value, path).length === 0))
    fail(`matches none of: ${schema.anyOf.map((s) => validate(s, value, path).join(", ")).join("; ")}`);
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) fail(`below the minimum ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) fail(`above the maximum ${schema.maximum}`);
  }
  if (typeof value === "string") {
    if (schema.minLength !== undefined && value.length < schema.minLength) fail("too short");
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value))
      fail(`${JSON.stringify(value)} does not match ${schema.pattern}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems)
      fail(`expected at least ${schema.minItems} items`);
    const items = schema.items;
    if (items) for (const [i, v] of value.entries()) errors.push(...validate(items, v, `${path}[${i}]`));
  } else if (typeOf(value) === "object") {
    const obj = value as Record<string, unknown>;
    if (schema.minProperties !== undefined && Object.keys(obj).length < schema.minProperties)
      fail(`expected at least ${schema.minProperties} fields`);
    for (const key of schema.required ?? [])
      if (obj[key] === undefined) errors.push(`${at(path, key)}: required`);
    for (const [key, v] of Object.entries(obj)) {
      const sub = schema.properties?.[key];
      if (sub) errors.push(...validate(sub, v, at(path, key)));
      else if (!schema["x-kubernetes-preserve-unknown-fields"])
        errors.push(`${at(path, key)}: unknown field`);
    }
  }
  return errors;
}

/**
 * What keeps a schema from being structural, as the API server would see it (the subset used here):
 * a node without a type, properties on a non-object, items on a non-array, types inside anyOf
 * (but for int-or-string's bare form), a keyword this validator does not know (so it would silently
 * not check it).
 */
export function structuralProblems(schema: Schema, path = "<root>"): string[] {
  const problems: string[] = [];
  for (const k of Object.keys(schema)) if (!KEYWORDS.has(k)) problems.push(`${path}: unknown keyword ${k}`);
  if (!schema.type && !schema["x-kubernetes-int-or-string"]) problems.push(`${path}: no type`);
  if (schema.properties && schema.type !== "object") problems.push(`${path}: properties on a ${schema.type}`);
  if (schema.type === "array" && !schema.items) problems.push(`${path}: an array without items`);
  if (schema.items && schema.type !== "array") problems.push(`${path}: items on a ${schema.type}`);
  if (schema.anyOf) {
    // Inside anyOf only value checks may appear; the one exception is int-or-string's bare
    // `anyOf: [{type: integer}, {type: string}]`, with nothing else in either branch.
    const bare =
      schema["x-kubernetes-int-or-string"] &&
      JSON.stringify(schema.anyOf) === JSON.stringify([{ type: "integer" }, { type: "string" }]);
    if (!bare)
      for (const [i, s] of schema.anyOf.entries())
        for (const k of ["type", "description", "properties", "items"] as const)
          if (s[k] !== undefined) problems.push(`${path}.anyOf[${i}]: ${k} is not allowed here`);
  }
  for (const [k, s] of Object.entries(schema.properties ?? {}))
    problems.push(...structuralProblems(s, `${path}.${k}`));
  if (schema.items) problems.push(...structuralProblems(schema.items, `${path}[]`));
  return problems;
}

/** The field paths a schema types (array items as `[]`), stopping where unknown fields are kept. */
export function schemaFields(schema: Schema, path = ""): string[] {
  const out: string[] = [];
  for (const [k, s] of Object.entries(schema.properties ?? {})) {
    const p = at(path, k);
    out.push(p, ...schemaFields(s, p));
  }
  if (schema.items) out.push(...schemaFields(schema.items, `${path}[]`));
  return out;
}

/** The field paths a value uses, written like {@link schemaFields}'s. */
export function valueFields(value: unknown, path = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => valueFields(v, `${path}[]`));
  if (typeOf(value) !== "object") return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => [
    at(path, k),
    ...valueFields(v, at(path, k)),
  ]);
}
