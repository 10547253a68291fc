/**
 * The console's HTML: the start form carries the fields of the WCS REST client from the integration article
 * (call details, then connection details), next to the live call list and a DTMF keypad. Static: every value it
 * shows is written by the script with textContent, never as markup.
 */
const field = (name: string, label: string, attrs = '') => `<label>${label}<input name="${name}" ${attrs}></label>`;
const check = (name: string, label: string, checked: boolean) =>
  `<label class="check"><input type="checkbox" name="${name}"${checked ? ' checked' : ''}>${label}</label>`;

export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SIP → RTMP gateway</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 1rem 2rem; color: #222; }
  h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin-top: 1.5rem; }
  form, #keypad { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: flex-end; }
  fieldset { display: flex; flex-wrap: wrap; gap: .5rem 1rem; border: 1px solid #ccc; }
  label { display: flex; flex-direction: column; font-size: .85rem; }
  label.check { flex-direction: row; gap: .3rem; align-items: center; }
  input, select { font: inherit; padding: .2rem .3rem; }
  table { border-collapse: collapse; margin-top: .5rem; }
  th, td { border-bottom: 1px solid #ddd; padding: .3rem .6rem; text-align: left; }
  #message.error { color: #b00020; } #message { min-height: 1.2em; }
  #keypad button { width: 2.5rem; height: 2.5rem; }
  .state-streaming { color: #08660d; font-weight: bold; } .state-failed { color: #b00020; }
</style>
</head>
<body>
<h1>SIP → RTMP gateway</h1>
${field('apiKey', 'API key (if the server requires one)', 'id="apiKey" type="password" autocomplete="off"')}
<h2>Start a call</h2>
<form id="callForm">
  <fieldset><legend>Call details</legend>
    ${field('callId', 'callId (optional)')}
    ${field('callee', 'callee', 'required')}
    ${field('rtmpUrl', 'rtmpUrl', 'required placeholder="rtmp://host:1935/live"')}
    ${field('rtmpStream', 'rtmpStream', 'required')}
    ${check('hasAudio', 'hasAudio', true)}
    ${check('hasVideo', 'hasVideo', false)}
    ${field('statusCallback', 'statusCallback URL (optional)', 'type="url"')}
  </fieldset>
  <fieldset><legend>Connection details</legend>
    ${field('sipLogin', 'sipLogin', 'required')}
    ${field('sipPassword', 'sipPassword', 'type="password" autocomplete="off"')}
    ${field('sipAuthenticationName', 'sipAuthenticationName')}
    ${field('sipDomain', 'sipDomain', 'required')}
    ${field('sipPort', 'sipPort', 'type="number" min="1" max="65535" value="5060"')}
    ${check('sipRegisterRequired', 'sipRegisterRequired', false)}
    ${field('appKey', 'appKey', 'value="callApp"')}
    <label>transport<select name="transport"><option>udp</option><option>tcp</option><option>tls</option></select></label>
  </fieldset>
  <button type="submit" id="startButton">Start call</button>
</form>
<p id="message" role="status"></p>
<h2>Calls</h2>
<label class="check"><input type="checkbox" id="liveOnly" checked>live only</label>
<table id="calls">
  <thead><tr><th>callId</th><th>state</th><th>callee</th><th>RTMP</th><th>duration</th><th>stats</th><th></th></tr></thead>
  <tbody></tbody>
</table>
<h2>DTMF</h2>
<p>Call: <strong id="dtmfCall">none selected</strong></p>
<div id="keypad"></div>
<script src="/console/app.js"></script>
</body>
</html>
`;
