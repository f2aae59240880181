// Reading the API's shapes: deployments' services and phases, gateways' routes, weights and conditions.

/** Every service of a deployment with its cluster name: [{cluster, service}]. */
export function servicesOf(deployment) {
  const out = [];
  for (const [cluster, c] of Object.entries(deployment?.clusters || {})) {
    for (const service of c.services || []) out.push({ cluster, service });
  }
  return out;
}

export function breedName(service) {
  const b = service?.breed;
  if (!b) return '?';
  return typeof b === 'string' ? b : b.name || b.reference || '?';
}

/** The phase of a service (`Done`, `Initiated`, `Updating`, `Failed`) and since when. */
export function phaseOf(service) {
  const phase = service?.status?.phase;
  return { name: phase?.name || 'Unknown', since: phase?.since || service?.status?.since, notification: phase?.notification,
    intention: service?.status?.intention };
}

/** One word for a whole deployment: the worst of its services' phases. */
export function deploymentPhase(deployment) {
  const phases = servicesOf(deployment).map(({ service }) => phaseOf(service).name);
  if (!phases.length) return 'Empty';
  for (const p of ['Failed', 'Initiated', 'Updating']) if (phases.includes(p)) return p;
  return phases.every((p) => p === 'Done') ? 'Done' : phases[0];
}

/** "host:port" for each port of an instance. */
export function instanceAddresses(instance) {
  const ports = Object.entries(instance?.ports || {});
  if (!ports.length) return [instance?.host || '?'];
  return ports.map(([name, port]) => ({ name, text: `${instance.host}:${port}` }));
}

/** "90%" → 90; null → null. */
export function parsePercent(v) {
  if (v === null || v === undefined || v === '') return null;
  const n = parseFloat(String(v));
  return Number.isNaN(n) ? null : n;
}

/** A route's condition as text: a string, `{condition: "..."}` or `{reference: name}`. */
export function conditionText(route) {
  const c = route?.condition;
  if (!c) return '';
  if (typeof c === 'string') return c;
  return c.condition || c.definition || (c.reference ? `${c.reference}` : '');
}

export function isConditionReference(route) {
  return Boolean(route?.condition && typeof route.condition === 'object' && route.condition.reference);
}

/** Integer weights for `n` routes that sum to 100 (largest remainder). */
export function distribute(total, shares) {
  const sum = shares.reduce((a, b) => a + b, 0);
  const n = shares.length;
  if (!n) return [];
  const raw = sum > 0 ? shares.map((s) => (s / sum) * total) : shares.map(() => total / n);
  const floors = raw.map(Math.floor);
  let left = total - floors.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => [r - Math.floor(r), i]).sort((a, b) => b[0] - a[0]);
  for (const [, i] of order) { if (left <= 0) break; floors[i] += 1; left -= 1; }
  return floors;
}

/** Sets weights[index] to value and rescales the others so the sum stays 100. */
export function rebalance(weights, index, value) {
  const v = Math.max(0, Math.min(100, Math.round(value)));
  if (weights.length === 1) return [100];
  const others = weights.map((w, i) => (i === index ? null : w)).filter((w) => w !== null);
  const spread = distribute(100 - v, others);
  const out = [];
  let j = 0;
  for (let i = 0; i < weights.length; i++) out.push(i === index ? v : spread[j++]);
  return out;
}

export const ARTIFACT_KINDS = [
  ['breeds', 'Breeds'], ['blueprints', 'Blueprints'], ['deployments', 'Deployments'], ['gateways', 'Gateways'],
  ['workflows', 'Workflows'], ['scales', 'Scales'], ['slas', 'SLAs'], ['escalations', 'Escalations'],
  ['conditions', 'Conditions'], ['routes', 'Routes'], ['rewrites', 'Rewrites'], ['templates', 'Templates'],
  ['releases', 'Releases'],
];
export const KIND_SINGULAR = {
  breeds: 'breed', blueprints: 'blueprint', deployments: 'deployment', gateways: 'gateway', workflows: 'workflow',
  scales: 'scale', slas: 'sla', escalations: 'escalation', conditions: 'condition', routes: 'route', rewrites: 'rewrite',
  templates: 'template', releases: 'release',
};
