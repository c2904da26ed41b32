// Imports a module from html/ under node. The page's files are plain ES modules with no
// package.json beside them; node >= 20.19 detects that, older node needs the data: URL.
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

export const HTML_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../html');

export async function importHtml(name) {
  const file = path.join(HTML_DIR, name);
  try {
    return await import(pathToFileURL(file).href);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    const src = await readFile(file);
    return import('data:text/javascript;base64,' + src.toString('base64'));
  }
}
