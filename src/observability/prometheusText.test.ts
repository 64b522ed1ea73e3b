import { parsePrometheusText, sumSamples } from './prometheusText.js';

const text = `# HELP apiserver_request_total Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",group="gpuvm.io",resource="gpuvms",subresource="status",verb="PATCH"} 12
apiserver_request_total{code="409",group="gpuvm.io",resource="gpuvms",subresource="status",verb="PATCH"} 3
apiserver_request_total{code="201",group="",resource="secrets",verb="POST",note="a \\"quoted\\" value"} 4
process_start_time_seconds 1.7e+09
up 1 1700000000000
`;

test('parses names, labels (with escaped quotes), values and optional timestamps', () => {
  const samples = parsePrometheusText(text);
  expect(samples).toHaveLength(5);
  expect(samples[2]?.labels).toMatchObject({ resource: 'secrets', note: 'a \\"quoted\\" value' });
  expect(samples[3]).toEqual({ name: 'process_start_time_seconds', labels: {}, value: 1.7e9 });
  expect(samples[4]?.value).toBe(1);
});

test('sums the series whose labels include the given ones; undefined when none match', () => {
  const samples = parsePrometheusText(text);
  expect(sumSamples(samples, 'apiserver_request_total', { resource: 'gpuvms' })).toBe(15);
  expect(sumSamples(samples, 'apiserver_request_total', { resource: 'gpuvms', code: '409' })).toBe(3);
  expect(sumSamples(samples, 'apiserver_request_total', { resource: 'leases' })).toBeUndefined();
});

test('a line that is not a sample is an error naming the line', () => {
  expect(() => parsePrometheusText('garbage line here\n')).toThrow(/unparsable metrics line: garbage line here/);
});
