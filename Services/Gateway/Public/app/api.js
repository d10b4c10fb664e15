// The HTTP API client: the only module that calls fetch. Every answer that is not a success
// becomes an ApiError carrying the problem's stable `code` (CONTRACT §3), so views decide by code.
import { session } from './state.js';

/** A refused or failed request: `status` 0 means the box office could not be reached at all. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || (status === 0 ? 'network' : 'unknown');
    this.detail = problem.detail || '';
  }
  /** The waiting room must be (re)entered before this request can succeed. */
  get needsQueue() { return this.code === 'queue_token_required' || this.code === 'queue_token_inactive'; }
}

const TIMEOUT_MS = 10000;

/** How far the server's clock is ahead of this device's, from the answers' Date headers. */
let serverOffsetMs = 0;

/** Now by the server's clock (to the second), so a countdown does not trust a wrong device clock. */
export function serverNow() {
  return Date.now() + serverOffsetMs;
}

/**
 * Sends one request. Options: body (JSON), gated (send the queue token), key (Idempotency-Key),
 * etag (If-None-Match; a 304 answers { notModified: true }), anonymous (no API key).
 */
export async function call(method, path, { body, gated = false, key, etag, anonymous = false, apiKey } = {}) {
  const headers = { Accept: 'application/json' };
  const bearer = apiKey || session.user?.apiKey;
  if (!anonymous && bearer) headers.Authorization = `Bearer ${bearer}`;
  if (gated && session.queueToken) headers['X-Queue-Token'] = session.queueToken;
  if (key) headers['Idempotency-Key'] = key;
  if (etag) headers['If-None-Match'] = etag;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method, headers, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch {
    throw new ApiError(0, { code: 'network' });
  }
  const serverDate = Date.parse(response.headers.get('Date'));
  // The header has whole seconds: add half a second so the offset errs by at most that much.
  if (!Number.isNaN(serverDate)) serverOffsetMs = serverDate + 500 - Date.now();
  if (response.status === 304) return { status: 304, notModified: true, etag };
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) throw new ApiError(response.status, data || {});
  return { status: response.status, data, etag: response.headers.get('ETag') };
}

/** The endpoints the page uses, by what they do. */
export const api = {
  signUp: (name) => call('POST', '/api/v1/users', { body: { name }, anonymous: true }),
  me: (apiKey) => call('GET', '/api/v1/users/me', { apiKey }),
  concerts: () => call('GET', '/api/v1/concerts', { anonymous: true }),
  enterQueue: () => call('POST', '/api/v1/queue/tokens'),
  queueStatus: () => call('GET', '/api/v1/queue/tokens/current', { gated: true }),
  leaveQueue: () => call('DELETE', '/api/v1/queue/tokens/current', { gated: true }),
  schedules: (concertId) => call('GET', `/api/v1/concerts/${concertId}/schedules`, { gated: true }),
  seats: (scheduleId, etag) => call('GET', `/api/v1/schedules/${scheduleId}/seats`, { gated: true, etag }),
  hold: (seatId) => call('POST', '/api/v1/reservations', { body: { seatId }, gated: true }),
  reservations: () => call('GET', '/api/v1/reservations'),
  reservation: (id) => call('GET', `/api/v1/reservations/${id}`),
  cancel: (id) => call('DELETE', `/api/v1/reservations/${id}`),
  pay: (id, key) => call('POST', `/api/v1/reservations/${id}/payment`, { key }),
  wallet: () => call('GET', '/api/v1/wallet'),
  topUp: (amount, key) => call('POST', '/api/v1/wallet/charges', { body: { amount }, key }),
  ledger: () => call('GET', '/api/v1/wallet/transactions'),
};
