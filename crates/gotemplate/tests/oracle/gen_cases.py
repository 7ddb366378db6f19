import json, sys
C = []
def case(name, t, values=None, files=None):
    C.append({"name": name, "t": t, "values": values or {}, "files": files or {}})

# --- text, actions, trimming, comments
case("text_only", "hello\nworld\n")
case("trim_both", "a  {{- 1 -}}  b\n{{- 2 }}\n  {{ 3 -}}\n c")
case("trim_comment", "x  {{- /* hi */ -}}  y{{/* c */}}z")
case("comment_multiline", "a{{/* line1\nline2 */}}b")
case("negative_number_not_trim", "{{-3}} {{ -3 }}")
case("missing_prints_empty", "[{{ .Values.nope }}] [{{ .Values.nul }}]", {"nul": None})
case("print_nil", "{{ print .Values.nope }} {{ print nil }} {{ printf \"%v\" .Values.nope }}")
# --- literals
case("literals", "{{ \"a\\tb\\n\\u00e9\\x41\\101\" }} {{ `raw\\n` }} {{ 42 }} {{ 0x1F }} {{ 0o17 }} {{ 017 }} {{ 0b101 }} {{ 1_000 }} {{ 3.5 }} {{ 1e3 }} {{ 'a' }} {{ '\\n' }} {{ true }} {{ false }}")
case("float_printing", "{{ .Values.a }} {{ .Values.b }} {{ .Values.c }} {{ .Values.d }} {{ .Values.e }} {{ .Values.f }} {{ .Values.g }} {{ 1e21 }} {{ 0.0001 }} {{ 0.00001 }}",
     {"a": 3, "b": 1000000, "c": 123456, "d": 1.5, "e": 1234567.0, "f": -0.25, "g": 100000})
case("print_maps_lists", "{{ .Values.m }} {{ .Values.l }} {{ .Values.e }} {{ list 1 \"a\" nil true 2.5 }} {{ dict \"b\" 1 \"a\" (list 1 2) }}",
     {"m": {"z": 1, "a": "x", "n": {"k": [1, 2]}}, "l": ["a", "b", {"c": None}], "e": {}})
# --- pipelines, variables
case("pipeline", "{{ \"abc\" | upper | printf \"%s-%s\" \"x\" }}")
case("paren_pipeline", "{{ (printf \"%d\" 3) }} {{ len (list 1 2 3) }} {{ (dict \"a\" (dict \"b\" 5)).a.b }}")
case("vars", "{{ $x := 1 }}{{ $x }}{{ $x = 2 }}{{ $x }}{{ $y := .Values.a }}{{ $y.b }}{{ $.Values.a.b }}", {"a": {"b": "B"}})
case("var_scope_if", "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ $y }}{{ end }}{{ $x }}")
case("var_scope_range", "{{ $s := 0 }}{{ range list 1 2 3 }}{{ $s = add $s . }}{{ end }}{{ $s }}")
case("var_decl_in_if_pipeline", "{{ if $v := .Values.a }}{{ $v }}{{ else }}none{{ end }}", {"a": "A"})
case("dollar_in_range", "{{ range .Values.l }}{{ $.Values.p }}{{ . }}{{ end }}", {"l": [1, 2], "p": "-"})
# --- if / else if / else
case("if_else_if", "{{ range list 0 1 2 }}{{ if eq . 0 }}zero{{ else if eq . 1 }}one{{ else }}many{{ end }},{{ end }}")
case("truthiness", "{{ range list 0 1 \"\" \"a\" nil (list) (list 1) (dict) (dict \"a\" 1) false true 0.0 }}{{ if . }}T{{ else }}F{{ end }}{{ end }}")
# --- range
case("range_list_idx", "{{ range $i, $v := .Values.l }}{{ $i }}={{ $v }};{{ end }}", {"l": ["a", "b"]})
case("range_map_sorted", "{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}{{ range .Values.m }}{{ . }}{{ end }}", {"m": {"b": 2, "a": 1, "c": 3}})
case("range_int", "{{ range 3 }}{{ . }}{{ end }}|{{ range $i := 2 }}{{ $i }}{{ end }}|{{ range 0 }}x{{ else }}none{{ end }}")
case("range_else", "{{ range .Values.l }}x{{ else }}empty{{ end }}{{ range .Values.missing }}x{{ else }}nil{{ end }}", {"l": []})
case("range_break_continue", "{{ range $i, $v := list 1 2 3 4 5 }}{{ if eq $v 2 }}{{ continue }}{{ end }}{{ if eq $v 4 }}{{ break }}{{ end }}{{ $v }}{{ end }}")
case("range_assign_outer", "{{ $v := 0 }}{{ range $v = list 7 8 }}{{ end }}{{ $v }}")
# --- with
case("with_else_with", "{{ with .Values.a }}{{ . }}{{ else with .Values.b }}b={{ . }}{{ else }}none{{ end }}|{{ with .Values.c }}c{{ else }}noc{{ end }}", {"b": "B"})
# --- define / template / block
case("define_template", "{{ template \"x\" . }}|{{ template \"y\" }}|{{ block \"z\" .Values }}default {{ .k }}{{ end }}",
     {"k": "K"}, {"_h.tpl": "{{ define \"x\" }}X:{{ .Values.k }}{{ end }}{{ define \"y\" }}Y:{{ . }}{{ end }}"})
case("block_overridden", "{{ block \"blk\" . }}default{{ end }}", {}, {"_o.tpl": "{{ define \"blk\" }}override{{ end }}"})
case("define_in_same_file", "{{ define \"local\" }}L{{ .}}{{ end }}{{ template \"local\" 5 }}")
# --- builtins
case("and_or", "{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 \"\" \"x\" }} {{ or 0 false }} {{ not 0 }} {{ not \"a\" }} {{ and .Values.a .Values.a.b }}", {})
case("cmp", "{{ eq 1 1 }} {{ eq \"a\" \"b\" \"a\" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }} {{ eq .Values.n 3.0 }} {{ eq .Values.missing nil }} {{ eq .Values.s \"x\" }}", {"n": 3, "s": "x"})
case("len_index_slice", "{{ len \"héllo\" }} {{ len .Values.l }} {{ len .Values.m }} {{ index .Values.l 1 }} {{ index .Values.m \"a\" }} {{ index .Values.n \"x\" 0 }} {{ index \"abc\" 1 }} {{ slice .Values.l 1 }} {{ slice .Values.l 1 2 }} {{ index .Values.m \"zz\" }}",
     {"l": [1, 2, 3], "m": {"a": "A"}, "n": {"x": ["deep"]}})
