// invite.js: invite links (#ROOM.SECRET) in and out, and the panel that shares one:
// the link as text, a copy button and a QR code drawn right here (the secret is in the
// link, so it is never sent anywhere to be turned into a picture).

import { drawQr } from './qr.js';

export const ROOM_RE = /^[A-Za-z0-9_-]{22}$/;
export const MIN_PASSPHRASE = 8;

// Accepts "#ROOM.SECRET", "ROOM.SECRET" or a whole link. Returns {room, secret} or null.
export function parseInvite(text) {
  const hash = text.includes('#') ? text.slice(text.indexOf('#') + 1) : text;
  const dot = hash.indexOf('.');
  if (dot < 0) return null;
  const room = hash.slice(0, dot);
  let secret;
  try {
    secret = decodeURIComponent(hash.slice(dot + 1));
  } catch {
    return null;
  }
  if (!ROOM_RE.test(room) || secret.length < MIN_PASSPHRASE) return null;
  return { room, secret };
}

export function inviteLink(loc, room, secret) {
  return `${loc.origin}/#${room}.${encodeURIComponent(secret)}`;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export class InvitePanel {
  constructor({ panel, text, copyButton, canvas, zoom, note, hint }) {
    Object.assign(this, { panel, text, copyButton, canvas, zoom, note, hint });
    copyButton.addEventListener('click', () => this.#copy());
    // Small beside the link; tap to enlarge for a phone held at arm's length.
    zoom.addEventListener('click', () => this.#enlarge(zoom.getAttribute('aria-pressed') !== 'true'));
  }

  #enlarge(on) {
    this.zoom.setAttribute('aria-pressed', String(on));
    this.panel.classList.toggle('big', on);
  }

  show(link, hostname) {
    this.text.textContent = link;
    this.hint.hidden = !LOOPBACK.has(hostname);
    this.note.textContent = '';
    try {
      drawQr(this.canvas, link, 8); // drawn large, shown smaller: crisp on dense screens
      this.zoom.hidden = false;
    } catch {
      this.zoom.hidden = true; // a passphrase too long for any QR version
    }
  }

  // A new link in place of the old one (the room was re-keyed), saying why.
  replace(link, hostname, why) {
    this.show(link, hostname);
    this.note.textContent = why;
  }

  // Removes the secret from the page: text, picture and selection.
  clear() {
    this.#enlarge(false);
    this.text.textContent = '';
    this.note.textContent = '';
    const ctx = this.canvas.getContext('2d');
    ctx?.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.canvas.width = 0;
    this.canvas.height = 0;
    window.getSelection()?.removeAllRanges();
  }

  #say(text) {
    this.note.textContent = text;
    clearTimeout(this.noteTimer);
    this.noteTimer = setTimeout(() => { this.note.textContent = ''; }, 4000);
  }

  async #copy() {
    const link = this.text.textContent;
    // The Clipboard API exists only in secure contexts; on plain HTTP over the LAN the
    // text is selected instead so Ctrl+C / long-press copies it.
    if (navigator.clipboard?.writeText) {
      try {
        await navigator.clipboard.writeText(link);
        this.#say('Copied.');
        return;
      } catch {
        // fall through to selecting
      }
    }
    const range = document.createRange();
    range.selectNodeContents(this.text);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    let copied = false;
    try {
      copied = document.execCommand('copy');
    } catch {
      copied = false;
    }
    this.#say(copied ? 'Copied.' : 'Selected: press Ctrl+C (or long-press and Copy).');
  }
}
