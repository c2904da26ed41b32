// commands.js: what a line typed in the composer means, and what to suggest while typing.
// Pure functions; the page decides what to do with the result.

export const COMMANDS = [
  { name: 'purr', args: 'NAME MESSAGE', help: 'whisper to one member; nobody else sees it' },
  { name: 'me', args: 'ACTION', help: 'say what you are doing, shown as "* yourname ACTION"' },
  { name: 'kick', args: 'NAME', help: 'remove a member; the room gets new keys and a new invite link', moderator: true },
  { name: 'rekey', args: '', help: 'give the room new keys and a new invite link; the old link stops working', moderator: true },
  { name: 'stop', args: '', help: 'end the room for everyone (asks first)', moderator: true },
  { name: 'exit', args: '[farewell]', help: 'leave the room, with an optional farewell' },
  { name: 'who', args: '', help: 'list who is in the room' },
  { name: 'clear', args: '', help: 'clear your screen (nobody else is affected)' },
  { name: 'help', args: '', help: 'show this list' },
];

// "/me waves" is sent as the text "/me waves", the convention of IRC clients: every
// client can read it (the terminal client shows it as it is), and the page shows it as
// "* alice waves", with the name the message is authenticated under.
export const ACTION_PREFIX = '/me ';

export function actionText(text) {
  return text.startsWith(ACTION_PREFIX) && text.length > ACTION_PREFIX.length ? text.slice(ACTION_PREFIX.length) : null;
}

// "/purr bob hi" -> { type: 'purr', to: 'bob', text: 'hi' }; "//x" sends the text "/x".
// Returns null for a blank line.
export function parseLine(line) {
  const text = line.replace(/^\s+|\s+$/g, '');
  if (!text) return null;
  if (!text.startsWith('/')) return { type: 'msg', text: line.trim() };
  if (text.startsWith('//')) return { type: 'msg', text: text.slice(1) };
  const m = /^\/(\S+)\s*([\s\S]*)$/.exec(text);
  const name = m[1].toLowerCase();
  const rest = m[2];
  const word = (s) => {
    const w = /^(\S+)\s*([\s\S]*)$/.exec(s);
    return w ? [w[1].replace(/^@/, ''), w[2]] : ['', ''];
  };
  switch (name) {
    case 'purr': case 'w': case 'msg': {
      const [to, body] = word(rest);
      if (!to || !body) return { type: 'usage', message: 'Usage: /purr NAME MESSAGE' };
      return { type: 'purr', to, text: body };
    }
    case 'me': {
      const action = rest.trim();
      if (!action) return { type: 'usage', message: 'Usage: /me ACTION' };
      return { type: 'msg', text: `${ACTION_PREFIX}${action}` };
    }
    case 'who':
      return { type: 'who' };
    case 'kick': {
      const [alias] = word(rest);
      if (!alias) return { type: 'usage', message: 'Usage: /kick NAME' };
      return { type: 'kick', alias };
    }
    case 'rekey':
      return { type: 'rekey' };
    case 'stop':
      return { type: 'stop' };
    case 'exit': case 'quit': case 'leave':
      return { type: 'exit', farewell: rest };
    case 'clear':
      return { type: 'clear' };
    case 'help': case '?':
      return { type: 'help' };
    default:
      return { type: 'usage', message: `Unknown command /${name}. Type /help for the list, or start with // to send a line that begins with /.` };
  }
}

// Suggestions for the composer's current text: command names while the first word is
// being typed, member names after /purr or /kick. Each is { label, detail, value }.
export function suggest(text, members, self, canModerate) {
  if (!text.startsWith('/') || text.startsWith('//') || text.includes('\n')) return [];
  const first = /^\/(\S*)$/.exec(text);
  if (first) {
    const typed = first[1].toLowerCase();
    return COMMANDS.filter((c) => c.name.startsWith(typed) && (canModerate || !c.moderator)).map((c) => ({
      label: `/${c.name}${c.args ? ' ' + c.args : ''}`,
      detail: c.help,
      value: `/${c.name}${c.args ? ' ' : ''}`,
    }));
  }
  const second = /^\/(purr|kick)\s+@?(\S*)$/i.exec(text);
  if (second) {
    const cmd = second[1].toLowerCase(), typed = second[2].toLowerCase();
    return members
      .filter((m) => m !== self && m.toLowerCase().startsWith(typed))
      .map((m) => ({ label: m, detail: cmd === 'purr' ? 'whisper' : 'kick', value: `/${cmd} ${m}${cmd === 'purr' ? ' ' : ''}` }));
  }
  return [];
}
