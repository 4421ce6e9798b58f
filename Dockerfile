# syntax=docker/dockerfile:1
# The Trellis image: trellis-proxy, trellis-controller and meshctl (package.json "bin") on Node 24 LTS,
# Debian 12 slim. Paths, commands and users follow cli/install/image.ts, the one place that names them
# (test/cli/install/image.test.ts checks this file against it). Build: docker build -t trellis .
ARG NODE_IMAGE=node:24-bookworm-slim
# The build stage compiles the proxy's native addon (proxy/native/, SO_ORIGINAL_DST) and so needs a C
# compiler: the full Debian image of the same Node has one; only dist/ leaves it.
ARG NODE_BUILD_IMAGE=node:24-bookworm

FROM ${NODE_BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: "prepare" builds, and the sources are not here yet.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY lib lib
COPY control control
COPY proxy proxy
COPY cli cli
COPY viz viz
# A build without the addon fails here instead of shipping a proxy that cannot read original destinations.
ENV TRELLIS_NATIVE_REQUIRED=1
RUN npm run --silent build && test -f dist/proxy/native/original_dst.node

FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# trellis-init (`trellis-controller init`, the injected init container) drives iptables. Debian's package
# brings both backends, iptables-nft and iptables-legacy, and trellis-init uses the one the pod's network
# namespace holds its rules in.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/trellis
COPY --from=deps /src/node_modules node_modules
COPY --from=build /src/dist dist
# meshctl install reads the CRDs, namespace and RBAC from here.
COPY manifests manifests
# Each executable runs through its shebang, so trellis-proxy starts node with the proxy's V8 flags
# (proxy/node-flags.ts); `env -S` in those shebangs needs coreutils 8.30 or later, as Debian 12 has.
RUN ln -s /opt/trellis/dist/cli/main.js /usr/local/bin/meshctl \
 && ln -s /opt/trellis/dist/proxy/main.js /usr/local/bin/trellis-proxy \
 && ln -s /opt/trellis/dist/control/main.js /usr/local/bin/trellis-controller
# The proxy's UID (DESIGN.md): the injector's iptables rules let its traffic through. The controllers'
# pods set their own (2103) in the manifests meshctl install prints.
USER 2102:2102
ENTRYPOINT ["trellis-proxy"]
