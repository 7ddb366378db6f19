local k = import 'k.libsonnet';
{
  app(name, port):: [k.deployment(name, 'example/' + name + ':1'), k.service(name, port)],
}
