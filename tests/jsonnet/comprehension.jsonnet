local envs = ['dev', 'staging', 'prod'];
local sizes = { dev: 1, staging: 2, prod: 5 };
{
  apiVersion: 'v1',
  kind: 'List',
  items: [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'app-' + env, namespace: env },
      data: { replicas: std.toString(sizes[env]), isProd: std.toString(env == 'prod') },
    }
    for env in envs
    if sizes[env] > 1
  ],
}
