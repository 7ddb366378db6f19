local cfg = importstr 'data/config.ini';
{
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'files' },
  data: {
    'config.ini': cfg,
    lines: std.length(std.split(cfg, '\n')),
  },
}
