local o = { a: 1 };
{
  b: o.nope,
}