case("print_family", "{{ print 1 2 \"a\" \"b\" 3 }}|{{ println 1 \"a\" }}|{{ print }}|{{ printf \"%s=%d %v %q %x %X %5.2f %-4s| %04d %t %e %g %c %%\" \"a\" 42 (list 1) \"q\\\"\" 255 \"hi\" 3.14159 \"ab\" 7 true 1234.5678 0.000001 65 }}")
case("printf_bad_verbs", "{{ printf \"%d\" \"s\" }} {{ printf \"%s\" 5 }} {{ printf \"%d %d\" 1 }} {{ printf \"%d\" 1 2 }} {{ printf \"%s\" nil }} {{ printf \"%d\" .Values.f }} {{ printf \"%v %s\" .Values.m .Values.l }}", {"f": 8080, "m": {"a": 1}, "l": ["x"]})
case("html_js_urlquery", "{{ html \"<a href='x'>&\\\"</a>\" }} {{ js \"it's <b> & \\\"q\\\" = \\n\" }} {{ urlquery \"a b&c=d/é\" }} {{ html 1 2 }}")
# --- sprig strings
case("default_empty_coalesce", "{{ .Values.a | default \"d\" }} {{ .Values.z | default \"d\" }} {{ 0 | default 5 }} {{ empty \"\" }} {{ empty 0 }} {{ empty (list) }} {{ empty (dict \"a\" 1) }} {{ coalesce .Values.z \"\" 0 \"first\" \"second\" }} {{ ternary \"y\" \"n\" true }} {{ ternary \"y\" \"n\" false }}", {"a": "A"})
case("quote_squote", "{{ quote \"a\" 1 nil \"b\\\"c\" }} {{ squote \"a\" 2 }} {{ .Values.n | quote }} {{ quote .Values.missing }}|", {"n": 8080})
case("case_title", "{{ upper \"abc\" }} {{ lower \"ABC\" }} {{ title \"hello wORLD-foo bar_baz\" }}")
case("trim_family", "[{{ trim \"  a b  \" }}] [{{ trimSuffix \".yaml\" \"x.yaml\" }}] [{{ trimPrefix \"v\" \"v1.2\" }}] [{{ trimAll \"$\" \"$$5$\" }}]")
case("trunc", "{{ trunc 3 \"abcdef\" }} {{ trunc -2 \"abcdef\" }} {{ trunc 10 \"abc\" }} {{ \"abcdefghij\" | trunc 63 | trimSuffix \"-\" }}")
case("replace_contains", "{{ replace \"a\" \"b\" \"banana\" }} {{ contains \"an\" \"banana\" }} {{ hasPrefix \"ba\" \"banana\" }} {{ hasSuffix \"x\" \"banana\" }}")
case("indent_nindent", "a:{{ nindent 2 \"x: 1\\ny: 2\" }}\nb: {{ indent 4 \"p\\nq\" }}")
case("tostring_etc", "{{ toString 5 }} {{ toString .Values.f }} {{ toString nil }} {{ toStrings (list 1 \"a\" nil) }} {{ join \",\" (list 1 \"a\" 2.5) }} {{ join \"-\" .Values.l }}", {"f": 1.5, "l": ["x", "y"]})
case("split", "{{ $p := split \".\" \"a.b.c\" }}{{ $p._0 }}{{ $p._2 }} {{ splitList \",\" \"a,b,,c\" }} {{ len (splitList \",\" \"\") }}")
# --- sprig lists/dicts
case("list_dict", "{{ $d := dict \"a\" 1 \"b\" \"x\" }}{{ $d }} {{ get $d \"a\" }} [{{ get $d \"zz\" }}] {{ hasKey $d \"b\" }} {{ hasKey $d \"q\" }} {{ $_ := set $d \"c\" 3 }}{{ $d }} {{ $_ := unset $d \"a\" }}{{ $d }} {{ keys (dict \"k\" 1) }} {{ values (dict \"k\" 1) }} {{ keys $d | len }}")
case("set_mutates_shared", "{{ $d := dict }}{{ $e := $d }}{{ $_ := set $e \"k\" \"v\" }}{{ $d.k }} {{ $_ := set .Values \"new\" 1 }}{{ .Values.new }}")
case("pluck", "{{ pluck \"a\" (dict \"a\" 1) (dict \"b\" 2) (dict \"a\" 3) }}")
case("merge", "{{ $a := dict \"x\" 1 \"n\" (dict \"p\" 1) \"e\" \"\" }}{{ $b := dict \"x\" 2 \"y\" 2 \"n\" (dict \"p\" 2 \"q\" 2) \"e\" \"filled\" }}{{ merge $a $b }} {{ mergeOverwrite (dict \"x\" 1 \"n\" (dict \"p\" 1 \"r\" 1)) (dict \"x\" 2 \"n\" (dict \"p\" 2)) }}")
case("append_concat_first_last", "{{ append (list 1 2) 3 }} {{ concat (list 1) (list 2 3) (list) }} {{ first (list 1 2) }} {{ last (list 1 2) }} {{ first (list) }} {{ .Values.l | first }}", {"l": ["a", "b"]})
case("until_seq", "{{ until 3 }} {{ until 0 }} {{ seq 3 }} {{ seq 2 4 }} {{ seq 4 2 }} {{ seq 0 2 6 }} {{ range until 2 }}{{ . }}{{ end }}")
# --- sprig conversions/math
case("int_float_conv", "{{ int 3.9 }} {{ int \"42\" }} {{ int64 .Values.n }} {{ float64 3 }} {{ int nil }} {{ int \"x\" }} {{ float64 \"2.5\" }} {{ int true }}", {"n": 7})
case("math", "{{ add 1 2 3 }} {{ add .Values.n 1 }} {{ sub 10 3 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ mod 7 3 }} {{ max 1 5 3 }} {{ min 4 2 8 }} {{ add1 5 }} {{ add 1.9 1.9 }} {{ gt (int .Values.n) 5 }}", {"n": 7})
# --- encoding, crypto, regex, semver
case("b64_sha", "{{ b64enc \"hello\" }} {{ b64dec \"aGVsbG8=\" }} {{ sha256sum \"abc\" }}")
case("regex", "{{ regexMatch \"^[a-z]+$\" \"abc\" }} {{ regexMatch \"^[a-z]+$\" \"ab1\" }} {{ regexReplaceAll \"a(x*)b\" \"-ab-axxb-\" \"${1}W\" }} {{ regexReplaceAll \"[^a-z0-9-]\" \"My_App.v2\" \"-\" }}")
case("semver", "{{ semverCompare \">=1.19-0\" \"v1.36.0\" }} {{ semverCompare \"^1.2.0\" \"1.3.5\" }} {{ semverCompare \"^1.2.0\" \"2.0.0\" }} {{ semverCompare \"~1.2.0\" \"1.2.9\" }} {{ semverCompare \"~1.2.0\" \"1.3.0\" }} {{ semverCompare \">=1.0 <2\" \"1.5.0\" }} {{ semverCompare \"1.2.x\" \"1.2.7\" }} {{ semverCompare \"<1.20\" \"1.19.3\" }} {{ semverCompare \">1.0 || <0.5\" \"0.4.0\" }} {{ semverCompare \">=1.19\" \"1.20.0-beta.1\" }} {{ semverCompare \"=1.2.3\" \"1.2.3\" }} {{ semverCompare \"!=1.2.3\" \"1.2.3\" }} {{ semverCompare \"^0.2.3\" \"0.2.9\" }} {{ semverCompare \"^0.2.3\" \"0.3.0\" }}")
# --- yaml/json
case("toYaml", "{{ toYaml .Values }}", {"s": "true", "e": "", "l": [1, {"a": "x: y", "b": [1, 2]}, [3, 4]], "m": {}, "el": [], "ml": "a\nb\n", "ml2": "a\nb", "f": 1.5, "d": "2001-12-14", "y": "yes", "st": "*x", "n": None, "num": "123", "big": 1000000, "neg": -3, "long": "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr ssss", "hash": "a #b", "colon": "a:b", "q": "it's", "nested": {"deep": {"x": 1}}, "lm": [{"a": {"b": 1}}]})
case("toYaml_nindent", "spec:\n  {{- toYaml .Values.res | nindent 2 }}\n  x: {{ toYaml \"s\" }} {{ toYaml 3 }} {{ toYaml (list) }}", {"res": {"limits": {"cpu": "100m", "memory": "128Mi"}, "ports": [80, 443]}})
case("toJson", "{{ toJson .Values }} {{ toJson \"<&>\" }} {{ toJson 1.5 }} {{ toJson nil }}", {"a": [1, 2.5, "x"], "b": {"c": True}, "n": 1e21, "sm": 0.0000001})
case("fromYaml_fromJson", "{{ $y := fromYaml \"a: 1\\nb: [x, z]\\nc: {d: true}\" }}{{ $y.a }} {{ $y.b }} {{ $y.c.d }} {{ $j := fromJson \"{\\\"k\\\": [1, 2], \\\"s\\\": \\\"v\\\"}\" }}{{ $j.k }} {{ $j.s }} {{ (fromYaml \"a: [\").Error | empty | not }}")
# --- Helm functions
case("include_nindent", "data:{{ include \"lbl\" . | nindent 2 }}\nname: {{ include \"name\" . }}", {"n": "app"},
     {"_helpers.tpl": "{{- define \"name\" -}}\n{{ .Values.n | trunc 63 }}\n{{- end }}\n{{- define \"lbl\" -}}\napp: {{ include \"name\" . }}\nrel: {{ .Release.Name }}\n{{- end }}"})
