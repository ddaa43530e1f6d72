import { createHash, randomBytes } from 'node:crypto';
import { SeedforkError } from '../errors/seedfork-error.js';
import type { HistoryStore } from './store.js';

/** What a token may do: `ingest` for its service only; `admin` anything (every service, the
 * quarantine list). */
export interface TokenGrant {
  id: number;
  scope: 'ingest' | 'admin';
  /** For `ingest`: the one service it may report for. */
  service?: string;
}

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Make a token: 32 random bytes (base64url, prefixed `sft_`), of which only the sha256 is kept,
 * so the store never holds a usable secret. The token is returned once.
 * @throws SeedforkError for an `ingest` token without a service
 */
export async function createToken(
  store: HistoryStore,
  grant: { scope: 'ingest' | 'admin'; service?: string },
): Promise<{ token: string; id: number }> {
  if (grant.scope === 'ingest' && !grant.service) {
    throw new SeedforkError('an ingest token is for one service: pass --service');
  }
  const token = `sft_${randomBytes(32).toString('base64url')}`;
  const [row] = await store.query<{ id: string }>(
    'insert into tokens (hash, service, scope) values ($1, $2, $3) returning id',
    [hash(token), grant.service ?? null, grant.scope],
  );
  return { token, id: Number(row!.id) };
}

/** What `token` may do, or undefined when it is unknown or revoked. */
export async function verifyToken(store: HistoryStore, token: string): Promise<TokenGrant | undefined> {
  const [row] = await store.query<{ id: string; scope: 'ingest' | 'admin'; service: string | null }>(
    'select id, scope, service from tokens where hash = $1 and revoked_at is null',
    [hash(token)],
  );
  if (!row) return undefined;
  return { id: Number(row.id), scope: row.scope, ...(row.service ? { service: row.service } : {}) };
}

/** Revoke a token by id; returns whether one was revoked. */
export async function revokeToken(store: HistoryStore, id: number): Promise<boolean> {
  const rows = await store.query(
    'update tokens set revoked_at = now() where id = $1 and revoked_at is null returning id',
    [id],
  );
  return rows.length > 0;
}
