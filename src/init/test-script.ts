/** What a project's `test` script passes its runner: variables and Node's own flags. */
export interface ScriptSettings {
  /** Variables the script sets (`TZ=UTC jest`, `cross-env NODE_ENV=test …`), Node's flags
   * (`node --experimental-vm-modules node_modules/.bin/jest`) folded into NODE_OPTIONS. */
  env: Record<string, string>;
  /** Arguments the script gives the runner itself that a config cannot carry (`--config x`). */
  runnerArgs: string[];
  /** The script, as package.json has it. */
  script: string;
}

/** Split a command line into words, honouring single and double quotes (no expansion). */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote: string | undefined;
  let any = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      any = true;
    } else if (/\s/.test(ch)) {
      if (word || any) words.push(word);
      word = '';
      any = false;
    } else word += ch;
  }
  if (word || any) words.push(word);
  return words;
}

/** Flags Node takes that only make sense for the test process and are allowed in NODE_OPTIONS. */
const NODE_FLAG =
  /^--(experimental-[\w-]+|no-experimental-[\w-]+|import|require|loader|conditions|enable-source-maps|max-old-space-size|expose-gc|no-warnings|stack-trace-limit|unhandled-rejections|trace-warnings|disable-warning|no-deprecation|openssl-legacy-provider|dns-result-order|localstorage-file)(=.*)?$/;
/** Node flags that take their value as the next word. */
const NODE_FLAG_WITH_VALUE = new Set([
  '--import',
  '--require',
  '-r',
  '--loader',
  '--conditions',
  '-C',
  '--disable-warning',
]);

/**
 * The variables and Node flags a `test` script gives `runner`: in the `&&`/`;` segment that runs
 * it, the `VAR=value` words before the command (also after `cross-env`/`env`), Node's flags
 * when the runner runs under an explicit `node` (folded into NODE_OPTIONS with any the script
 * set), and the runner's own arguments. Undefined when the script does not run `runner`.
 */
export function readTestScript(script: string, runner: string): ScriptSettings | undefined {
  const segments = script.split(/&&|\|\||;/).map((s) => shellWords(s.trim()));
  const runs = (word: string) =>
    new RegExp(`(^|/)(${runner}|${runner}-cli|${runner}\\.js|${runner}\\.mjs|bin/${runner}(\\.js)?)$`).test(
      word,
    ) ||
    (runner === 'node' && word === 'node');
  const words = segments.find((s) => s.some(runs));
  if (!words) return undefined;
  const env: Record<string, string> = {};
  const nodeOptions: string[] = [];
  let i = 0;
  for (; i < words.length; i++) {
    const w = words[i]!;
    const assign = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(w);
    if (assign) env[assign[1]!] = assign[2]!;
    else if (w === 'cross-env' || w === 'env' || w === 'npx' || w === 'dotenv' || w === '--') continue;
    else break;
  }
  if (words[i] === 'node' && runner !== 'node') {
    for (i++; i < words.length && words[i]!.startsWith('-'); i++) {
      const flag = words[i]!;
      if (NODE_FLAG_WITH_VALUE.has(flag)) {
        nodeOptions.push(flag, words[++i] ?? '');
      } else if (NODE_FLAG.test(flag)) nodeOptions.push(flag);
    }
  }
  const at = words.findIndex(runs);
  const runnerArgs = at >= 0 ? words.slice(at + 1) : [];
  if (nodeOptions.length > 0) {
    const quoted = nodeOptions.map((o) => (/\s/.test(o) ? `"${o}"` : o));
    env.NODE_OPTIONS = [env.NODE_OPTIONS, ...quoted].filter(Boolean).join(' ');
  }
  return { env, runnerArgs, script };
}

/** The runner arguments of a `test` script that change which tests run or how, and that the
 * generated config does not carry: worth a line in what init could not infer. */
export function unportableArgs(runner: string, args: string[]): string[] {
  const notes: string[] = [];
  const note = (given: string) =>
    `the test script runs ${runner} with ${given}: seedfork runs ${runner} with its default config file; rename it or point the default at it`;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (/^(--config|-c)$/.test(a) && args[i + 1]) notes.push(note(`${a} ${args[++i]}`));
    else if (/^--config=/.test(a)) notes.push(note(a));
  }
  return notes;
}
