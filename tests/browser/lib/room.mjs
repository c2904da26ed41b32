// Steps on the room screen shared by the browser tests: enter a room, say something,
// wait for an entry in the log, read the member list.

export async function enterRoom(p, alias) {
  await p.fill('#alias', alias);
  await p.click('#enter');
  await p.waitForSelector('#chat:not([hidden])', { timeout: 15000 });
}

export async function say(p, text) {
  await p.fill('#composer', text);
  await p.press('#composer', 'Enter');
}

// Waits for an entry in #log of `kind` from `from` (and, for system lines, of `event`)
// whose text contains `text`.
export function waitEntry(p, { kind = 'msg', from, text, event }, timeout = 10000) {
  return p.waitForFunction(({ kind, from, text, event }) => [...document.querySelectorAll(`#log [data-kind="${kind}"]`)]
    .some((e) => (from === undefined || e.dataset.from === from) && (event === undefined || e.dataset.event === event) && e.textContent.includes(text)),
  { kind, from, text, event }, { timeout });
}

export function members(p) {
  return p.evaluate(() => [...document.querySelectorAll('#members li')].map((li) => li.dataset.alias));
}
