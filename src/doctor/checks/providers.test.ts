import { supportedVersionsIn } from './providers.js';

describe('supportedVersionsIn', () => {
  it('reads the versions from both ARM refusal wordings', () => {
    expect(supportedVersionsIn("No registered resource provider found for location 'dbelocal' and API version '2020-06-01' for type 'providers'. The supported api-versions are '2022-09-01, 2021-04-01'.")).toEqual(['2022-09-01', '2021-04-01']);
    expect(supportedVersionsIn("The api-version '2020-06-01' is invalid. The supported versions are '2022-09-01,2021-04-01-preview'.")).toEqual(['2022-09-01', '2021-04-01-preview']);
    expect(supportedVersionsIn('Resource group not found.')).toEqual([]);
  });
});