case("include_with_dict", "{{ include \"kv\" (dict \"k\" \"a\" \"v\" 1) }}", {}, {"_h.tpl": "{{ define \"kv\" }}{{ .k }}={{ .v }}{{ end }}"})
case("tpl", "{{ tpl .Values.t . }} {{ tpl \"{{ .Values.x }}\" . }} {{ tpl \"{{ define \\\"inner\\\" }}I{{ end }}{{ include \\\"inner\\\" . }}\" . }} [{{ tpl \"{{ .missing }}\" . }}]", {"t": "{{ .Release.Name }}-{{ .Values.x }}", "x": "X"})
case("required_ok_lookup", "{{ required \"msg\" .Values.a }} {{ lookup \"v1\" \"Secret\" \"ns\" \"n\" }} {{ (lookup \"v1\" \"Secret\" \"ns\" \"n\").data | default \"none\" }}", {"a": "A"})
case("slice_sprig", "{{ slice .Values.l 1 }} {{ slice .Values.l 1 2 }} {{ slice .Values.l }}", {"l": [1, 2, 3]})
case("err_slice_string", "{{ slice \"hello\" 1 3 }}")
case("nil_dot_fields", "{{ template \"n\" }}|{{ with $x := .Values.missing }}{{ else }}{{ $x.a.b }}{{ end }}", {}, {"_n.tpl": "{{ define \"n\" }}[{{ .a.b }}]{{ end }}"})
case("err_field_on_var_string", "{{ $s := \"str\" }}{{ $s.x }}")
case("typical_chart", """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "fullname" . }}
  labels:
    {{- include "labels" . | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  template:
    spec:
      containers:
        - name: {{ .Chart.Name }}
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.Version }}"
          {{- with .Values.env }}
          env:
            {{- range $k, $v := . }}
            - name: {{ $k }}
              value: {{ $v | quote }}
            {{- end }}
          {{- end }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
""", {"replicaCount": 2, "autoscaling": {"enabled": False}, "image": {"repository": "nginx", "tag": ""}, "env": {"B": "2", "A": 1}, "resources": {"limits": {"cpu": "1"}}},
{"_helpers.tpl": """{{- define "fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- define "labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
"""})
# --- errors
case("err_nil_pointer", "{{ .Values.a.b }}")
case("err_nil_pointer_var", "{{ $x := .Values.a }}\n  {{ $x.b.c }}")
case("err_field_on_string", "{{ .Values.s.x }}", {"s": "str"})
case("err_gt_float_int", "{{ if gt .Values.n 1 }}x{{end}}", {"n": 3})
case("err_required", "{{ required \"need x\" .Values.x }}")
case("err_required_empty_string", "a\n{{ required \"need y\" .Values.y }}", {"y": ""})
case("err_fail", "{{ fail \"boom\" }}")
case("err_include_nested", "{{ include \"x\" . }}", {}, {"_h.tpl": "{{define \"x\"}}\n {{ .Values.a.b }}{{end}}"})
case("err_include_missing", "{{ include \"nope\" . }}")
case("err_template_missing", "{{ template \"nope\" . }}")
case("err_tpl", "{{ tpl \"{{ .a.b }}\" . }}")
case("err_wrong_type_indent", "{{ indent .Values.n \"x\" }}", {"n": 2})
case("err_wrong_type_upper", "{{ .Values.n | upper }}", {"n": 2})
case("err_index_out_of_range", "{{ index .Values.l 5 }}", {"l": [1]})
case("err_len_int", "{{ len 3 }}")
case("err_div_zero", "{{ div 1 0 }}")
case("err_range_float", "{{ range .Values.n }}{{ end }}", {"n": 3})
case("err_eq_incompatible", "{{ eq 1 2.0 }}")
case("err_noncomparable", "{{ eq (list 1) (list 1) }}")
case("err_field_args", "{{ .Values.a 1 }}", {"a": {"b": 1}})
case("err_nil_command", "{{ nil }}")
case("err_parse_undefined_func", "{{ nosuchfunc 1 }}")
case("err_parse_undefined_var", "line1\n{{ $nope }}")
case("err_parse_unclosed", "{{ if true }}x")
case("err_parse_unexpected_end", "x{{ end }}")
case("err_parse_unclosed_action", "{{ .Values.a ")
case("err_parse_break_outside", "{{ break }}")

# --- round 2: edge cases
case("yaml_quoting", "{{ toYaml .Values }}", {"on": "off", "k": "- x", "c": "a: b", "h": "#x", "t": "tab\there", "ts": "trail ", "ls": " lead", "ml_lead": "  a\nb", "ml_trail": "a \nb", "uni": "héllo", "amp": "&a", "star": "*", "pct": "%x", "at": "@x", "bt": "`x", "q1": "'", "q2": "\"", "dash": "-", "x1": "1.0", "x2": "1e3", "x3": "0x1F", "x4": ".5", "x5": "+1", "x6": "1_000", "x7": "null", "x8": "~", "x9": "-.inf", "nl2": "a\n\nb\n\n", "br": "[x]", "cb": "{x}", "gt": ">x", "pipe": "|x", "qm": "? x", "col": ":x", "excl": "!x", "cm": "a,b", "ddd": "---", "emptyl": [None], "float": 0.1, "ex": 1e-7, "bigf": 1.5e300, "neg0": -0.0})
case("yaml_nested_lists", "{{ toYaml .Values.a }}\n---\n{{ toYaml .Values.b }}", {"a": [[1, [2, 3]], {"x": [{"y": 1, "z": [4]}]}, []], "b": {"l": [{"m": {}}, {"n": []}]}})
case("printf_flags", "{{ printf \"[%5s][%-5s][%5d][%-5d][%+d][%05d][%x][%X][%o][%b][%08.3f][%.2s][%q][%c][%U][%e][%.3e][%g][%.3g][%G][% d][%#x][%#o][%t][%v][%6.2f%%]\" \"ab\" \"ab\" 42 42 5 -42 -255 255 8 5 3.14159 \"abcdef\" 65 9731 65 123456.789 0.00012345 1e-7 1234567.0 1e21 7 255 8 false 2.50 99.5 }}")
case("printf_collections", "{{ printf \"%v|%s|%d|%q|%v|%s\" (dict \"a\" (list 1 \"x\")) (list \"a\" \"b\") (list 1 2) (list \"a\") .Values.m (dict \"k\" 1) }}", {"m": {"f": 1.5, "n": None, "b": True}})
case("float_values_everywhere", "{{ .Values.a }} {{ .Values.b }} {{ .Values.c }} {{ .Values.d }} {{ .Values.e }} {{ .Values.f }} {{ list .Values.a .Values.b }} {{ toString .Values.b }} {{ quote .Values.b }} {{ .Values.b | int }} {{ .Values.b | int64 }} {{ printf \"%v\" .Values.b }} {{ toJson .Values.b }} {{ toYaml .Values.b }}", {"a": 0.1, "b": 1000000, "c": 1e-5, "d": 123456789, "e": -1.5e-10, "f": 12345.678})
case("trim_crlf", "a \r\n {{- 1 -}} \r\n b")
case("comment_trim_variants", "a {{- /* x */}} b {{/* y */ -}} c\n{{- /* z */ -}}\nd")
case("range_one_var_map", "{{ range $v := .Values.m }}{{ $v }}{{ end }}", {"m": {"b": 2, "a": 1}})
case("nested_range_break", "{{ range $i := list 1 2 }}{{ range $j := list 1 2 3 }}{{ if eq $j 2 }}{{ break }}{{ end }}{{ $i }}{{ $j }} {{ end }}{{ end }}")
case("shadowing", "{{ $x := 1 }}{{ range list 5 }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}{{ with 3 }}{{ $x := . }}{{ $x }}{{ end }}{{ $x }}")
case("dollar_rebind_in_template", "{{ template \"d\" .Values }}", {"k": "v"}, {"_d.tpl": "{{ define \"d\" }}{{ $.k }}{{ .k }}{{ end }}"})
case("template_in_range_dot", "{{ range .Values.l }}{{ template \"item\" . }}{{ end }}", {"l": ["a", "b"]}, {"_i.tpl": "{{ define \"item\" }}<{{ . }}>{{ end }}"})
case("with_var_decl", "{{ with $v := .Values.a }}{{ $v }}{{ . }}{{ end }}", {"a": "A"})
case("misc_sprig", "{{ default (list 1) .Values.z }} {{ default \"x\" (list) }} {{ empty 0.0 }} [{{ coalesce .Values.z \"\" }}] {{ quote (list 1 2) }} {{ toString (list 1 \"a\") }} {{ int64 \"3.7\" }} {{ div 7.9 2 }} {{ max 1.5 2.7 }} {{ add .Values.n 1.5 }} {{ until -3 }} {{ title \"élan vital\" }} {{ trunc -10 \"abc\" }} {{ join \",\" .Values.z }} [{{ get (dict) \"q\" }}] {{ dict \"a\" 1 \"b\" }} {{ hasKey .Values.z \"a\" }} {{ sha256sum \"é\" }} {{ regexReplaceAll \"(\\\\w+)@(\\\\w+)\" \"me@host you@there\" \"$2.$1\" }}", {"n": 2})
case("fromJson_array_error", "{{ (fromJson \"[1,2]\").Error }}|{{ (fromJson \"x\").Error }}|{{ (fromYaml \"- 1\").Error }}")
case("toJson_unicode", "{{ toJson \"é\\u2028<>&'\\\"\\\\\" }} {{ toJson (dict \"b\" 1 \"a\" (list)) }} {{ toJson (dict) }} {{ toJson .Values }}", {"f": 0.5, "i": 3, "big": 12345678901234567890})
case("eq_many_and_nil", "{{ eq .Values.missing nil }} {{ ne .Values.missing nil }} {{ eq \"a\" \"b\" \"c\" }} {{ eq nil .Values.s }} {{ and }}", {"s": "x"})
case("err_parse_bad_char", "{{ .Values.a & }}")
case("err_parse_unexpected_rparen", "{{ print 1) }}")
case("err_parse_bad_number", "{{ 1x }}")
case("err_parse_unterminated_string", "{{ \"abc }}")
case("err_parse_else_outside", "x{{ else }}y")
case("err_parse_missing_value", "{{ if }}x{{ end }}")
case("err_parse_empty_action", "{{ }}")
case("err_parse_define_nested", "{{ if 1 }}{{ define \"x\" }}{{ end }}{{ end }}")
case("err_parse_assign_undeclared", "{{ $y = 1 }}")
case("err_parse_pipe_literal", "{{ 1 | 2 }}")
case("err_ternary_non_bool", "{{ ternary 1 2 \"x\" }}")
case("err_wrong_args", "{{ upper }}")
case("err_wrong_args2", "{{ index }}")
case("err_nil_map_set", "{{ set .Values.missing \"a\" 1 }}")
case("err_range_two_vars_int", "{{ range $i, $v := 3 }}{{ end }}")
case("err_call_nil", "{{ call .Values.f }}")
case("err_index_nil", "{{ index .Values.missing \"a\" }}")
case("err_lt_bool", "{{ lt true false }}")
case("err_in_define_line", "{{ include \"deep\" . }}", {}, {"_d.tpl": "{{- define \"deep\" }}\nline2\n  line3 {{ .Values.x.y.z }}\n{{- end }}"})


