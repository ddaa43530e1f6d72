/**
 * Apply `overrides` to `env`: a string sets the variable, `false` removes it.
 * @returns a new object; `env` is not changed.
 */
export function applyEnv(
  env: Record<string, string>,
  overrides: Record<string, string | false>,
): Record<string, string> {
  const out = { ...env };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === false) delete out[key];
    else out[key] = value;
  }
  return out;
}

/**
 * A service's environment as exported under `exports` (config `seed.services.<name>.exports`):
 * a variable mapped to a name is exported under that name instead, one mapped to `false` is
 * left out, the rest as they are.
 */
export function exportedEnv(
  env: Record<string, string>,
  exports: Record<string, string | false>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    const rename = exports[key];
    if (rename === false) continue;
    out[rename ?? key] = value;
  }
  return out;
}
