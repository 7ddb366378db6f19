// jsonnet: -J lib --tla-str name=web --tla-code replicas=3
local k = import 'k.libsonnet';
function(name, replicas=1, image='nginx:1.27')
  k.deployment(name, image, replicas)