# --- round 3: more sprig
case("more_lists", "{{ sortAlpha (list \"b\" \"a\" 3) }} {{ uniq (list 1 2 1 \"a\" \"a\") }} {{ has 2 (list 1 2) }} {{ has \"x\" (list 1 2) }} {{ without (list 1 2 3 2) 2 }} {{ rest (list 1 2 3) }} {{ initial (list 1 2 3) }} {{ reverse (list 1 2 3) }} {{ compact (list 1 \"\" nil 0 \"a\") }} {{ tuple 1 \"a\" }}")
case("more_strings", "{{ nospace \" a b\\tc \" }} {{ cat \"a\" 1 nil \"b\" }} {{ substr 1 3 \"hello\" }} {{ substr -1 2 \"hello\" }} {{ substr 2 99 \"hello\" }} {{ base \"a/b/c.txt\" }} {{ ext \"a/b/c.txt\" }} {{ atoi \"42\" }} {{ ceil 1.2 }} {{ floor 1.8 }} {{ regexFind \"[0-9]+\" \"ab123cd45\" }} {{ regexFindAll \"[0-9]+\" \"ab123cd45\" -1 }} {{ regexFindAll \"[0-9]+\" \"ab123cd45\" 1 }} {{ regexSplit \",\" \"a,b,c\" 2 }} {{ $p := splitn \"-\" 2 \"a-b-c\" }}{{ $p._1 }}")
case("kinds_types", "{{ kindOf .Values.m }} {{ kindOf .Values.l }} {{ kindOf .Values.s }} {{ kindOf .Values.f }} {{ kindOf .Values.b }} {{ kindOf nil }} {{ kindIs \"map\" .Values.m }} {{ kindIs \"slice\" .Values.m }} {{ typeOf .Values.m }} {{ typeOf .Values.l }} {{ typeOf .Values.s }} {{ typeOf .Values.f }} {{ typeIs \"string\" .Values.s }} {{ typeOf (list) }} {{ typeOf (dict) }}", {"m": {"a": 1}, "l": [1], "s": "x", "f": 1.5, "b": True})
case("dig_pick_omit", "{{ dig \"b\" \"def\" .Values.a }} {{ dig \"x\" \"y\" \"def\" .Values.a }} {{ dig \"a\" \"b\" \"def\" (dict \"a\" .Values.a) }} {{ pick .Values.a \"b\" }} {{ omit .Values.a \"b\" }} {{ mustMergeOverwrite (dict \"a\" 1) (dict \"a\" 2) }}", {"a": {"b": "B", "c": "C"}})
case("pretty_json_yaml_array", "{{ toPrettyJson .Values }}\n{{ toPrettyJson (list) }} {{ toPrettyJson (dict) }}\n{{ fromYamlArray \"- a\\n- b: 1\" }} {{ index (fromYamlArray \"a: 1\") 0 }}", {"a": [1, {"b": None}], "c": {}})


# --- round 4: YAML 1.1 reading
case("fromYaml_inf", "{{ (fromYaml \"k: .inf\").Error }}")
case("fromYaml_yaml11", "{{ $y := fromYaml .Values.doc }}{{ range $k, $v := $y }}{{ $k }}={{ $v }}({{ kindOf $v }}) {{ end }}", {"doc": "a: yes\nb: off\nc: 0777\nd: 0x1F\ne: 1_000\nf: 1.5e3\ng: ~\nh: 'yes'\ni: \"1\"\nj: 2001-12-14\nl: [y, n, On]\nm: &anc {x: 1}\nn: *anc\no:\n  <<: *anc\n  z: 2\n1: one\ntrue: t\np: |\n  lit\nq: >\n  folded\n  text\n"})


# --- round 5: YAML folding of long scalars
L = "word " * 30
case("yaml_folding", "{{ toYaml .Values }}", {
    "plain": L.strip(),
    "inlist": [L.strip(), {"k": L.strip()}],
    "quoted": "'" + L.strip(),
    "colon": "x: " + L.strip(),
    "doublespace": "aaaa  bbbb " * 12,
    "nospaces": "x" * 120,
    "deep": {"deeper": {"deepest": L.strip()}},
    "verylongkeyname_verylongkeyname_verylongkeyname_verylongkeyname_verylongkeyname": "v v v v v v v v v v v v v v v",
    "numstr": "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32",
    "dq": "true " + L,
    "ml": "line one\n" + L + "\n",
})


# --- round 6: Helm's error wording through include/template/tpl
H = {"_h.tpl": "{{ define \"req\" }}\n{{ required \"inner required\" .Values.nope }}{{ end }}{{ define \"gt\" }}{{ gt 1 2.0 }}{{ end }}{{ define \"two\" }}{{ include \"np\" . }}{{ end }}{{ define \"np\" }}{{ .Values.a.b }}{{ end }}{{ define \"tp\" }}{{ template \"np\" . }}{{ end }}"}
case("err_required_in_include", "x\n{{ include \"req\" . }}", {}, H)
case("err_func_in_include", "{{ include \"gt\" . }}", {}, H)
case("err_include_twice", "{{ include \"two\" . }}", {}, H)
case("err_template_in_include", "{{ include \"tp\" . }}", {}, H)
case("err_template_call", "{{ template \"np\" . }}", {}, H)
case("err_fail_in_tpl", "{{ tpl \"{{ fail \\\"in tpl\\\" }}\" . }}")


