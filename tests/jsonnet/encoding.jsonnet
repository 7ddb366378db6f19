{
  base64: std.base64('gitfleet:secret'),
  base64Decode: std.base64Decode('Z2l0ZmxlZXQ='),
  base64DecodeBytes: std.base64DecodeBytes('AQID'),
  base64Bytes: std.base64([1, 2, 3, 255]),
  md5: std.md5('gitfleet'),
  encodeUTF8: std.encodeUTF8('é€'),
  decodeUTF8: std.decodeUTF8([104, 105]),
  parseYaml: std.parseYaml('a: 1\nb: [x, y]\nc: {d: true}\n'),
}
