{
  keysSorted: { zeta: 1, alpha: 2, Mid: 3, '10': 4, '9': 5, '': 6 },
  unicodeKeys: { 'é': 1, e: 2, 'z': 3, 'Z': 4 },
  sortStrings: std.sort(['b', 'B', 'a', 'aa', '']),
  sortNumbers: std.sort([3.5, -1, 2, 0]),
}
