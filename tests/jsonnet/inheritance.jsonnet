local Base = {
  name:: error 'name is required',
  labels:: { app: $.name },
  metadata: { name: $.name, labels: $.labels },
};
local Web = Base {
  name:: 'web',
  labels+:: { tier: 'frontend' },
  spec: { replicas: 2 },
};
[
  Web,
  Web { name:: 'web-canary', spec+: { replicas: 1 } },
]
