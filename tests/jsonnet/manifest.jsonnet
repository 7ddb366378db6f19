local doc = { name: 'web', ports: [80, 443], tls: true, nested: { a: null, 'key with space': 'v' } };
{
  yaml: std.manifestYamlDoc(doc),
  yamlQuoted: std.manifestYamlDoc(doc, indent_array_in_object=true, quote_keys=false),
  yamlStream: std.manifestYamlStream([doc, { b: 2 }]),
  json: std.manifestJson(doc),
  jsonMinified: std.manifestJsonMinified(doc),
  jsonEx: std.manifestJsonEx(doc, '  '),
  ini: std.manifestIni({ main: { a: 1 }, sections: { s1: { x: 'y' } } }),
  python: std.manifestPython(doc),
  toml: std.manifestTomlEx({ a: 1, t: { b: 'c', arr: [1, 2] } }, '  '),
  xml: std.manifestXmlJsonml(['svg', { height: 10 }, ['g']]),
  envFile: std.lines(['A=1', 'B=2']),
}