# --- round 7: the rest of sprig (strings, lists, math, paths, urls, encodings)
case("sprig_abbrev", "{{ abbrev 5 \"hello world\" }}|{{ abbrev 3 \"hello world\" }}|{{ abbrev 20 \"hello\" }}|{{ abbrev 4 \"hello\" }}|{{ abbrevboth 5 10 \"1234 5678 9123\" }}|{{ abbrevboth 0 7 \"abcdefghijklmno\" }}|{{ abbrevboth 10 8 \"abcdefghijklmnopqrstuvwxyz\" }}|{{ abbrevboth 2 5 \"abcdefghij\" }}|{{ abbrevboth 30 8 \"abcdefghijklmnop\" }}|{{ abbrev 6 \"héllo wörld\" }}|{{ abbrev 5 \"\" }}")
case("sprig_case", "{{ camelcase \"http_server\" }}|{{ camelcase \"_complex__case_\" }}|{{ camelcase \"some words here\" }}|{{ camelcase \"GOLANG_IS_GREAT\" }}|{{ camelcase \"x\" }}|{{ camelcase \"foo-bar\" }}|{{ camelcase \"FooBar\" }}|{{ snakecase \"FirstName\" }}|{{ snakecase \"HTTPServer\" }}|{{ snakecase \"NoHTTPS\" }}|{{ snakecase \"GO_PATH\" }}|{{ snakecase \"GO PATH\" }}|{{ snakecase \"http2xx\" }}|{{ snakecase \"HTTP20xOK\" }}|{{ snakecase \"Duration2m3s\" }}|{{ snakecase \"Bld4Floor3rd\" }}|{{ snakecase \"a.b-c d__e\" }}|{{ kebabcase \"FirstName\" }}|{{ kebabcase \"HTTPServer\" }}|{{ kebabcase \"my_app.name\" }}|{{ kebabcase \"Ünïcode Wörds\" }}")
case("sprig_swap_untitle_initials", "{{ swapcase \"This Is A.Test\" }}|{{ swapcase \"hello WORLD 123 éa\" }}|{{ untitle \"Hello World FOO\" }}|{{ initials \"First Try  again\" }}|{{ initials \"\" }}|{{ initials \"éa b\" }}|{{ plural \"one\" \"many\" 1 }}|{{ plural \"one\" \"many\" 2 }}|{{ plural \"one\" \"many\" 0 }}|{{ trimall \"$\" \"$$5.00$\" }}|{{ hello }}")
case("sprig_wrap", "{{ wrap 10 \"Lorem ipsum dolor sit amet, consectetur adipiscing\" }}|{{ wrapWith 5 \"\\t\" \"Hello World\" }}|{{ wrap 5 \"averyveryverylongword and more\" }}|{{ wrapWith 5 \"<br>\" \"averyveryverylongword and more\" }}|{{ wrap 0 \"a b c\" }}|{{ wrap 80 \"short\" }}|{{ wrap 3 \"  lead   spaces  \" }}")
case("sprig_hashes", "{{ sha1sum \"abc\" }}|{{ sha512sum \"abc\" }}|{{ adler32sum \"Wikipedia\" }}|{{ adler32sum \"\" }}|{{ sha1sum \"\" }}")
case("sprig_b32", "{{ b32enc \"\" }}|{{ b32enc \"f\" }}|{{ b32enc \"fo\" }}|{{ b32enc \"foo\" }}|{{ b32enc \"foob\" }}|{{ b32enc \"fooba\" }}|{{ b32enc \"foobar\" }}|{{ b32dec \"MZXW6YTBOI======\" }}|{{ b32dec \"MZXW6===\" }}|{{ b32dec (b32enc \"héllo\") }}|{{ b32dec \"!!!\" }}|{{ b32dec \"MZXW6YT1\" }}")
case("sprig_regex_more", "{{ regexQuoteMeta \"1.2.3+[a]*(b)?{c}|^$\\\\\" }}|{{ regexReplaceAllLiteral \"a(x*)b\" \"-ab-axxb-\" \"${1}\" }}|{{ mustRegexReplaceAllLiteral \"[0-9]\" \"a1b2\" \"$\" }}|{{ mustRegexFind \"[a-z]+\" \"123abc456\" }}|{{ mustRegexFindAll \"[0-9]\" \"a1b2c3\" 2 }}|{{ mustRegexSplit \"z+\" \"pizza\" -1 }}|{{ mustRegexMatch \"^a\" \"abc\" }}")
case("sprig_json_more", "{{ toRawJson .Values }}|{{ mustToRawJson \"<a&b>\" }}|{{ toRawJson (list \"\\\\u003c\" \"<\") }}|{{ mustToPrettyJson (dict \"a\" (list 1 2)) }}|{{ fromJsonArray \"[1, \\\"a\\\", {\\\"b\\\": null}, 2.5]\" }}|{{ fromJsonArray \"{}\" }}|{{ fromJsonArray \"[1,\" }}|{{ fromJsonArray \"null\" }}|{{ index (fromJsonArray \"[1e3]\") 0 }}", {"h": "<b>&amp;</b>", "n": 1})
case("sprig_flow_reflect", "{{ all 1 \"a\" (list 1) }}|{{ all 1 \"\" }}|{{ all }}|{{ any 0 \"\" nil (list) }}|{{ any 0 \"x\" }}|{{ any }}|{{ deepEqual (list 1 2) (list 1 2) }}|{{ deepEqual (dict \"a\" 1) (dict \"a\" 2) }}|{{ deepEqual 1 1.0 }}|{{ deepEqual .Values.a .Values.b }}|{{ typeIsLike \"string\" \"x\" }}|{{ typeIsLike \"int\" \"x\" }}|{{ mustDeepCopy (dict \"a\" (list 1)) }}", {"a": {"x": [1, 2]}, "b": {"x": [1, 2]}})
case("sprig_lists_more", "{{ prepend (list 1 2) 0 }}|{{ mustPrepend (list) \"a\" }}|{{ mustAppend (list 1) 2 }}|{{ mustPush (list 1) (list 2) }}|{{ chunk 2 (list 1 2 3 4 5) }}|{{ chunk 3 (list 1 2 3) }}|{{ chunk 2 (list) }}|{{ mustChunk 1 (list \"a\") }}|{{ mustFirst (list 1 2) }}|{{ mustLast (list 1 2) }}|{{ mustRest (list 1 2 3) }}|{{ mustInitial (list 1 2 3) }}|{{ mustReverse (list 1 2 3) }}|{{ mustUniq (list 1 1 2) }}|{{ mustWithout (list 1 2 3) 2 3 }}|{{ mustHas 2 (list 1 2) }}|{{ mustCompact (list 0 1 \"\" \"a\") }}|{{ mustSlice (list 1 2 3 4) 1 3 }}|{{ mustFirst (list) }}|{{ mustRest (list) }}")
case("err_mustFirst_string", "{{ mustFirst \"abc\" }}")
case("err_mustLast_map", "{{ mustLast (dict \"a\" 1) }}")
case("err_mustRest_int", "{{ mustRest 1 }}")
case("err_mustInitial_string", "{{ mustInitial \"x\" }}")
case("err_mustReverse_int", "{{ mustReverse 1 }}")
case("err_mustUniq_string", "{{ mustUniq \"x\" }}")
case("err_mustWithout_string", "{{ mustWithout \"x\" 1 }}")
case("err_mustHas_string", "{{ mustHas 1 \"x\" }}")
case("err_mustCompact_string", "{{ mustCompact \"x\" }}")
case("err_mustAppend_string", "{{ mustAppend \"x\" 1 }}")
case("err_mustPrepend_string", "{{ mustPrepend \"x\" 1 }}")
case("err_prepend_map", "{{ prepend (dict) 1 }}")
case("err_chunk_string", "{{ chunk 2 \"abc\" }}")
case("err_mustChunk_int", "{{ mustChunk 2 5 }}")
case("err_mustSlice_string", "{{ mustSlice \"abc\" 1 }}")
case("err_mustFirst_nil", "{{ mustFirst nil }}")
case("err_first_nil", "{{ first nil }}")
case("sprig_math_float", "{{ addf 1.1 2.2 }}|{{ addf 1 2 3 }}|{{ addf }}|{{ add1f 1.5 }}|{{ subf 10 3.3 }}|{{ subf 1.2 }}|{{ mulf 1.1 3 }}|{{ mulf 0.1 0.2 }}|{{ divf 10 4 }}|{{ divf 1 3 }}|{{ divf 2 3 }}|{{ divf -2 3 }}|{{ maxf 1 2.5 -3 }}|{{ minf 1 2.5 -3 }}|{{ biggest 1 7 3 }}|{{ addf \"1.5\" .Values.f }}|{{ mulf .Values.f 1e10 }}|{{ subf 0.3 0.1 }}", {"f": 0.25})
case("err_divf_zero", "{{ divf 1 0 }}")
case("sprig_round_todecimal", "{{ round 123.555555 3 }}|{{ round 123.5 0 }}|{{ round 123.4999 0 }}|{{ round 1.25 1 }}|{{ round 123.5 0 0.6 }}|{{ round -1.5 0 }}|{{ round .Values.f 1 }}|{{ toDecimal \"0777\" }}|{{ toDecimal 777 }}|{{ toDecimal \"8\" }}|{{ toDecimal \"-17\" }}|{{ toDecimal .Values.p }}|{{ toDecimal \"0o17\" }}", {"f": 2.345, "p": 644})
case("sprig_paths", "{{ dir \"/a/b/c.txt\" }}|{{ dir \"a\" }}|{{ dir \"/\" }}|{{ dir \"\" }}|{{ dir \"a/b/\" }}|{{ clean \"a//b/./c/../d/\" }}|{{ clean \"/../x\" }}|{{ clean \"../../a/..\" }}|{{ clean \"\" }}|{{ clean \"/a/b/../../..\" }}|{{ clean \"a/../..\" }}|{{ isAbs \"/x\" }}|{{ isAbs \"x/y\" }}|{{ osBase \"/a/b.c\" }}|{{ osDir \"/a/b.c\" }}|{{ osExt \"/a/b.c\" }}|{{ osClean \"/a/./b//\" }}|{{ osIsAbs \"/\" }}|{{ base \"\" }}|{{ ext \"a.b/c\" }}")
case("sprig_url", "{{ $u := urlParse \"https://user:pa%20ss@example.com:8443/a/b%20c?x=1&y=2#frag%21\" }}{{ $u.scheme }}|{{ $u.host }}|{{ $u.hostname }}|{{ $u.path }}|{{ $u.query }}|{{ $u.fragment }}|{{ $u.userinfo }}|{{ $u.opaque }}|{{ urlParse \"mailto:a@b.c\" }}|{{ urlParse \"/rel/path?q\" }}|{{ urlParse \"http://[::1]:80/\" }}|{{ urlJoin (dict \"scheme\" \"https\" \"host\" \"h.io\" \"path\" \"/a b\" \"query\" \"x=1\" \"fragment\" \"f g\" \"userinfo\" \"me:pw\") }}|{{ urlJoin (dict \"host\" \"h\" \"path\" \"p\") }}|{{ urlJoin (dict \"scheme\" \"mailto\" \"opaque\" \"a@b\") }}|{{ urlJoin (dict) }}|{{ urlJoin (urlParse \"http://x.y/z?q=1\") }}")
case("err_urlJoin_type", "{{ urlJoin (dict \"host\" 1) }}")
case("err_urlParse_bad", "{{ urlParse \"http://a b.com/%zz\" }}")
case("sprig_removed_env", "{{ env \"HOME\" }}")
case("sprig_removed_expandenv", "{{ expandenv \"$HOME\" }}")
case("sprig_getHostByName", "[{{ getHostByName \"localhost.invalid\" }}][{{ getHostByName \"localhost\" }}]")
case("sprig_random_shapes", "{{ len (randAlpha 5) }} {{ len (randAlphaNum 7) }} {{ len (randNumeric 3) }} {{ len (randAscii 4) }} {{ len (uuidv4) }} {{ len (shuffle \"abcd\") }} {{ randAlpha 0 }}|{{ randInt 3 4 }} {{ len (randBytes 3) }}")
case("err_randInt_empty", "{{ randInt 5 5 }}")

