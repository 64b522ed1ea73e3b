// jest's default order (failed first, then slowest first), except that the secrets scan runs after every other
// test file, of every project, so it sees all the logs, Events and objects the run produced.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- jest loads a sequencer with require()
const Sequencer = require('@jest/test-sequencer').default;

const LAST = /[\\/]test[\\/]reliability[\\/]secretsScan\.test\.ts$/;

class ReliabilitySequencer extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    return [...sorted.filter((t) => !LAST.test(t.path)), ...sorted.filter((t) => LAST.test(t.path))];
  }
}

module.exports = ReliabilitySequencer;
