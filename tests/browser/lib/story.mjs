// Steps of one story, run in order: once a step fails, the rest of its story is skipped
// (with the reason) instead of failing again for the same cause. `onFail` says where
// things stood, to tell a page problem from a test problem.
import { test } from 'node:test';

export function story(onFail = async () => {}) {
  let broken = null;
  return (name, opts, fn) => test(name, opts, async (t) => {
    if (broken) return t.skip(`skipped: "${broken}" failed`);
    try {
      await fn(t);
    } catch (err) {
      broken = name;
      await onFail();
      throw err;
    }
  });
}