# --- round 8: dates (fixed instants; `now` and `ago` are checked by property in tests/sprig.rs)
case("date_formats", "{{ date \"2006-01-02 15:04:05\" 0 }}|{{ date \"Mon Jan _2 3:4:5 PM MST 06\" 1700000000 }}|{{ date \"Monday, January 2, 2006 03:04:05.000 pm -07:00 Z07:00 -0700 Z0700 -07\" 1700000000 }}|{{ date \"002 __2 .999 ,000 _2006 Jan2\" 1700000000 }}|{{ htmlDate 86400 }}|{{ date \"20060102150405\" (int64 1234567890) }}|{{ date \"2006\" -1 }}|{{ date \"15:04:05.999999999\" 1 }}")
case("date_in_zone", "{{ dateInZone \"2006-01-02 15:04 MST -0700\" 1700000000 \"America/New_York\" }}|{{ dateInZone \"2006-01-02 15:04 MST\" 1688000000 \"Europe/Berlin\" }}|{{ date_in_zone \"15:04 MST\" 0 \"Asia/Kolkata\" }}|{{ dateInZone \"15:04 MST\" 0 \"No/Such_Zone\" }}|{{ dateInZone \"15:04 MST\" 0 \"\" }}|{{ htmlDateInZone 1700000000 \"Pacific/Kiritimati\" }}|{{ dateInZone \"Z07:00 MST\" 0 \"UTC\" }}")
case("toDate", "{{ toDate \"2006-01-02\" \"2024-02-29\" }}|{{ toDate \"2006-01-02T15:04:05Z07:00\" \"2024-03-05T10:20:30+02:00\" }}|{{ toDate \"2006-01-02T15:04:05Z07:00\" \"2024-03-05T10:20:30Z\" }}|{{ toDate \"2006-01-02 15:04:05.000\" \"2024-03-05 10:20:30.123\" }}|{{ toDate \"2006-01-02 15:04:05\" \"2024-03-05 10:20:30.5\" }}|{{ toDate \"Jan 2 2006 3:04PM\" \"feb 9 2021 1:05am\" }}|{{ toDate \"2006-01-02 MST\" \"2024-03-05 CET\" }}|{{ toDate \"2006-01-02\" \"bogus\" }}|{{ toDate \"02/01/06\" \"31/12/99\" }}|{{ toDate \"2006-002\" \"2024-060\" }}")
case("toDate_chain", "{{ toDate \"2006-01-02\" \"2024-03-05\" | date \"Jan 2, 2006\" }}|{{ (toDate \"2006-01-02T15:04:05Z07:00\" \"2024-03-05T10:20:30+02:00\") | date \"15:04 -0700\" }}|{{ toDate \"2006-01-02\" \"2024-03-05\" | unixEpoch }}|{{ toDate \"2006-01-02T15:04:05Z\" \"2024-03-05T10:20:30Z\" | dateModify \"1h30m\" }}|{{ toDate \"2006-01-02\" \"2024-03-05\" | dateModify \"-24h\" | date \"2006-01-02\" }}|{{ toDate \"2006-01-02\" \"2024-03-05\" | dateModify \"bogus\" }}|{{ toDate \"2006-01-02\" \"2024-03-05\" | mustDateModify \"90s\" | htmlDate }}|{{ dateInZone \"2006-01-02 15:04 MST\" (toDate \"2006-01-02 15:04\" \"2024-07-01 12:00\") \"Asia/Tokyo\" }}")
case("err_mustToDate", "{{ mustToDate \"2006-01-02\" \"2024-13-01\" }}")
case("err_mustToDate_text", "{{ mustToDate \"2006-01-02\" \"24-01-01\" }}")
case("err_mustToDate_extra", "{{ mustToDate \"2006-01-02\" \"2024-01-01x\" }}")
case("err_mustToDate_day", "{{ mustToDate \"2006-01-02\" \"2023-02-29\" }}")
case("err_mustDateModify", "{{ toDate \"2006-01-02\" \"2024-03-05\" | mustDateModify \"5 days\" }}")
case("err_mustDateModify_unit", "{{ toDate \"2006-01-02\" \"2024-03-05\" | mustDateModify \"5d\" }}")
case("durations", "{{ duration \"3700\" }}|{{ duration (int64 86400) }}|{{ duration 0 }}|{{ duration \"-61\" }}|{{ duration \"x\" }}|{{ durationRound \"2h10m\" }}|{{ durationRound \"1h\" }}|{{ durationRound \"400h\" }}|{{ durationRound \"10000h\" }}|{{ durationRound \"-3m5s\" }}|{{ durationRound \"1.5s\" }}|{{ durationRound \"500ms\" }}|{{ durationRound (int64 7200000000000) }}|{{ durationRound \"bogus\" }}|{{ duration .Values.f }}", {"f": 60})
case("duration_strings", "{{ toDate \"2006-01-02\" \"2024-03-05\" | dateModify \"1.5h\" }}|{{ toDate \"2006-01-02\" \"2024-03-05\" | dateModify \"1h2m3.004005006s\" }}|{{ toDate \"2006-01-02\" \"2024-03-05\" | dateModify \"-1.25us\" }}|{{ toDate \"2006-01-02\" \"2024-03-05\" | dateModify \"+.5m\" }}|{{ toDate \"2006-01-02\" \"2024-03-05\" | dateModify \"0\" }}")

