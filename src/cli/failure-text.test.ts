import { describe, expect, test } from 'vitest';
import { FAILURE_LINE_CHARS, FAILURE_LINES, failureDetail } from './failure-text.js';

describe('failureDetail', () => {
  test("Jest's diff and the project's frame stay; the runner's and Node's frames go", () => {
    const details = [
      'Error: expect(received).toBe(expected) // Object.is equality',
      '',
      'Expected: 2',
      'Received: 1',
      '    at Object.<anonymous> (/app/test/log.test.ts:2:75)',
      '    at Promise.finally.completed (/app/node_modules/jest-circus/build/jestAdapterInit.js:1834:28)',
      '    at new Promise (<anonymous>)',
      '    at processTicksAndRejections (node:internal/process/task_queues:95:5)',
      '    at TestContext.<anonymous> (node:internal/test_runner/test:631:25)',
      '',
    ].join('\n');
    expect(
      failureDetail({ message: 'Error: expect(received).toBe(expected) // Object.is equality', details }),
    ).toEqual(['Expected: 2', 'Received: 1', '    at Object.<anonymous> (/app/test/log.test.ts:2:75)']);
  });

  test('a body without the message on its first line is shown whole', () => {
    expect(
      failureDetail({ message: 'boom', details: 'AssertionError: 1 == 2\r\n  at t (/app/a.js:1:1)' }),
    ).toEqual(['AssertionError: 1 == 2', '  at t (/app/a.js:1:1)']);
  });

  test('nothing beyond the message, or no body: no lines', () => {
    expect(failureDetail({ message: 'boom', details: 'boom\n' })).toEqual([]);
    expect(failureDetail({ message: 'boom' })).toEqual([]);
  });

  test('a long body is cut, saying how much more there is', () => {
    const details = Array.from({ length: 40 }, (_, i) => `line ${i}`).join('\n');
    const lines = failureDetail({ message: 'x', details });
    expect(lines).toHaveLength(FAILURE_LINES);
    expect(lines[0]).toBe('line 0');
    expect(lines.at(-1)).toBe(`… ${40 - (FAILURE_LINES - 1)} more lines (all of them in the JSON result)`);
  });

  test('a very long line is cut', () => {
    const [line] = failureDetail({ message: 'x', details: `x\n${'y'.repeat(10_000)}` });
    expect(line).toHaveLength(FAILURE_LINE_CHARS);
    expect(line!.endsWith('y…')).toBe(true);
  });
});
