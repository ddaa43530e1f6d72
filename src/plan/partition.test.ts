import { expect, test } from 'vitest';
import { makeProject } from '../../test/support/project.js';
import { partitionBySize } from './partition.js';

test('every file lands in exactly one group, biggest first, deterministically', () => {
  const files = {
    'a.js': 'x'.repeat(900),
    'b.js': 'x'.repeat(500),
    'c.js': 'x'.repeat(400),
    'd.js': 'x'.repeat(100),
  };
  const dir = makeProject('partition', files);
  const groups = partitionBySize(dir, Object.keys(files), 2);
  expect(groups).toEqual([
    ['a.js', 'd.js'],
    ['b.js', 'c.js'],
  ]);
  expect(partitionBySize(dir, Object.keys(files).reverse(), 2)).toEqual(groups);
  expect(partitionBySize(dir, ['a.js'], 4)).toEqual([['a.js']]);
});