# --- round 9: TOML (BurntSushi/toml's encoder, as Helm's toToml runs it)
case("toToml_values", "{{ toToml .Values }}", {"a": 1, "b": "x\"y\\z\n\t\u0001\u007fé", "c": True, "d": 1.5, "e": [1, 2, 3], "f": {"g": {"h": 1}, "i": "j"}, "k": [{"l": 1}, {"m": 2}], "n": None, "o": [], "p": {}, "q": 1e21, "r": 1e-7, "s w": 1, "t.u": 2, "v": ["a", 1], "w": [[1, 2], ["x"]], "x": 12345678, "A": 1, "_z": 0, "big": 123456, "f2": 0.0001, "g2": 0.00001, "h2": 100000.0, "i2": 1000000.0, "neg": -2.5})
case("toToml_shapes", "{{ toToml \"x\" }}|{{ toToml (list 1 \"a\") }}|{{ toToml (dict) }}|{{ toToml 1.5 }}|{{ toToml true }}|{{ toToml (dict \"a\" 1 \"b\" 2.0 \"c\" (list (dict \"x\" 1) 2)) }}|{{ toToml (dict \"a\" (list (dict \"b\" (dict \"c\" 1)) (dict))) }}|{{ toToml (dict \"\" 1 \"é\" 2 \"a-b_C9\" 3 \"x\\ny\" 4) }}|{{ toToml (dict \"m\" (dict \"n\" nil \"o\" (list (list (dict \"p\" 1))))) }}|{{ toToml (dict \"a\" (dict \"b\" (list (dict \"c\" 1) (dict \"d\" (dict \"e\" 2))))) }}|{{ mustToToml (dict \"a\" (dict \"b\" (dict \"c\" (list 1)) \"d\" 1)) }}|{{ mustToToml 1 }}|{{ toToml (dict \"a\" (list 1 nil)) }}|{{ toToml (dict \"i\" (dict \"x\" (dict \"y\" (list 1)) \"z\" (list (dict \"q\" (dict))))) }}")
case("fromToml", "{{ $t := fromToml \"a = 1\\nb = 'x'\\nc = 1.5\\nd = true\\ne = [1, 2]\\n[f]\\ng = 'h'\\n[[i]]\\nj = 1\\n[[i]]\\nj = 2\\nk = 1979-05-27T07:32:00Z\\nl = 1979-05-27\\nm = 07:32:00\\nn = 1979-05-27T07:32:00.5\\no = 0x1f\\np = inf\\nq = 1e3\\nr = 1979-05-27T07:32:00-07:00\\ns = { t = [ { u = 1 } ] }\\n\\\"v w\\\".x = 2\" }}{{ $t }}|{{ add $t.a 1 }}|{{ kindOf $t.c }}|{{ typeOf $t.e }}|{{ $t.f.g }}|{{ (index $t.i 1).j }}|{{ fromToml \"\" }}|{{ hasKey (fromToml \"a = \") \"Error\" }}|{{ hasKey (fromToml \"[x]\\n[x]\") \"Error\" }}|{{ len (fromToml \"a = [1,\") }}")
case("err_mustToToml_nil", "{{ mustToToml (dict \"a\" (list nil)) }}")

# --- round 10: crypto helpers (the deterministic parts; bcrypt's salt is random: tests/sprig.rs)
case("derivePassword", "{{ derivePassword 1 \"long\" \"password\" \"user\" \"example.com\" }}|{{ derivePassword 2 \"maximum\" \"pw\" \"u\" \"s\" }}|{{ derivePassword 1 \"nope\" \"pw\" \"u\" \"s\" }}")
case("derivePassword_kinds", "{{ derivePassword 3 \"medium\" \"pw\" \"ü\" \"s\" }}|{{ derivePassword 1 \"short\" \"pw\" \"u\" \"s\" }}|{{ derivePassword 1 \"basic\" \"pw\" \"u\" \"s\" }}|{{ derivePassword 1 \"pin\" \"pw\" \"u\" \"s\" }}")
case("aes_roundtrip", "{{ decryptAES \"secretkey\" (encryptAES \"secretkey\" \"plaintext\") }}|{{ encryptAES \"k\" \"\" }}|{{ encryptAES \"k\" \"0123456789abcdef\" | len }}|{{ decryptAES \"k\" \"\" }}|{{ decryptAES \"a key longer than thirty-two bytes!!\" (encryptAES \"a key longer than thirty-two bytes!?\" \"héllo\") }}|{{ len (encryptAES \"k\" \"x\") }}")
case("htpasswd_shapes", "{{ htpasswd \"user\" \"pass\" | len }}|{{ htpasswd \"us:er\" \"pass\" }}|{{ htpasswd \"u\" \"p\" | trunc 9 }}|{{ bcrypt \"x\" | len }}|{{ bcrypt \"x\" | trunc 7 }}")
case("err_decryptAES_base64", "{{ decryptAES \"k\" \"notb64!\" }}")
case("err_decryptAES_short", "{{ decryptAES \"k\" \"YWJj\" }}")
case("err_decryptAES_blocks", "{{ decryptAES \"k\" \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM=\" }}")
case("err_htpasswd_args", "{{ htpasswd \"u\" \"p\" \"sha\" }}")

# --- round 11: certificates and keys (their shape; tests/sprig.rs parses and verifies them)
case("certs_shapes", "{{ $ca := genCA \"my-ca\" 365 }}{{ $ca.Cert | trunc 28 }}|{{ $ca.Key | trunc 31 }}|{{ $ca.Cert | trimSuffix \"\\n\" | splitList \"\\n\" | last }}|{{ $c := genSignedCert \"svc\" (list \"10.0.0.1\") (list \"svc.ns\") 30 $ca }}{{ $c.Cert | trunc 27 }}|{{ $c.Key | trunc 31 }}|{{ $s := genSelfSignedCert \"self\" nil nil 1 }}{{ $s.Key | trunc 31 }}|{{ $b := buildCustomCert ($ca.Cert | b64enc) ($ca.Key | b64enc) }}{{ eq $b.Cert $ca.Cert }} {{ eq $b.Key $ca.Key }}")
case("keys_shapes", "{{ genPrivateKey \"ecdsa\" | trunc 30 }}|{{ genPrivateKey \"ed25519\" | trunc 27 }}|{{ genPrivateKey \"nope\" }}|{{ $k := genPrivateKey \"ecdsa\" }}{{ $ca := genCAWithKey \"ca\" 3 $k }}{{ eq $ca.Key $k }}|{{ $e := genPrivateKey \"ed25519\" }}{{ $s := genSelfSignedCertWithKey \"x\" nil (list \"a.b\") 2 $e }}{{ eq $s.Key $e }}|{{ $t := genSignedCertWithKey \"y\" nil nil 2 $ca $e }}{{ eq $t.Key $e }}")
case("err_genSelfSignedCert_ip", "{{ genSelfSignedCert \"x\" (list \"not-an-ip\") nil 1 }}")
case("err_genCAWithKey_pem", "{{ genCAWithKey \"x\" 1 \"not a pem\" }}")
case("err_buildCustomCert_b64", "{{ buildCustomCert \"!!\" \"eA==\" }}")
case("err_buildCustomCert_pem", "{{ buildCustomCert \"eA==\" \"eA==\" }}")

