// ListerWatchers on @kubernetes/client-node: paginated lists through the generated API clients, watches through
// its Watch class (with bookmarks, a server-side timeout and an inactivity timeout matching the informer's).
import { CoreV1Api, CustomObjectsApi, Watch, type ConfigurationOptions, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
// Not re-exported from the package root (which has no "exports" map): the typed model (de)serializer and the
// Observable helper middlewares return.
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { of } from '@kubernetes/client-node/dist/gen/rxjsStub.js';
import type { ListResult, ListerWatcher, WatchHandle, WatchRequest } from './informer.js';

export interface Selectors {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface ListPageRequest extends Selectors {
  limit: number;
  _continue?: string;
}

export interface ListPage<T> {
  items?: T[];
  metadata?: { resourceVersion?: string; _continue?: string; continue?: string };
}

export interface KubeListerWatcherOptions<T> extends Selectors {
  kubeConfig: KubeConfig;
  description: string;
  /** API path of the collection, e.g. /apis/gpuvm.io/v1alpha1/namespaces/team-a/gpuvms. */
  path: string;
  /** One page of the list; pass `options` to the generated API call (it carries the abort signal). */
  listPage(request: ListPageRequest, options?: ConfigurationOptions): Promise<ListPage<T>>;
  /** Turns a raw watch object into the list's representation (default: as is). */
  decode?(raw: unknown): T;
  /** Page size of lists. Default 500. */
  pageSize?: number;
}

/** Request options that make a generated API call abortable with `signal`. */
export function abortable(signal: AbortSignal | undefined): ConfigurationOptions | undefined {
  if (!signal) return undefined;
  return {
    middleware: [
      {
        pre: (context) => {
          context.setSignal(signal);
          return of(context);
        },
        post: (response) => of(response),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/** A ListerWatcher from a list function and a watch path. */
export function kubeListerWatcher<T>(options: KubeListerWatcherOptions<T>): ListerWatcher<T> {
  const { kubeConfig, path, labelSelector, fieldSelector, listPage } = options;
  const decode = options.decode ?? ((raw: unknown) => raw as T);
  const pageSize = options.pageSize ?? 500;
  return {
    description: options.description,
    async list(signal?: AbortSignal): Promise<ListResult<T>> {
      const requestOptions = abortable(signal);
      const items: T[] = [];
      let cont: string | undefined;
      let resourceVersion: string;
      do {
        signal?.throwIfAborted();
        const page = await listPage({ limit: pageSize, _continue: cont, labelSelector, fieldSelector }, requestOptions);
        items.push(...(page.items ?? []));
        resourceVersion = page.metadata?.resourceVersion ?? '';
        cont = page.metadata?._continue ?? page.metadata?.continue;
      } while (cont);
      return { items, resourceVersion };
    },
    async watch(request: WatchRequest, onEvent, onClose): Promise<WatchHandle> {
      const watch = new Watch(kubeConfig);
      // Watch aborts a request after this long without bytes; the default (30 s) is shorter than the apiserver's
      // bookmark interval (about 1 min), which would restart every quiet watch.
      (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = request.inactivityTimeoutMs;
      const controller = await watch.watch(
        path,
        {
          resourceVersion: request.resourceVersion || undefined,
          allowWatchBookmarks: true,
          timeoutSeconds: request.timeoutSeconds,
          labelSelector,
          fieldSelector,
        },
        (type: string, object: unknown) => onEvent(type, type === 'ERROR' ? object : decode(object)),
        (error: unknown) => onClose(error ?? undefined),
      );
      return { abort: () => controller.abort() };
    },
  };
}

export interface CustomResourceRef extends Selectors {
  group: string;
  version: string;
  plural: string;
  /** Namespace to list and watch; omitted = cluster-scoped resources, or a namespaced resource in all namespaces. */
  namespace?: string;
  pageSize?: number;
}

/** Lists and watches custom resources (plain JSON objects, as the API returns them). */
export function customResourceListerWatcher<T>(kubeConfig: KubeConfig, ref: CustomResourceRef): ListerWatcher<T> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const { group, version, plural, namespace } = ref;
  const base = `/apis/${group}/${version}`;
  return kubeListerWatcher<T>({
    kubeConfig,
    description: `${plural}.${group}${namespace ? ` in namespace ${namespace}` : ''}`,
    path: namespace ? `${base}/namespaces/${namespace}/${plural}` : `${base}/${plural}`,
    labelSelector: ref.labelSelector,
    fieldSelector: ref.fieldSelector,
    pageSize: ref.pageSize,
    listPage: (page, options) =>
      (namespace
        ? api.listNamespacedCustomObject({ group, version, plural, namespace, ...page }, options)
        : api.listClusterCustomObject({ group, version, plural, ...page }, options)) as Promise<ListPage<T>>,
  });
}

export interface SecretsRef extends Selectors {
  /** Omitted = all namespaces. */
  namespace?: string;
  pageSize?: number;
}

/** Lists and watches Secrets as typed V1Secret objects (watch objects are deserialized like list items). */
export function secretListerWatcher(kubeConfig: KubeConfig, ref: SecretsRef = {}): ListerWatcher<V1Secret> {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const { namespace } = ref;
  return kubeListerWatcher<V1Secret>({
    kubeConfig,
    description: `secrets${namespace ? ` in namespace ${namespace}` : ''}`,
    path: namespace ? `/api/v1/namespaces/${namespace}/secrets` : '/api/v1/secrets',
    labelSelector: ref.labelSelector,
    fieldSelector: ref.fieldSelector,
    pageSize: ref.pageSize,
    listPage: (page, options) =>
      namespace ? api.listNamespacedSecret({ namespace, ...page }, options) : api.listSecretForAllNamespaces(page, options),
    decode: (raw) => ObjectSerializer.deserialize(raw, 'V1Secret', '') as V1Secret,
  });
}
