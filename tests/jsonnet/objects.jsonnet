local base = { a: 1, b: { c: 2, d: [1, 2] }, hidden:: 'h' };
{
  fields: std.objectFields(base),
  fieldsAll: std.objectFieldsAll(base),
  values: std.objectValues(base),
  has: std.objectHas(base, 'hidden'),
  hasAll: std.objectHasAll(base, 'hidden'),
  mergePatch: std.mergePatch(base, { a: null, b: { c: 3, e: 4 } }),
  plus: base + { b+: { c: 20 } },
  get: std.get(base, 'missing', 'default'),
  mapWithKey: std.mapWithKey(function(k, v) k + '=' + std.toString(v), { p: 1, q: 'z' }),
  comprehension: { [k]: std.length(k) for k in ['one', 'three'] },
  prune: std.prune({ a: null, b: [], c: {}, d: 0, e: [null, 1] }),
  length: std.length(base),
  selfRef: { x: 10, y: self.x * 2 },
  outer: { a: 1, inner: { b: $.selfRef.x } },
}
