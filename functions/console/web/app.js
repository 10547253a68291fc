/**
 * The console's entry module: the API key field, the start form, and which view shows, by the URL's fragment:
 * `#/` the live calls, `#/calls/<callId>` one call, `#/history` finished calls and usage. The view on screen is
 * polled every two seconds, and its durations tick every second in between.
 */
import { api, apiKey, getCall, listCalls } from './api.js';
import { byId } from './dom.js';
import { openCallPage, renderCallPage, tickCallPage } from './call-page.js';
import { loadHistory, setUpHistory } from './history.js';
import { renderLiveList, tickLiveList } from './live-list.js';

const POLL_MS = 2000;
const TICK_MS = 1000;

/** @typedef {{ name: 'live' } | { name: 'call'; callId: string } | { name: 'history' }} Route */

/** @returns {Route} */
function currentRoute() {
  const hash = location.hash;
  const call = /^#\/calls\/(.+)$/.exec(hash);
  if (call?.[1]) return { name: 'call', callId: decodeURIComponent(call[1]) };
  if (hash === '#/history') return { name: 'history' };
  return { name: 'live' };
}

/** @type {Route} */
let route = currentRoute();

/**
 * @param {string} text
 * @param {boolean} [isError]
 */
function say(text, isError = false) {
  const message = byId('message');
  message.textContent = text;
  message.className = isError ? 'error' : '';
}

async function refresh() {
  const shown = route;
  try {
    if (shown.name === 'live') renderLiveList(await listCalls({ live: 'true' }), say, refresh);
    else if (shown.name === 'call') renderCallPage(await getCall(shown.callId));
  } catch (error) {
    say(/** @type {Error} */ (error).message, true);
  }
}

function show() {
  route = currentRoute();
  byId('liveView').hidden = route.name !== 'live';
  byId('callView').hidden = route.name !== 'call';
  byId('historyView').hidden = route.name !== 'history';
  byId('navLive').classList.toggle('current', route.name === 'live');
  byId('navHistory').classList.toggle('current', route.name === 'history');
  if (route.name === 'call') openCallPage(route.callId, say, refresh);
  if (route.name === 'history') void loadHistory(say);
  void refresh();
}

/** @param {SubmitEvent} event */
async function startCall(event) {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.target);
  const field = (/** @type {string} */ name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name));
  const value = (/** @type {string} */ name) => field(name).value.trim();
  const checked = (/** @type {string} */ name) => field(name).checked;
  /** @type {Record<string, unknown> & { connection: Record<string, unknown> }} */
  const body = {
    callee: value('callee'),
    rtmpUrl: value('rtmpUrl'),
    rtmpStream: value('rtmpStream'),
    hasAudio: checked('hasAudio'),
    hasVideo: checked('hasVideo'),
    connection: {
      sipLogin: value('sipLogin'),
      sipPassword: field('sipPassword').value,
      sipDomain: value('sipDomain'),
      sipPort: Number(value('sipPort') || 5060),
      sipRegisterRequired: checked('sipRegisterRequired'),
      transport: value('transport'),
    },
  };
  if (value('callId')) body.callId = value('callId');
  if (value('sipAuthenticationName')) body.connection.sipAuthenticationName = value('sipAuthenticationName');
  if (value('appKey')) body.connection.appKey = value('appKey');
  if (value('statusCallback')) body.statusCallback = value('statusCallback');
  try {
    const call = await api('POST', '/v1/calls', body);
    say(`call ${call.callId} ${call.state}`);
    void refresh();
  } catch (error) {
    say(/** @type {Error} */ (error).message, true);
  }
}

const keyInput = /** @type {HTMLInputElement} */ (byId('apiKey'));
keyInput.value = apiKey.get();
keyInput.addEventListener('change', () => {
  apiKey.set(keyInput.value);
  say('');
  show();
});
byId('callForm').addEventListener('submit', (event) => void startCall(/** @type {SubmitEvent} */ (event)));
setUpHistory(say);
addEventListener('hashchange', show);
show();
setInterval(() => void refresh(), POLL_MS);
setInterval(() => (route.name === 'live' ? tickLiveList() : tickCallPage()), TICK_MS);
