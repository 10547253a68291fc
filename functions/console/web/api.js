/**
 * The console's calls to the /v1 API, with the bearer key the user typed (kept in sessionStorage: gone with the
 * tab, never in a cookie the browser would send by itself). An error answer becomes an Error with its message.
 */

/** @typedef {import('../../core/call-record.ts').CallView} CallView */
/** @typedef {import('../../core/call-usage.ts').UsageTotals & { from: string; to: string; byKey?: import('../../core/call-usage.ts').KeyUsage[] }} Usage */

const KEY_ITEM = 'apiKey';

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_ITEM) ?? '',
  /** @param {string} key */
  set: (key) => sessionStorage.setItem(KEY_ITEM, key),
};

/**
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { 'content-type': 'application/json' };
  const key = apiKey.get();
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await fetch(path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : undefined;
  if (!response.ok) throw new Error(json?.error?.message ?? `HTTP ${response.status}`);
  return json;
}

/** @param {string} callId */
export const callPath = (callId) => `/v1/calls/${encodeURIComponent(callId)}`;

/** @param {Record<string, string | undefined>} params */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) search.set(name, value);
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** @returns {Promise<CallView[]>} */
export const listCalls = async (/** @type {Record<string, string | undefined>} */ params) =>
  (await api('GET', `/v1/calls${query(params)}`)).calls;

/** @returns {Promise<CallView>} */
export const getCall = (/** @type {string} */ callId) => api('GET', callPath(callId));

/** @returns {Promise<Usage>} */
export const getUsage = (/** @type {{ from: string; to?: string }} */ range) => api('GET', `/v1/usage${query(range)}`);

export const hangUp = (/** @type {string} */ callId) => api('DELETE', callPath(callId));

export const sendDtmf = (/** @type {string} */ callId, /** @type {string} */ dtmf) =>
  api('POST', `${callPath(callId)}/dtmf`, { dtmf });
