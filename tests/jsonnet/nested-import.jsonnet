// jsonnet: -J lib
// An import that itself imports (lib/deep.libsonnet imports k.libsonnet beside it).
local deep = import 'deep.libsonnet';
deep.app('api', 8080)
