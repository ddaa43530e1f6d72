// Module customization hooks (node:module register) that append the URL of every module
// resolved to the file IMPORT_LOG names: what a command loads, for test/cli-startup.test.ts.
import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.IMPORT_LOG, `${resolved.url}\n`);
  return resolved;
}
