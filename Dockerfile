# gpuvm-controller image. Multi-stage: the build stage compiles TypeScript; the runtime stage has only
# production dependencies, runs as a non-root numeric user and needs no shell or writable root filesystem.
# (This repository's CI has no container engine; the image is built by release tooling.)
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/clean-dist.ts scripts/copy-assets.ts scripts/
COPY src/ src/
RUN npm run build

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY crds/ ./crds/
COPY package.json ./
USER 65532:65532
ENV NODE_ENV=production
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/cli.js"]
CMD ["run"]
