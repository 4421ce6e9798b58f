/**
 * A GET from the test process to a pod's address across the test bed's bridge, on a connection of
 * its own that closes with the answer, so no pooled connection to an address outlives the test bed
 * that routes it (the bridge and the pods' namespaces are deleted when it stops).
 */
import http from "node:http";

/** The body of a 200 answer to GET `url`; rejects on another status, an error, or after `timeoutMs`. */
export function podGet(url: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${url}: HTTP ${res.statusCode}`)),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}
