//! Output order: kustomize's legacy order (the default) and fifo.
