import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { REPO } from './support/project.js';

// the compiled module (npm test builds first): a .cts program of the Jest worker zygote
const { warmUpRuledOut } = createRequire(import.meta.url)(
  join(REPO, 'dist/integrations/jest/warm-up.cjs'),
) as {
  warmUpRuledOut(config: unknown): string | undefined;
};

const modules = join(REPO, 'node_modules');

describe("the Jest worker zygote's warm-up runs no project code and starts nothing a fork would lack", () => {
  test('a plain config, or ts-jest and babel-jest as the transformer, may warm up', () => {
    expect(
      warmUpRuledOut({ testEnvironment: join(modules, 'jest-environment-node/build/index.js') }),
    ).toBeUndefined();
    expect(
      warmUpRuledOut({ transform: [['^.+\\.tsx?$', join(modules, 'ts-jest/dist/index.js'), {}]] }),
    ).toBeUndefined();
    expect(
      warmUpRuledOut({ transform: [['\\.[jt]sx?$', join(modules, 'babel-jest/build/index.js'), {}]] }),
    ).toBeUndefined();
  });

  test('setup files, a project test environment, or a transformer not known to be safe rule it out', () => {
    expect(warmUpRuledOut({ setupFiles: ['/p/setup.js'] })).toMatch(/setup files/);
    expect(warmUpRuledOut({ setupFilesAfterEnv: ['/p/after.js'] })).toMatch(/setup files/);
    expect(warmUpRuledOut({ testEnvironment: '/p/env.js' })).toMatch(
      /test environment is a file of the project/,
    );
    expect(warmUpRuledOut({ transform: [['^.+\\.tsx?$', join(modules, '@swc/jest/index.js'), {}]] })).toMatch(
      /@swc\/jest.*not one known to start no thread or process/,
    );
    // a transformer for other files does not matter
    expect(
      warmUpRuledOut({ transform: [['\\.css$', join(modules, 'some-css-transform/index.js'), {}]] }),
    ).toBeUndefined();
  });
});
