// Redacts the secrets of a request body before the audit keeps it (option `auditBodies`): values of
// secure template parameters (securestring/secureObject: the value sent and any defaultValue) and every
// value under a key named like a secret (adminPassword, password, clientSecret, protectedSettings, tokens,
// keys). Strings become a marker that is not a template expression, so a replay still evaluates.
export const REDACTED = '***REDACTED***';

// Not bare "private": privateIPAddress / privateIPAllocationMethod are ordinary NIC properties.
const SECRET_KEY = /pass|secret|token|credential|protectedsettings|privatekey|key$/i;
const SECURE_TYPES = new Set(['securestring', 'secureobject']);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every leaf replaced, shape kept (a redacted object is still an object). */
function redactAll(value: unknown): unknown {
  if (typeof value === 'string') return REDACTED;
  if (typeof value === 'number') return 0;
  if (Array.isArray(value)) return value.map(redactAll);
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactAll(v)]));
  return value;
}

function redactKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactKeys);
  if (!isRecord(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? redactAll(v) : redactKeys(v)]));
}

/** Names (lower case) of a template's secure parameters, wherever a deployment body carries a template. */
function secureParameters(template: unknown): Set<string> {
  const names = new Set<string>();
  const params = isRecord(template) ? template['parameters'] : undefined;
  for (const [name, def] of Object.entries(isRecord(params) ? params : {})) {
    if (isRecord(def) && typeof def['type'] === 'string' && SECURE_TYPES.has(def['type'].toLowerCase())) names.add(name.toLowerCase());
  }
  return names;
}

/** A copy of `body` safe to keep: secure parameter values and secret-named keys redacted. */
export function redactBody(body: unknown): unknown {
  const copy = structuredClone(body);
  const props = isRecord(copy) ? copy['properties'] : undefined;
  const template = isRecord(props) ? props['template'] : undefined;
  // Template parameter declarations keep their shape ({type: securestring} stays a declaration); only
  // the default value of a secure or secret-named parameter is a secret there.
  const declarations = isRecord(template) && isRecord(template['parameters']) ? template['parameters'] : undefined;
  if (isRecord(props) && declarations !== undefined) {
    const secure = secureParameters(template);
    for (const [name, def] of Object.entries(declarations)) {
      const secret = secure.has(name.toLowerCase()) || SECRET_KEY.test(name);
      if (secret && isRecord(def) && 'defaultValue' in def) def['defaultValue'] = redactAll(def['defaultValue']);
    }
    const values = props['parameters'];
    if (isRecord(values)) {
      for (const [name, entry] of Object.entries(values)) {
        if (secure.has(name.toLowerCase()) && isRecord(entry) && 'value' in entry) entry['value'] = redactAll(entry['value']);
      }
    }
    delete (template as Record<string, unknown>)['parameters'];
  }
  const redacted = redactKeys(copy);
  if (declarations !== undefined) {
    const t = (redacted as { properties: { template: Record<string, unknown> } }).properties.template;
    t['parameters'] = declarations;
  }
  return redacted;
}
