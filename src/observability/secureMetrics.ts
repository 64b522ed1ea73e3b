// --metrics-secure: the serving certificate (tls.crt/tls.key from --metrics-cert-dir, as controller-runtime's
// CertDir, e.g. a cert-manager Secret mounted there; otherwise a self-signed one made at start) and the
// TokenReview + SubjectAccessReview check for every scrape.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { createCertificateAuthority } from '../tls/certificateAuthority.js';
import type { SecureMetrics, ServingCertificate } from './httpServers.js';
import { MetricsAuthorizer, kubeAccessReviewer } from './metricsAuthorizer.js';

function servingCertificate(certDir: string | undefined, hostname: string): ServingCertificate {
  if (certDir === undefined) {
    // Prometheus scrapes pods by IP with insecure_skip_verify (or the CA it was given): a throwaway CA is enough.
    return createCertificateAuthority(`gpuvm-controller metrics ${hostname}`).issueServerCertificate([hostname, 'localhost'], ['127.0.0.1', '::1']);
  }
  const read = (file: string): string => {
    try {
      return readFileSync(join(certDir, file), 'utf8');
    } catch (err) {
      throw new Error(`--metrics-cert-dir ${certDir}: cannot read ${file} (${err instanceof Error ? err.message : String(err)}); put tls.crt and tls.key there, or omit the flag for a self-signed certificate`, { cause: err });
    }
  };
  return { certificatePem: read('tls.crt'), privateKeyPem: read('tls.key') };
}

export function secureMetrics(kubeConfig: KubeConfig, options: { certDir?: string; hostname: string }): SecureMetrics {
  const authorizer = new MetricsAuthorizer(kubeAccessReviewer(kubeConfig));
  return { certificate: servingCertificate(options.certDir, options.hostname), decide: (authorization, path) => authorizer.decide(authorization, path) };
}
