{
  check(n)::
    if n < 0 then
      error 'n must not be negative, got %d' % n
    else n,
}
