import { callJson } from '../lib/http.js';

/**
 * The orders service's client of the users service: the user with `id`, or null when there is
 * none. Its expectations of the users service are the contract in pacts/orders-users.json.
 */
export async function getUser(usersUrl, id) {
  const { status, body } = await callJson('GET', `${usersUrl}/users/${id}`);
  if (status === 404) return null;
  if (status !== 200) throw new Error(`users service answered ${status}: ${JSON.stringify(body)}`);
  return { id: body.id, email: body.email, name: body.name };
}
