import { SeedforkError } from '../errors/seedfork-error.js';

/** node-postgres's default export (`pg.Client`, `pg.Pool`). */
export type Pg = typeof import('pg')['default'];

/**
 * node-postgres, the project's own copy: it is a peer dependency of seedfork (optional), so that
 * seedfork/pg works on the very clients the project's code uses and seedfork does not install a
 * second copy. `forWhat` names what needs it, for the error.
 * @throws SeedforkError when the pg package is not installed, with the command that installs it
 */
export async function loadPg(forWhat: string): Promise<Pg> {
  try {
    return (await import('pg')).default;
  } catch (error) {
    throw new SeedforkError(`${forWhat} needs the pg package (node-postgres), which is not installed`, {
      hint: 'npm install --save-dev pg',
      cause: error,
    });
  }
}
