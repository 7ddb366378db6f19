// jsonnet: --ext-str env=prod --ext-code cfg={"debug":false,"level":3}
{
  env: std.extVar('env'),
  debug: std.extVar('cfg').debug,
  level: std.extVar('cfg').level * 2,
}
