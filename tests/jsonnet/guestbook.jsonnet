// jsonnet: -J lib
local k = import 'k.libsonnet';
local p = import 'params.libsonnet';
[k.service(p.name, p.port), k.deployment(p.name, p.image, p.replicas)]
