/**
 * The console's browser script, served as /console/app.js: plain ES2020 against the /v1 API, no framework and no
 * build step. Rows are kept per callId and updated in place on each poll, so a button does not vanish under the
 * pointer between a poll and a click. Written without template literals, as it lives inside one.
 */
export const CONSOLE_SCRIPT = `'use strict';
(function () {
  var POLL_MS = 1000;
  var FINAL = { ended: true, failed: true };
  var $ = function (id) { return document.getElementById(id); };
  var apiKeyInput = $('apiKey');
  var message = $('message');
  var rows = new Map();
  var selected = null;

  apiKeyInput.value = sessionStorage.getItem('apiKey') || '';
  apiKeyInput.addEventListener('change', function () { sessionStorage.setItem('apiKey', apiKeyInput.value); refresh(); });

  function api(method, path, body) {
    var headers = { 'content-type': 'application/json' };
    if (apiKeyInput.value) headers.authorization = 'Bearer ' + apiKeyInput.value;
    return fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) }).then(function (response) {
      return response.text().then(function (text) {
        var json = text ? JSON.parse(text) : undefined;
        if (!response.ok) throw new Error(json && json.error ? json.error.message : 'HTTP ' + response.status);
        return json;
      });
    });
  }

  function say(text, isError) {
    message.textContent = text;
    message.className = isError ? 'error' : '';
  }

  $('callForm').addEventListener('submit', function (event) {
    event.preventDefault();
    var form = event.target;
    var value = function (name) { return form.elements[name].value.trim(); };
    var checked = function (name) { return form.elements[name].checked; };
    var body = {
      callee: value('callee'), rtmpUrl: value('rtmpUrl'), rtmpStream: value('rtmpStream'),
      hasAudio: checked('hasAudio'), hasVideo: checked('hasVideo'),
      connection: {
        sipLogin: value('sipLogin'), sipPassword: form.elements.sipPassword.value, sipDomain: value('sipDomain'),
        sipPort: Number(value('sipPort') || 5060), sipRegisterRequired: checked('sipRegisterRequired'), transport: value('transport')
      }
    };
    if (value('callId')) body.callId = value('callId');
    if (value('sipAuthenticationName')) body.connection.sipAuthenticationName = value('sipAuthenticationName');
    if (value('appKey')) body.connection.appKey = value('appKey');
    if (value('statusCallback')) body.statusCallback = value('statusCallback');
    api('POST', '/v1/calls', body).then(function (call) {
      say('call ' + call.callId + ' ' + call.state);
      selected = selected || call.callId;
      refresh();
    }, function (error) { say(error.message, true); });
  });

  function duration(call) {
    if (call.ended) return call.ended.durationSeconds;
    var since = call.stateTimes.answered || call.stateTimes.streaming;
    if (!since || FINAL[call.state]) return 0;
    return Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
  }

  function clock(seconds) {
    var s = seconds % 60;
    return Math.floor(seconds / 60) + ':' + (s < 10 ? '0' : '') + s;
  }

  function statsText(call) {
    if (!call.stats) return '';
    return call.stats.rtpPackets + ' pkts, ' + call.stats.rtpLost + ' lost, ' + call.stats.jitterMs.toFixed(1) + ' ms jitter';
  }

  function newRow(callId) {
    var tr = document.createElement('tr');
    tr.dataset.callId = callId;
    for (var i = 0; i < 6; i++) tr.appendChild(document.createElement('td'));
    var actions = document.createElement('td');
    var hangup = document.createElement('button');
    hangup.textContent = 'Hang up';
    hangup.className = 'hangup';
    hangup.addEventListener('click', function () {
      hangup.disabled = true;
      api('DELETE', '/v1/calls/' + encodeURIComponent(callId)).then(function () { say('hang-up requested for ' + callId); refresh(); }, function (error) { hangup.disabled = false; say(error.message, true); });
    });
    var keypad = document.createElement('button');
    keypad.textContent = 'Keypad';
    keypad.className = 'select';
    keypad.addEventListener('click', function () { selected = callId; $('dtmfCall').textContent = callId; });
    actions.appendChild(hangup);
    actions.appendChild(keypad);
    tr.appendChild(actions);
    return tr;
  }

  function render(calls) {
    var tbody = $('calls').tBodies[0];
    var seen = new Set();
    calls.forEach(function (call) {
      seen.add(call.callId);
      var tr = rows.get(call.callId);
      if (!tr) { tr = newRow(call.callId); rows.set(call.callId, tr); tbody.appendChild(tr); }
      var cells = tr.cells;
      cells[0].textContent = call.callId;
      cells[1].textContent = call.state + (call.desiredState === 'ended' && !FINAL[call.state] ? ' (hanging up)' : '');
      cells[1].className = 'state state-' + call.state;
      cells[2].textContent = call.callee;
      cells[3].textContent = call.rtmpUrl + ' / ' + call.rtmpStream;
      cells[4].textContent = clock(duration(call));
      cells[5].textContent = statsText(call);
      tr.querySelector('button.hangup').disabled = Boolean(FINAL[call.state]) || call.desiredState === 'ended';
    });
    rows.forEach(function (tr, callId) {
      if (!seen.has(callId)) { tr.remove(); rows.delete(callId); }
    });
    $('dtmfCall').textContent = selected || 'none selected';
  }

  function refresh() {
    var query = $('liveOnly').checked ? '?live=true' : '';
    return api('GET', '/v1/calls' + query).then(function (answer) { render(answer.calls); }, function (error) { say(error.message, true); });
  }

  '123456789*0#'.split('').forEach(function (digit) {
    var button = document.createElement('button');
    button.textContent = digit;
    button.dataset.digit = digit;
    button.addEventListener('click', function () {
      if (!selected) return say('select a call first (Keypad)', true);
      api('POST', '/v1/calls/' + encodeURIComponent(selected) + '/dtmf', { dtmf: digit }).then(function () { say('sent ' + digit + ' to ' + selected); }, function (error) { say(error.message, true); });
    });
    $('keypad').appendChild(button);
  });

  $('liveOnly').addEventListener('change', refresh);
  refresh();
  setInterval(refresh, POLL_MS);
})();
`;
