{
  types: [std.type(null), std.type(true), std.type(1), std.type('s'), std.type([]), std.type({}), std.type(function() 1)],
  checks: [std.isString('s'), std.isNumber(1), std.isBoolean(false), std.isArray([]), std.isObject({}), std.isFunction(std.length)],
  equality: [[1, 2] == [1, 2], { a: 1 } == { a: 1 }, 'a' == 'a', null == null, 1 == 1.0],
  inOperator: ['a' in { a: 1 }, 'b' in { a: 1 }],
  nullCoalesce: std.get({ a: null }, 'a', 'd'),
  objectFieldsEx: std.objectFieldsEx({ a: 1, b:: 2 }, true),
}
