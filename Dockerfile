# syntax=docker/dockerfile:1
# One image for every callmap component, chosen by subcommand:
#   callmap mapper | sniffer | watch istio | watch kafka | report | list | ...
# The Helm chart in chart/ runs it with the right arguments and security context per component.
# Not built on the project's CI machines (no container engine there): see docs/chart.md.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# Toolchain for the native addons: better-sqlite3 (SQLite map, when no prebuilt binary fits) and
# the in-tree Node-API addons, always compiled here: @callmap/pcap (sniffer/native, callmap's own
# libpcap binding: live capture and pcap_stats; needs libpcap-dev) and @callmap/watchers-native.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ libpcap-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# the in-tree addons are file: dependencies, so npm ci needs their sources to build them
COPY sniffer/native ./sniffer/native
COPY watchers/native ./watchers/native
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
# libpcap runtime for the sniffer; nothing else beyond the Node base image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap0.8 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 callmap \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin callmap
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
# node_modules/@callmap/* are links to these package folders (with the compiled .node files)
COPY --from=build /app/sniffer/native ./sniffer/native
COPY --from=build /app/watchers/native ./watchers/native
COPY --from=build /app/dist ./dist
# Numeric so the kubelet can verify runAsNonRoot; the chart's sniffer overrides it with uid 0.
USER 10001:10001
ENTRYPOINT ["node", "/app/dist/mapper/cli/bin.js"]
CMD ["--help"]
