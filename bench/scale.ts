// Scale benchmarks of the controller (docs/BENCHMARKS.md): a real kube-apiserver + etcd, the device simulator
// over HTTPS, and the controller as its own process. Run: npm run bench [-- --scenario converge-1k --scale 0.1]
import '../scripts/resolveTsSources.ts';

const { runScaleBench } = await import('./support/scaleBench.ts');
await runScaleBench(process.argv.slice(2));
