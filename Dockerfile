# syntax=docker/dockerfile:1
# The Gatehouse gateway image (what helm/gatehouse deploys). `docker build -t gatehouse:0.1.0 .`
#
#   build    npm ci + npm run typecheck. The TypeScript runs directly through Node's type stripping, so there is
#            nothing to compile: "building" means type-checking (tsc --noEmit, strict), and a type error fails it.
#   deps     production node_modules only (npm ci --omit=dev): no TypeScript, vitest or the `node` npm package.
#   policy   the WASM policy bundle, built by scripts/policy.sh with the pinned opa (the same command, entrypoint,
#            capabilities and content-hash revision as `npm run policy:build`).
#   runtime  node:24-bookworm-slim with gateway/, the bundle and the deps; uid 65532; fine with a read-only root
#            filesystem: the gateway writes only to its dataDir (the /var/lib/gatehouse volume) and /tmp.
#
# Run it with a config mounted at /etc/gatehouse/gatehouse.yaml whose dataDir is /var/lib/gatehouse (the chart
# renders one), e.g.:
#   docker run --read-only --tmpfs /tmp -v gatehouse-data:/var/lib/gatehouse \
#     -v ./gatehouse.yaml:/etc/gatehouse/gatehouse.yaml:ro -p 8080:8080 gatehouse:0.1.0

ARG NODE_IMAGE=node:24-bookworm-slim
# Keep in step with OPA_VERSION in scripts/setup.sh and scripts/policy.sh.
ARG OPA_IMAGE=openpolicyagent/opa:1.22.2-static

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# tsconfig.json type-checks gateway/, servers/, scripts/ and test/ together: the same check as `npm run typecheck`.
COPY tsconfig.json vitest.config.ts ./
COPY gateway/ gateway/
COPY servers/ servers/
COPY scripts/ scripts/
COPY test/ test/
RUN npm run typecheck \
 && find gateway -name '*.test.ts' -delete

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# The static opa image has no shell; its binary runs scripts/policy.sh in a Debian stage instead.
FROM ${OPA_IMAGE} AS opa

FROM ${NODE_IMAGE} AS policy
WORKDIR /app
COPY --from=opa /opa /usr/local/bin/opa
COPY scripts/policy.sh scripts/policy.sh
COPY policies/ policies/
RUN OPA=/usr/local/bin/opa bash scripts/policy.sh build

FROM ${NODE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="gatehouse" \
      org.opencontainers.image.description="An MCP gateway: one endpoint, many backend servers, per-agent identity, policy and audit." \
      org.opencontainers.image.licenses="Apache-2.0"
# HOME: nothing should write there, but if anything does it lands on the /tmp volume, not the read-only root.
ENV NODE_ENV=production \
    HOME=/tmp
WORKDIR /app
COPY --from=deps /app/node_modules node_modules/
COPY --from=build /app/package.json package.json
COPY --from=build /app/gateway gateway/
COPY --from=policy /app/policies/dist/bundle.tar.gz policies/dist/bundle.tar.gz
# The only writable places at run time: the dataDir volume (keys, audit segments) and /tmp.
RUN mkdir -p /var/lib/gatehouse /etc/gatehouse \
 && chown 65532:65532 /var/lib/gatehouse
VOLUME ["/var/lib/gatehouse"]
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "gateway/cli/main.ts"]
CMD ["serve", "--config", "/etc/gatehouse/gatehouse.yaml", "--host", "0.0.0.0", "--port", "8080"]
