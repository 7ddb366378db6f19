local m = import 'no-such.libsonnet';
m
