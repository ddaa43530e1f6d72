import { expect, test } from 'vitest';
import { SeedforkError } from '../errors/seedfork-error.js';
import { parseShard } from './shard-spec.js';

test('parses i/N', () => {
  expect(parseShard('2/8')).toEqual({ index: 2, total: 8 });
  expect(parseShard(' 1 / 1 ')).toEqual({ index: 1, total: 1 });
});

test.each([
  ['0/4', /between 1 and 4/],
  ['5/4', /between 1 and 4/],
  ['1/0', /at least 1/],
  ['text', /not of the form i\/N/],
  ['1/2/3', /not of the form/],
  ['-1/4', /not of the form/],
  ['1.5/4', /not of the form/],
  ['', /not of the form/],
])('rejects %j with a hint', (value, message) => {
  let error: unknown;
  try {
    parseShard(value);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(SeedforkError);
  expect((error as SeedforkError).message).toMatch(message);
  expect((error as SeedforkError).hint).toMatch(/--shard 2\/8/);
});
