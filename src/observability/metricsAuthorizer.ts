// Who may read /metrics when it is served securely, decided as controller-runtime's secure metrics
// (pkg/metrics/filters WithAuthenticationAndAuthorization) and kube-rbac-proxy do: the bearer token is checked
// with a TokenReview (authentication.k8s.io/v1) and the user it names must be allowed `get` on the
// non-resource URL /metrics by a SubjectAccessReview (authorization.k8s.io/v1). Grant it with the ClusterRole
// gpuvm-controller-metrics-reader.
import { createHash } from 'node:crypto';
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { abortable } from '../runtime/kubeListerWatcher.js';

export interface MetricsDecision {
  status: 200 | 401 | 403;
  /** Why, for the response body: never the token, never the reviewer's own error text. */
  reason: string;
}

/** The two reviews, behind an interface so the cache and the decision table are tested without an apiserver. */
export interface AccessReviewer {
  /** The user a token belongs to, or undefined when the apiserver does not authenticate it. */
  authenticate(token: string): Promise<{ user: string; uid?: string; groups: string[]; extra?: Record<string, string[]> } | undefined>;
  /** Whether that user may `get` `path`. */
  authorize(user: { user: string; uid?: string; groups: string[]; extra?: Record<string, string[]> }, path: string): Promise<boolean>;
}

export interface MetricsAuthorizerOptions {
  /** How long a decision is reused for the same token (controller-runtime and kube-rbac-proxy cache too). */
  ttlMs?: number;
  /** Entries kept at most; the oldest goes first. */
  maxEntries?: number;
  now?: () => number;
}

const BEARER = /^Bearer\s+([A-Za-z0-9._~+/=-]{1,8192})$/;

export class MetricsAuthorizer {
  private readonly decisions = new Map<string, { decision: MetricsDecision; expires: number }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** Reviews sent to the apiserver, for tests and the log. */
  reviews = 0;

  constructor(
    private readonly reviewer: AccessReviewer,
    options: MetricsAuthorizerOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.maxEntries = options.maxEntries ?? 1_000;
    this.now = options.now ?? Date.now;
  }

  async decide(authorization: string | undefined, path: string): Promise<MetricsDecision> {
    const token = BEARER.exec(authorization ?? '')?.[1];
    if (token === undefined) return { status: 401, reason: 'a bearer token is required (Authorization: Bearer <ServiceAccount token>)' };
    // The cache key is a hash: the token itself is never kept.
    const key = createHash('sha256').update(path).update('\0').update(token).digest('base64');
    const cached = this.decisions.get(key);
    if (cached !== undefined && cached.expires > this.now()) return cached.decision;
    const decision = await this.review(token, path);
    this.decisions.delete(key);
    this.decisions.set(key, { decision, expires: this.now() + this.ttlMs });
    while (this.decisions.size > this.maxEntries) {
      const oldest = this.decisions.keys().next().value;
      if (oldest === undefined) break;
      this.decisions.delete(oldest);
    }
    return decision;
  }

  private async review(token: string, path: string): Promise<MetricsDecision> {
    this.reviews += 1;
    const user = await this.reviewer.authenticate(token);
    if (user === undefined) return { status: 401, reason: 'the token was not authenticated' };
    this.reviews += 1;
    if (!(await this.reviewer.authorize(user, path))) {
      return { status: 403, reason: `user "${user.user}" may not get ${path}: bind the ClusterRole gpuvm-controller-metrics-reader` };
    }
    return { status: 200, reason: 'allowed' };
  }
}

/** The reviews against the cluster the controller runs in, each bounded by `timeoutMs`. */
export function kubeAccessReviewer(kubeConfig: KubeConfig, timeoutMs = 10_000): AccessReviewer {
  const authn = kubeConfig.makeApiClient(AuthenticationV1Api);
  const authz = kubeConfig.makeApiClient(AuthorizationV1Api);
  return {
    async authenticate(token) {
      const review = await authn.createTokenReview({ body: { spec: { token } } }, abortable(AbortSignal.timeout(timeoutMs)));
      const user = review.status?.user;
      if (review.status?.authenticated !== true || user?.username === undefined) return undefined;
      return {
        user: user.username,
        ...(user.uid !== undefined ? { uid: user.uid } : {}),
        groups: user.groups ?? [],
        ...(user.extra !== undefined ? { extra: user.extra } : {}),
      };
    },
    async authorize(user, path) {
      const review = await authz.createSubjectAccessReview(
        {
          body: {
            spec: {
              user: user.user,
              groups: user.groups,
              ...(user.uid !== undefined ? { uid: user.uid } : {}),
              ...(user.extra !== undefined ? { extra: user.extra } : {}),
              nonResourceAttributes: { path, verb: 'get' },
            },
          },
        },
        abortable(AbortSignal.timeout(timeoutMs)),
      );
      return review.status?.allowed === true;
    },
  };
}
