{
  name: 'guestbook-ui',
  image: 'gcr.io/heptio-images/ks-guestbook-demo:0.2',
  replicas: 2,
  port: 80,
}
