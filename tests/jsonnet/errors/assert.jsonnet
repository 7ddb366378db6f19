local replicas = 0;
assert replicas > 0 : 'replicas must be positive';
{ replicas: replicas }
