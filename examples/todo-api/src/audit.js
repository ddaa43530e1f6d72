import { appendFileSync } from 'node:fs';

/** Every write is appended here, one line each (like many apps' local audit trail). */
export const AUDIT_LOG = process.env.AUDIT_LOG ?? '/tmp/todo-api-audit.log';

export function audit(action, detail) {
  appendFileSync(AUDIT_LOG, `${new Date().toISOString()} ${action} ${JSON.stringify(detail)}\n`);
}
