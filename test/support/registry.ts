import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';

/** A package this registry serves: its manifest (package.json) and its tarball. */
export interface ServedPackage {
  manifest: { name: string; version: string } & Record<string, unknown>;
  tarball: string;
}

/**
 * An npm registry on 127.0.0.1 that serves `packages` and answers 404 for every other name: a
 * stand-in for publishing, so that npm itself resolves, checks (`os`, `cpu`, `libc`, integrity)
 * and installs them. Point one scope at it in a project's .npmrc (`@scope:registry=<url>`);
 * everything else still comes from the real registry. Documents follow npm's registry API
 * (github.com/npm/registry, docs/responses/package-metadata.md): a packument with `versions`,
 * `dist-tags` and each version's `dist.tarball`, `dist.integrity` (SRI sha512), `dist.shasum`.
 */
export async function startRegistry(packages: ServedPackage[]): Promise<{ url: string; server: Server }> {
  const tarballs = new Map<string, Buffer>();
  let url = '';
  const packument = (name: string) => {
    const served = packages.filter((p) => p.manifest.name === name);
    if (!served.length) return undefined;
    const versions: Record<string, unknown> = {};
    for (const { manifest, tarball } of served) {
      const bytes = readFileSync(tarball);
      const file = basename(tarball);
      tarballs.set(file, bytes);
      versions[manifest.version] = {
        ...manifest,
        _id: `${name}@${manifest.version}`,
        dist: {
          tarball: `${url}/-/${file}`,
          integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
          shasum: createHash('sha1').update(bytes).digest('hex'),
        },
      };
    }
    return { name, 'dist-tags': { latest: served.at(-1)!.manifest.version }, versions };
  };
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const tarball = path.startsWith('/-/') ? tarballs.get(path.slice(3)) : undefined;
    const doc = tarball ? undefined : packument(path.slice(1));
    if (tarball) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(tarball);
    } else if (doc) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found"}');
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, server };
}
