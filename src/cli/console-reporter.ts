import logUpdate from 'log-update';
import pc from 'picocolors';
import { failsTheBuild, type TestCaseResult } from '../report/types.js';
import type { RunEvent } from '../run/run.js';
import { failureDetail } from './failure-text.js';
import { forTerminal } from './terminal-text.js';

/** Lines under a file's line: dimmed, each after `indent`. */
function indented(lines: string[], indent: string): string {
  return pc.dim(lines.map((l) => `${indent}${l}`).join('\n'));
}

/**
 * Prints run progress: on a TTY a live status line under the finished files, in CI (or when
 * piped) plain lines only. With `verbose`, every runner's output as it comes, each line
 * prefixed with its file. Returns the event handler and a function that clears the live line.
 */
export function consoleReporter(
  stream: NodeJS.WriteStream,
  options: { verbose?: boolean; live?: boolean } = {},
) {
  const live = options.live ?? (stream.isTTY === true && !process.env.CI);
  const partial = new Map<string, string>();
  const started = Date.now();
  let total = 0;
  let done = 0;
  let failed = 0;
  const running = new Set<string>();
  const print = (line: string) => {
    if (live) logUpdate.clear();
    stream.write(`${line}\n`);
    if (live) status();
  };
  const status = () => {
    if (!live || total === 0) return;
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const names = [...running].slice(0, 3).map(forTerminal).join(', ');
    logUpdate(
      `${pc.cyan('▶')} ${done}/${total} files · ${running.size} running${failed ? pc.red(` · ${failed} failed`) : ''} · ${secs}s${names ? pc.dim(`  ${names}`) : ''}`,
    );
  };
  const timer = live ? setInterval(status, 100) : undefined;
  timer?.unref();

  const onEvent = (event: RunEvent) => {
    switch (event.type) {
      case 'file-output': {
        if (!options.verbose) break;
        const lines = `${partial.get(event.file) ?? ''}${event.chunk}`.split('\n');
        partial.set(event.file, lines.pop()!);
        for (const line of lines) print(`${pc.dim(`[${forTerminal(event.file)}]`)} ${forTerminal(line)}`);
        break;
      }
      case 'plan':
        total = event.files.length;
        if (event.shard)
          print(
            `seedfork: shard ${event.shard.index}/${event.shard.total} (by ${event.shard.strategy}): ${event.files.length} of ${event.shard.suiteFiles} test files, predicted ${(event.shard.predictedMs / 1000).toFixed(1)}s`,
          );
        if (event.files.length === 0) break;
        print(
          `seedfork: ${event.files.length} test file${event.files.length === 1 ? '' : 's'}, ${event.workers} worker${event.workers === 1 ? '' : 's'}, isolation ${event.isolation}${event.isolation !== 'none' ? `, one sandbox per ${event.per === 'file' ? 'file' : 'worker'}` : ''}`,
        );
        break;
      case 'notice':
        print(pc.yellow(`seedfork: ${event.message}`));
        break;
      case 'gc':
        print(pc.dim(`seedfork: removed ${event.removed} leftover sandbox resource(s) of an earlier run`));
        break;
      case 'seed': {
        const e = event.event;
        if (e.type === 'cached')
          print(`seed: reusing cached snapshot ${e.key} (built ${e.createdAt}); seeding skipped`);
        else if (e.type === 'building') print(`seed: building snapshot ${e.key}`);
        else if (e.type === 'step') print(pc.dim(`seed: step ${e.index + 1}/${e.total}: ${e.step}`));
        else if (e.type === 'backend') print(`seed: ${e.message}`);
        else print(`seed: snapshot ${e.key} built in ${(e.durationMs / 1000).toFixed(1)}s`);
        break;
      }
      case 'file-start':
        running.add(event.file);
        status();
        break;
      case 'file-retry':
        print(pc.yellow(`↻ ${event.file}: failed, retrying in a fresh fork (attempt ${event.attempt})`));
        break;
      case 'file-done': {
        const r = event.result;
        running.delete(r.file);
        const file = forTerminal(r.file);
        done++;
        const tests = `${r.tests.length} test${r.tests.length === 1 ? '' : 's'}`;
        const timing = pc.dim(
          `${r.durationMs} ms${r.sandboxId ? `, setup ${r.setupMs} ms, sandbox ${r.sandboxId}` : ''}`,
        );
        if (r.status === 'passed') {
          print(`${pc.green('✓')} ${file} (${tests}) ${timing}`);
        } else if (r.status === 'flaky') {
          print(
            `${pc.yellow('⚠')} ${file} (${tests}) ${pc.yellow(`flaky: failed, then passed on attempt ${r.attempts} in a fresh fork`)} ${timing}`,
          );
          listTests(
            r.tests.filter((x) => x.status === 'flaky'),
            'flaky',
            print,
            (t) =>
              `    ${pc.yellow('⚠')} ${forTerminal(t.name)}${pc.dim(` — failed first: ${forTerminal((t.flakyFailures?.[0]?.message ?? '').split('\n')[0] ?? '')}`)}`,
          );
        } else if (!failsTheBuild(r)) {
          print(
            `${pc.yellow('⊘')} ${file} (${tests}) ${pc.yellow('failed in quarantined tests only: the build does not fail')} ${timing}`,
          );
          listTests(
            r.tests.filter((x) => x.status === 'failed'),
            'quarantined',
            print,
            (t) =>
              `    ${pc.yellow('⊘')} ${forTerminal(t.name)}${pc.dim(` — quarantined: ${forTerminal(t.quarantined ?? '')}`)}`,
          );
        } else {
          failed++;
          const [errorLine, ...errorRest] = forTerminal(r.error ?? '').split('\n');
          print(`${pc.red('✗')} ${file} (${tests}${errorLine ? `; ${errorLine}` : ''}) ${timing}`);
          // The rest of a multi-line error (a hung runner's process tree, a load error), indented.
          if (errorRest.length > 0) print(indented(errorRest.slice(0, 30), '    '));
          listTests(
            r.tests.filter((x) => x.status === 'failed'),
            'failed',
            print,
            (t, index) => {
              const line = `    ${pc.red('✗')} ${forTerminal(t.name)}${t.message ? pc.dim(` — ${forTerminal(t.message.split('\n')[0] ?? '')}`) : ''}${pc.dim(forTerminal(t.quarantined !== undefined ? ` (quarantined: ${t.quarantined})` : ''))}`;
              // why it failed, as the runner says it (the diff, the project's frames)
              const detail = index < DETAILED_PER_FILE ? failureDetail(t).map(forTerminal) : [];
              return detail.length > 0 ? `${line}\n${indented(detail, '        ')}` : line;
            },
          );
          if (r.tests.length === 0 && r.output.trim())
            print(indented(forTerminal(r.output).trimEnd().split('\n').slice(-15), '    '));
        }
        // what the runner warned about without failing the file (a worker it force-exited)
        for (const warning of r.warnings ?? []) {
          const [first, ...rest] = forTerminal(warning).split('\n');
          print(`    ${pc.yellow('⚠')} ${pc.yellow(first ?? '')}`);
          if (rest.length > 0) print(indented(rest.slice(0, 10), '      '));
        }
        break;
      }
      case 'done': {
        const s = event.result.summary;
        const line = `${s.files} file${s.files === 1 ? '' : 's'}, ${s.tests} test${s.tests === 1 ? '' : 's'}: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped${s.flaky ? `, ${s.flaky} flaky` : ''} in ${(event.result.durationMs / 1000).toFixed(1)}s`;
        const blocking = event.result.files.filter(failsTheBuild).length;
        const quarantined = event.result.files.flatMap((f) =>
          f.tests.filter((t) => t.status === 'failed' && t.quarantined !== undefined),
        ).length;
        print(
          blocking > 0
            ? pc.red(`${line} (${blocking} file${blocking === 1 ? '' : 's'} failed)`)
            : quarantined > 0
              ? pc.yellow(`${line}: the ${quarantined} failed test(s) are quarantined, so the build passes`)
              : s.flaky > 0
                ? pc.yellow(`${line}: the flaky tests passed only on a retry; they are not fixed`)
                : pc.green(line),
        );
        const kept = event.result.files.filter((f) => f.kept);
        for (const f of kept)
          print(`kept sandbox ${f.sandboxId} of ${f.file}: enter it with \`seedfork shell ${f.sandboxId}\``);
        if (event.reports.junit) print(pc.dim(`JUnit XML: ${event.reports.junit}`));
        if (event.reports.json) print(pc.dim(`JSON: ${event.reports.json}`));
        break;
      }
    }
  };
  const stop = () => {
    if (timer) clearInterval(timer);
    if (live) logUpdate.clear();
  };
  return { onEvent, stop };
}

/** Test cases the console lists under one file, at most; results.json and the JUnit XML have all. */
const LISTED_PER_FILE = 50;

/** Failed tests of one file whose failure body the console shows under them (failureDetail). */
const DETAILED_PER_FILE = 10;

/** Print a line per test of `tests`, at most LISTED_PER_FILE, then how many more there are. */
function listTests(
  tests: TestCaseResult[],
  kind: string,
  print: (line: string) => void,
  line: (t: TestCaseResult, index: number) => string,
): void {
  for (const [index, t] of tests.slice(0, LISTED_PER_FILE).entries()) print(line(t, index));
  if (tests.length > LISTED_PER_FILE)
    print(
      pc.dim(
        `    … and ${tests.length - LISTED_PER_FILE} more ${kind} tests (all of them in the JSON result)`,
      ),
    );
}