# --- round 12: toYamlPretty (yaml.v3, indent 2)
L2 = "word " * 30
case("toYamlPretty_values", "{{ toYamlPretty .Values }}", {"a": [1, {"b": "c", "d": [1, 2]}, [3, [4]], []], "e": {"f": "yes", "g": "", "on": "off"}, "h": "a\nb\n", "h2": "a\nb", "h3": "  lead\nx", "i": 1.5, "j": None, "k": L2.strip(), "l": "x: y", "m": "#c", "n": "123", "o": {}, "p": [{"q": [{"r": 1}]}], "s": "tab\there", "t": "é", "u": 1e21, "v": 100000, "w": "- x", "x": "true", "y": "null", "z": "a'b", "zz": 'a"b', "long": "x" * 100, "dq": "true " + L2, "ml": "line one\n" + L2 + "\n", "trail": "a \nb", "nl2": "a\n\nb\n\n", "sp2": "aaaa  bbbb " * 12, "lst": ["a\nb\n", {"k": "c\nd"}, ["e\nf"]], "deep": {"x": {"y": ["  z\nw", {"q": "r\ns\n"}]}}})
case("toYamlPretty_shapes", "{{ toYamlPretty \"s\" }}|{{ toYamlPretty 1 }}|{{ toYamlPretty (list) }}|{{ toYamlPretty (dict) }}|{{ toYamlPretty nil }}|{{ toYamlPretty (list 1 (list 2 3) (dict \"a\" (list 4))) }}|{{ toYamlPretty \"a\\nb\" }}|{{ toYamlPretty (dict \"a\\nb\" 1 \"- k\" 2 \"\" 3) }}\nspec:\n  {{- toYamlPretty .Values.r | nindent 2 }}", {"r": {"limits": {"cpu": "1"}, "ports": [80, {"name": "x", "list": ["a"]}]}})

# --- int vs int64: sprig's math returns int64, template literals are int; Go's type switches tell them apart
case("int_and_int64_types", "{{ typeOf 1 }} {{ typeOf (add 1 2) }} {{ typeOf (int64 3) }} {{ typeOf (int 3) }} {{ typeOf (len (list 1)) }} {{ typeOf (max 1 2) }} {{ typeOf (mul 2 3) }} {{ kindOf (sub 3 1) }} {{ kindIs \"int64\" (add1 1) }}")
case("int64_duration", "{{ duration 3725 }} {{ duration (int64 3725) }} {{ duration \"95\" }} {{ duration .Values.n }} {{ durationRound (int64 3600000000000) }} {{ durationRound 5 }}", {"n": 60})
case("int64_compare_and_equal", "{{ eq (add 1 1) 2 }} {{ lt (int64 1) 2 }} {{ deepEqual (int64 1) 1 }} {{ deepEqual (int64 1) (add 0 1) }} {{ add 1 2 | printf \"%d %v %T\" 7 }}")

# --- round 13: semver (a *semver.Version of Masterminds/semver v3.4: its fields, methods and printing)
case("semver_print", "{{ semver \"1.2.3-beta.1+build\" }}|{{ semver \"v2\" }}|{{ semver \"1.2\" }}|{{ semver \"01.02.3\" }}|{{ print (semver \"1.0.0-rc.1\") }}|{{ printf \"%v %s %q\" (semver \"1.2.3\") (semver \"v1.2.4\") (semver \"1.2.5+m\") }}|{{ toString (semver \"3.4.5-x\") }}|{{ quote (semver \"1.2.3\") }}|{{ $v := semver \"0.0.0\" }}{{ if $v }}truthy{{ end }} {{ empty $v }} {{ default \"d\" $v }}")
case("semver_fields", "{{ $v := semver \"v1.2.3-beta.1+build.5\" }}{{ $v.Major }} {{ $v.Minor }} {{ $v.Patch }} [{{ $v.Prerelease }}] [{{ $v.Metadata }}] {{ $v.Original }} {{ $v.String }} {{ (semver \"1.2\").Original }} {{ (semver \"4.5.6\").Major }} {{ add (semver \"1.2.3\").Minor 1 }} {{ eq (semver \"1.2.3\").Patch 3 }} {{ typeOf (semver \"1.2.3\") }} {{ typeOf $v.Prerelease }}")
case("semver_methods", "{{ $v := semver \"1.2.3\" }}{{ $v.LessThan (semver \"1.3.0\") }} {{ $v.GreaterThan (semver \"1.3.0\") }} {{ $v.LessThanEqual (semver \"1.2.3\") }} {{ $v.GreaterThanEqual (semver \"1.2.4\") }} {{ $v.Equal (semver \"1.2.3+meta\") }} {{ $v.Equal nil }} {{ $v.Compare (semver \"1.0.0\") }} {{ (semver \"1.2.3\").Compare (semver \"1.2.3-rc\") }} {{ (semver \"1.2.3-rc.2\").Compare (semver \"1.2.3-rc.10\") }} {{ (semver \"1.2.3-b\").Compare (semver \"1.2.3-a.1\") }} {{ (semver \"1.2.3-1\").Compare (semver \"1.2.3-a\") }}|{{ $v.IncMajor }} {{ $v.IncMinor }} {{ $v.IncPatch }} {{ (semver \"1.2.3-rc+m\").IncPatch }} {{ typeOf $v.IncMajor }} {{ $v.IncMajor.Major }}|{{ $v.SetPrerelease \"rc.1\" }} {{ (semver \"1.2.3+m\").SetMetadata \"b.2\" }} {{ (semver \"1.2.3-x+y\").SetPrerelease \"\" }}")
case("semver_encode", "{{ toJson (semver \"1.2.3-rc.1\") }} {{ toYaml (semver \"v1.2.3\") }} {{ toJson (dict \"v\" (semver \"2.0\")) }} {{ (semver \"1.2.3\").IncMinor | toJson }}")
case("semver_with_semverCompare", "{{ $v := semver .Values.version }}{{ if semverCompare \">=1.19-0\" $v.String }}new{{ else }}old{{ end }} {{ semverCompare (printf \"^%d.0.0\" $v.Major) \"1.30.0\" }} {{ semverCompare \">=1.2.3-0\" \"1.2.3-beta.1+build\" }} {{ semverCompare \">=1.2.3\" \"01.2.3\" }} {{ semverCompare \"<2.0.0\" \"v1.9.9\" }}", {"version": "v1.21.4-gke.100"})
case("err_semver_invalid", "{{ semver \"foo\" }}")
case("err_semver_empty", "{{ semver \"\" }}")
case("err_semver_space", "{{ semver \" 1.2.3\" }}")
case("err_semver_four_parts", "{{ semver \"1.2.3.4\" }}")
case("err_semver_prerelease_zero", "{{ semver \"1.2.3-01\" }}")
case("err_semver_overflow", "{{ semver \"99999999999999999999.0.0\" }}")
case("err_semver_set_prerelease", "{{ (semver \"1.2.3\").SetPrerelease \"01\" }}")
case("err_semver_set_prerelease_empty_part", "{{ (semver \"1.2.3\").SetPrerelease \"a..b\" }}")
case("err_semver_set_metadata", "{{ (semver \"1.2.3\").SetMetadata \"a..b\" }}")
case("err_semver_nil_compare", "{{ (semver \"1.2.3\").LessThan nil }}")
case("err_semver_not_a_string", "{{ semverCompare \">=1.2\" (semver \"1.2.3\") }}")
case("err_semver_upper", "{{ semver \"1.2.3\" | upper }}")
case("err_semver_arg_type", "{{ $v := \"1.3.0\" }}{{ (semver \"1.2.3\").LessThan $v }}")
case("err_semver_number", "{{ semver 1.2 }}")
case("err_semverCompare_invalid_version", "{{ semverCompare \">1\" \"foo\" }}")
case("err_semverCompare_constraint_first", "{{ semverCompare \"foo\" \"bar\" }}")
case("err_semverCompare_improper_alternative", "{{ semverCompare \">1 || foo\" \"2.0.0\" }}")
case("err_semverCompare_prerelease_zero", "{{ semverCompare \">=1.2.3\" \"1.2.3-01\" }}")

json.dump(C, open(sys.argv[1], "w"), indent=1)
print(len(C))
