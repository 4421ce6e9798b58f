/**
 * Command-line flags every controller shares: listen addresses, durations, the trust domain and the
 * service's own SPIFFE ID. Each parser throws commander's InvalidArgumentError, which the entry point
 * turns into a usage error (exit 2) naming the flag.
 */
import { InvalidArgumentError, Option } from "commander";
import { type ListenAddress, parseHostPort } from "../../lib/address.js";
import { parseDuration } from "../../lib/duration.js";
import { isDnsLabel, isTrustDomain } from "../../lib/spiffe.js";

/** `host:port` or `[v6]:port`, port 0-65535 (0: any free port). */
export function parseListenAddress(value: string): ListenAddress {
  const address = parseHostPort(value);
  if (!address) throw new InvalidArgumentError("expected host:port, e.g. 0.0.0.0:8080 or [::]:8080");
  return address;
}

export function positiveDuration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0)
    throw new InvalidArgumentError("expected a duration above 0 such as 24h, 90s or 1h30m");
  return ms;
}

export function nonNegativeDuration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError("expected a duration such as 20s, 1m or 0s");
  return ms;
}

export function trustDomain(value: string): string {
  if (!isTrustDomain(value)) throw new InvalidArgumentError("expected a DNS name such as cluster.local");
  return value;
}

/**
 * `--identity-namespace` and `--identity-service-account`: the parts of a control-plane service's own
 * SPIFFE ID, `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`.
 */
export function ownIdentityOptions(serviceAccount: string): [Option, Option] {
  return [
    new Option("--identity-namespace <ns>", "namespace part of the service's own SPIFFE ID")
      .default("trellis")
      .argParser(dnsLabel),
    new Option("--identity-service-account <sa>", "service account part of the service's own SPIFFE ID")
      .default(serviceAccount)
      .argParser(dnsLabel),
  ];
}

export function dnsLabel(value: string): string {
  if (!isDnsLabel(value))
    throw new InvalidArgumentError("expected a DNS-1123 label (lowercase letters, digits, '-')");
  return value;
}
