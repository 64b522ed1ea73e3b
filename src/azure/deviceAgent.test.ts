import { DeviceAgent } from './deviceAgent.js';

describe('DeviceAgent', () => {
  it('serializes as its name, so a logged request never shows its sockets or their raw headers', () => {
    const agent = new DeviceAgent();
    try {
      expect(JSON.stringify({ url: 'https://device.example', agent })).toBe('{"url":"https://device.example","agent":"DeviceAgent"}');
    } finally {
      agent.close();
    }
  });
});
