//! kustomize's content-hash name suffix (owner: to be written).
