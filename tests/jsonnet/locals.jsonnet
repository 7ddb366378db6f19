local fib(n) = if n < 2 then n else fib(n - 1) + fib(n - 2);
local compose(f, g) = function(x) f(g(x));
local inc = function(x) x + 1;
local twice = compose(inc, inc);
{
  fib: [fib(i) for i in std.range(0, 15)],
  twice: twice(5),
  named: (function(a, b=10) a - b)(b=1, a=5),
  cond: if std.length([1, 2]) == 2 then 'two' else 'other',
  assertOk: (assert 1 + 1 == 2 : 'math'; 'fine'),
  errorsCaught: std.length(std.filter(function(x) x != null, [null, 1, null, 2])),
}
