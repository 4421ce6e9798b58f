import assert from "node:assert/strict";
import { test } from "node:test";
import { edgeRows } from "../../viz/edges.js";
import { renderEdges } from "../../viz/render.js";

const id = (sa: string) => `spiffe://cluster.local/ns/demo/sa/${sa}`;

test("edges: mTLS hops with both identities, a hop to an unmeshed destination and an unmeshed client with why", () => {
  const rows = edgeRows(
    {
      outbound: [
        {
          labels: {
            namespace: "demo",
            deployment: "web",
            dst_namespace: "demo",
            dst_deployment: "books",
            tls: "true",
            server_id: id("books"),
          },
          value: 10,
        },
        {
          labels: {
            namespace: "demo",
            deployment: "web",
            dst_namespace: "demo",
            dst_service: "legacy",
            tls: "no_identity",
            no_tls_reason: "not_provided_by_service_discovery",
          },
          value: 3,
        },
        { labels: { namespace: "demo", deployment: "web", dst_deployment: "gone", tls: "true" }, value: 0 },
      ],
      inbound: [
        {
          labels: { namespace: "demo", deployment: "books", tls: "true", client_id: id("traffic") },
          value: 4,
        },
        { labels: { namespace: "demo", deployment: "books", tls: "true", client_id: id("web") }, value: 10 },
        {
          labels: {
            namespace: "demo",
            deployment: "books",
            tls: "no_identity",
            no_tls_reason: "not_provided_by_remote",
          },
          value: 1,
        },
      ],
    },
    "deployment",
  );
  assert.equal(
    renderEdges(rows, "wide"),
    [
      "SRC          DST      SRC_NS   DST_NS   CLIENT_ID                               SERVER_ID                                 SECURED",
      "(unmeshed)   books    -        demo     -                                       -                                         × no identity: an unmeshed client",
      "web          books    demo     demo     spiffe://cluster.local/ns/demo/sa/web   spiffe://cluster.local/ns/demo/sa/books   √",
      "web          legacy   demo     demo     -                                       -                                         × no identity: the destination is not meshed",
    ].join("\n"),
  );
});
