import picomatch from 'picomatch';

/**
 * Which of the host's environment variables reach sandboxes (config `sandbox.env`): a name that
 * matches a `pass` glob reaches them; otherwise one that matches a `deny` glob, or one of
 * {@link SECRET_NAME_GLOBS}, is withheld; every other name reaches them. Globs match whole
 * names, case-insensitively (`*TOKEN*` matches `github_token`).
 */
export interface EnvPolicy {
  pass: readonly string[];
  deny: readonly string[];
}

/**
 * seedfork's own credentials: withheld from every sandbox whatever `sandbox.env.pass` says. A
 * test that could read them could write to the history or the queue as this project
 * (SEEDFORK_TOKEN), or reach the history's database (SEEDFORK_DB, a URL with its password).
 */
export const SEEDFORK_CREDENTIALS: readonly string[] = ['SEEDFORK_TOKEN', 'SEEDFORK_DB'];

/**
 * Names that look like secrets, withheld unless `sandbox.env.pass` lets them through: tokens,
 * secrets, passwords, keys and the cloud providers' credential variables (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, GOOGLE_APPLICATION_CREDENTIALS, AZURE_CLIENT_SECRET,
 * ...), and the SSH and GPG agents' sockets, which hand out the user's keys. The same kind of
 * list as GitHub Actions' and GitLab's masked-variable conventions and the `*_KEY`/`*TOKEN*`
 * patterns of secret scanners.
 */
export const SECRET_NAME_GLOBS: readonly string[] = [
  '*TOKEN*',
  '*SECRET*',
  '*PASSWORD*',
  '*PASSWD*',
  '*PASSPHRASE*',
  '*CREDENTIAL*',
  '*_KEY',
  '*_KEY_ID',
  '*APIKEY*',
  '*API_KEY*',
  '*PRIVATE_KEY*',
  '*_AUTH',
  'SSH_AUTH_SOCK',
  'GPG_AGENT_INFO',
];

/** What the host's environment becomes in sandboxes. */
export interface FilteredEnv {
  /** The variables that reach sandboxes. */
  env: Record<string, string>;
  /** Names withheld, sorted. */
  withheld: string[];
}

/**
 * The host variables that may reach sandboxes under `policy` (see {@link EnvPolicy}), and the
 * names withheld. Values are never looked at.
 */
export function filterHostEnv(
  host: Record<string, string | undefined>,
  policy: EnvPolicy = { pass: [], deny: [] },
): FilteredEnv {
  const options = { nocase: true, dot: true };
  const passes = policy.pass.length > 0 ? picomatch([...policy.pass], options) : () => false;
  const denies = picomatch([...SECRET_NAME_GLOBS, ...policy.deny], options);
  const credentials = new Set(SEEDFORK_CREDENTIALS);
  const env: Record<string, string> = {};
  const withheld: string[] = [];
  for (const [name, value] of Object.entries(host)) {
    if (value === undefined) continue;
    const allowed = !credentials.has(name) && (passes(name) || !denies(name));
    if (allowed) env[name] = value;
    else withheld.push(name);
  }
  return { env, withheld: withheld.sort() };
}

/**
 * The line a run prints once about what it withheld, or undefined when nothing was: the
 * credentials first (never passed), then the secret-looking names with how to pass them.
 */
export function withheldNotice(withheld: readonly string[]): string | undefined {
  if (withheld.length === 0) return undefined;
  const credentials = withheld.filter((n) => SEEDFORK_CREDENTIALS.includes(n));
  const others = withheld.filter((n) => !SEEDFORK_CREDENTIALS.includes(n));
  const parts: string[] = [];
  if (others.length > 0)
    parts.push(
      `${others.join(', ')} (their names look like secrets: list those the tests need in sandbox.env.pass)`,
    );
  if (credentials.length > 0) parts.push(`${credentials.join(', ')} (seedfork's own, never passed)`);
  return `withheld from the tests: ${parts.join('; ')}`;
}
