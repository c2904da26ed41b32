// node-peer.mjs: STAND-IN for the terminal client `sanctuary join LINK --alias NAME`,
// used by the browser tests only until that subcommand exists (see lib/terminal-peer.mjs).
// A complete protocol client on html/crypto.js: lines on stdin are sent (with /purr,
// /kick, /stop, /exit), everything relayed is printed as one line "[HH:MM] ...".
// Needs node's WebSocket (node >= 22, or node 20 with --experimental-websocket).
import { importHtml } from './lib/html-module.mjs';
import { createInterface } from 'node:readline';

const c = await importHtml('crypto.js');

const args = process.argv.slice(2);
const aliasAt = args.indexOf('--alias');
const alias = aliasAt >= 0 ? args[aliasAt + 1] : '';
const link = args.find((a, i) => i !== aliasAt && i !== aliasAt + 1);
const fragment = link?.split('#')[1] ?? '';
const dot = fragment.indexOf('.');
const target = dot > 0 ? { room: fragment.slice(0, dot), secret: decodeURIComponent(fragment.slice(dot + 1)) } : null;
if (!target || !alias) {
  console.error('usage: node-peer.mjs http://HOST:PORT/#ROOM.SECRET --alias NAME');
  process.exit(2);
}
const url = new URL(link);
const config = await (await fetch(new URL('/config.json', url))).json();
const host = url.hostname.includes(':') && !url.hostname.startsWith('[') ? `[${url.hostname}]` : url.hostname;
const keys = c.deriveKeys(target.room, target.secret);
const room = target.room;

const hhmm = (ms) => new Date(ms).toTimeString().slice(0, 5);
const say = (text, ts = Date.now()) => process.stdout.write(`[${hhmm(ts)}] ${text}\n`);
const header = (kind, from, to = '') => ({ room, kind, from, to });

const ws = new WebSocket(`ws://${host}:${config.ws_port}/ws`);
let joined = false, triedCreate = false;
ws.onmessage = (e) => {
  const f = JSON.parse(e.data);
  switch (f.t) {
    case 'hello':
      ws.send(JSON.stringify({ t: 'join', room, alias, proof: c.joinProof(keys.auth, f.nonce, room, alias) }));
      break;
    case 'welcome':
      joined = true;
      say(`*** joined as ${f.alias}; here: ${f.members.join(', ')}`);
      break;
    case 'msg': {
      const text = c.open(keys, header('msg', f.from), f.body);
      say(text === null ? `!!! a message from ${f.from} failed verification` : `${f.from}: ${text}`, f.ts);
      break;
    }
    case 'purr': {
      const text = c.open(keys, header('purr', f.from, f.to), f.body);
      say(text === null ? `!!! a whisper from ${f.from} failed verification` : `(whisper) ${f.from} -> ${f.to}: ${text}`, f.ts);
      break;
    }
    case 'joined':
      say(`*** ${f.alias} joined`);
      break;
    case 'left': {
      const bye = typeof f.body === 'string' ? c.open(keys, header('exit', f.alias), f.body) : null;
      say(`*** ${f.alias} left${bye ? `: ${bye}` : ''}`);
      break;
    }
    case 'kicked':
      say(`*** ${f.alias} was kicked by ${f.by}`);
      break;
    case 'purged':
      say(`*** room ended by ${f.by ?? 'the server'}`);
      break;
    case 'error':
      if (!joined && f.code === 'no_room' && !triedCreate) {
        triedCreate = true;
        ws.send(JSON.stringify({ t: 'create', room, alias, auth: c.b64uEncode(keys.auth) }));
      } else {
        say(`!!! error ${f.code}: ${f.message}`);
      }
      break;
    default:
  }
};
ws.onclose = (e) => {
  say(`*** disconnected (${e.code})`);
  process.exit(e.code === 1000 ? 0 : 1);
};

createInterface({ input: process.stdin }).on('line', (line) => {
  if (!joined || !line.trim()) return;
  const [cmd, ...rest] = line.split(' ');
  const seal = (kind, text, to = '') => c.seal(keys, header(kind, alias, to), text);
  if (cmd === '/purr' && rest.length >= 2) {
    const to = rest[0], text = rest.slice(1).join(' ');
    ws.send(JSON.stringify({ t: 'purr', to, body: seal('purr', text, to) }));
  } else if (cmd === '/kick') {
    ws.send(JSON.stringify({ t: 'kick', alias: rest[0] }));
  } else if (cmd === '/stop') {
    ws.send(JSON.stringify({ t: 'stop' }));
  } else if (cmd === '/exit') {
    const text = rest.join(' ');
    ws.send(JSON.stringify(text ? { t: 'exit', body: seal('exit', text) } : { t: 'exit' }));
  } else {
    ws.send(JSON.stringify({ t: 'msg', body: seal('msg', line) }));
  }
});
