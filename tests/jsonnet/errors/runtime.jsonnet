local lib = import '../lib/fail.libsonnet';
{
  ok: 1,
  bad: lib.check(-1),
}
