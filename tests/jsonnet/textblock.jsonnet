{
  script: |||
    #!/bin/sh
    echo "hello"
      indented line
  |||,
  verbatim: @'C:\path\no\escape',
  doubleVerbatim: @"say ""hi""",
  unicode: '\u00e9\u263A',
  multiline: 'a\nb\tc',
}
