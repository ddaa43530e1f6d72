import { execFileSync } from 'node:child_process';

/** True when redis-server or redis-cli is not on PATH (the redis service's tests then skip, saying so). */
export function redisMissing(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v redis-server && command -v redis-cli'], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
}
