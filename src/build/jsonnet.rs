//! Jsonnet: `*.jsonnet` files evaluated natively (rsjsonnet-lang, a pure-Rust implementation of
//! the language and its standard library), their `import`, `importstr` and `importbin` read
//! through the confined [`Source`] (relative to the importing file, then the library paths, the
//! last one first, as go-jsonnet and Argo CD resolve them). External variables, top-level
//! arguments and library paths are Argo CD's `directory.jsonnet` (`extVars`, `tlas`, `libs`).
//!
//! The evaluator has a call-depth limit but no fuel: a program can ask for unbounded time or
//! memory (`std.range(1, 1e12)`, a string doubled in a loop). So gitfleet evaluates each file in
//! a child process of its own binary (`gitfleet __jsonnet-eval`) with an address-space and CPU
//! limit, a wall-clock deadline and a bound on the output it reads back: a hostile program is an
//! error naming its file, never a hung or exhausted agent. The child gets an empty environment
//! and reads only through the same confined source. Where the running program is not gitfleet
//! (unit tests, benchmarks), the evaluation runs in-process on a thread with a large stack.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use rsjsonnet_lang::arena::Arena;
use rsjsonnet_lang::lexer::LexError;
use rsjsonnet_lang::parser::ParseError;
use rsjsonnet_lang::program::{
    AnalyzeError, Callbacks, EvalError, EvalErrorKind, EvalStackTraceItem, ImportError, LoadError,
    NativeError, Program, Thunk, Value as JValue,
};
use rsjsonnet_lang::span::{SpanContextId, SpanId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::source::{FileSource, LIMITS, Source};

/// The hidden first argument that makes the gitfleet binary a Jsonnet evaluator child.
pub const CHILD_ARG: &str = "__jsonnet-eval";
/// Address space one evaluation may map (the evaluator's heap, its thread's stack, the binary).
const MEMORY_LIMIT: u64 = 1 << 30;
/// CPU seconds one evaluation may use, and the wall-clock deadline around it.
const CPU_SECONDS: u64 = 30;
const WALL_CLOCK: Duration = Duration::from_secs(60);
/// The evaluation thread's stack (the parser recurses on nesting).
const STACK_BYTES: usize = 256 << 20;
/// Jsonnet's own default call-depth limit (`jsonnet --max-stack`).
const MAX_STACK: usize = 500;

/// Argo CD's `directory.jsonnet`: what a Sync's `spec.jsonnet` and the CLI's `--ext-var`,
/// `--ext-code`, `--tla`, `--tla-code` and `--jpath` give every `*.jsonnet` file of the path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JsonnetOptions {
    /// External variables (`std.extVar(name)`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ext_vars: Vec<JsonnetVar>,
    /// Top-level arguments, passed when a file evaluates to a function.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tlas: Vec<JsonnetVar>,
    /// Library paths, relative to the repository root, searched after the importing file's
    /// directory (the last one first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub libs: Vec<String>,
}

/// One external variable or top-level argument.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JsonnetVar {
    pub name: String,
    pub value: String,
    /// `value` is Jsonnet code (evaluated), not a string.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub code: bool,
}

impl JsonnetOptions {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.ext_vars.is_empty() && self.tlas.is_empty() && self.libs.is_empty()
    }
}

/// A problem, at a place in a repository file (relative path, 1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Located {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

#[derive(Serialize, Deserialize)]
struct Request {
    root: PathBuf,
    file: String,
    opts: JsonnetOptions,
}

#[derive(Serialize, Deserialize)]
enum Response {
    Ok(String),
    Err(Vec<Located>),
}

/// Evaluates `file` (relative to `root`) and returns its JSON, bounded as the module says.
pub fn evaluate(root: &Path, file: &str, opts: &JsonnetOptions) -> Result<String, Vec<Located>> {
    let request = Request {
        root: root.to_path_buf(),
        file: file.to_string(),
        opts: opts.clone(),
    };
    match std::env::current_exe() {
        Ok(exe) if exe.file_name().is_some_and(|n| n == "gitfleet") => isolated(&exe, &request),
        _ => on_thread(request),
    }
}

fn at_file(file: &str, message: String) -> Vec<Located> {
    vec![Located {
        file: file.to_string(),
        line: 1,
        column: 1,
        message,
    }]
}

fn on_thread(request: Request) -> Result<String, Vec<Located>> {
    let file = request.file.clone();
    std::thread::Builder::new()
        .name("jsonnet".into())
        .stack_size(STACK_BYTES)
        .spawn(move || evaluate_here(&request.root, &request.file, &request.opts))
        .map_err(|e| at_file(&file, format!("cannot start the Jsonnet evaluation: {e}")))?
        .join()
        .unwrap_or_else(|_| Err(at_file(&file, "the Jsonnet evaluation failed".into())))
}

/// Runs the evaluation in a child process of the gitfleet binary `exe`.
fn isolated(exe: &Path, request: &Request) -> Result<String, Vec<Located>> {
    let file = request.file.as_str();
    let fail = |m: String| at_file(file, m);
    let mut child = Command::new(exe)
        .arg(CHILD_ARG)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start the Jsonnet evaluator: {e}")))?;
    let body = serde_json::to_vec(request).expect("a request serialises");
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let limit = LIMITS.max_template_output as u64 + 64 * 1024;
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = (&mut stdout).take(limit + 1).read_to_end(&mut out);
        out
    });
    let mut stderr = child.stderr.take().expect("piped");
    let err_reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = (&mut stderr).take(16 * 1024).read_to_end(&mut out);
        out
    });
    let deadline = Instant::now() + WALL_CLOCK;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(fail(format!("the Jsonnet evaluator: {e}"))),
        }
    };
    let _ = writer.join();
    let out = reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(fail(format!(
            "the Jsonnet evaluation did not finish within {} s",
            WALL_CLOCK.as_secs()
        )));
    };
    if out.len() as u64 > limit {
        return Err(fail(format!(
            "the Jsonnet output is larger than {} MiB",
            LIMITS.max_template_output >> 20
        )));
    }
    if status.success()
        && let Ok(response) = serde_json::from_slice::<Response>(&out)
    {
        return match response {
            Response::Ok(json) => Ok(json),
            Response::Err(errors) => Err(errors),
        };
    }
    use std::os::unix::process::ExitStatusExt;
    let stderr = String::from_utf8_lossy(&err);
    Err(fail(if status.signal() == Some(libc::SIGXCPU) {
        format!("the Jsonnet evaluation used more than {CPU_SECONDS} s of CPU")
    } else if stderr.contains("memory allocation") {
        format!(
            "the Jsonnet evaluation needed more than {} MiB of memory",
            MEMORY_LIMIT >> 20
        )
    } else if status.signal() == Some(libc::SIGKILL) {
        "the Jsonnet evaluation was killed (out of memory under the container's limit?)".to_string()
    } else if stderr.contains("stack overflow") {
        "the Jsonnet program is nested too deeply".to_string()
    } else {
        format!("the Jsonnet evaluation failed ({status})")
    }))
}

/// The child's side: limits itself, reads a request on stdin, writes the response on stdout.
pub fn child_main() -> ExitCode {
    // The CPU limit's hard value is a second above the soft one: the soft one sends SIGXCPU,
    // which the parent reports as the CPU limit (at an equal hard limit the kernel sends
    // SIGKILL, indistinguishable from the OOM killer). No core file is written.
    for (resource, soft, hard) in [
        (libc::RLIMIT_AS, MEMORY_LIMIT, MEMORY_LIMIT),
        (libc::RLIMIT_CPU, CPU_SECONDS, CPU_SECONDS + 1),
        (libc::RLIMIT_CORE, 0, 0),
    ] {
        let lim = libc::rlimit {
            rlim_cur: soft as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        // SAFETY: setrlimit reads the struct it is given and changes only this process.
        if unsafe { libc::setrlimit(resource, &lim) } != 0 {
            eprintln!("setrlimit: {}", std::io::Error::last_os_error());
            return ExitCode::FAILURE;
        }
    }
    // Under a container's memory limit, the kernel's OOM killer picks this process, never the
    // agent that started it (raising one's own score needs no privilege).
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    let mut input = Vec::new();
    if std::io::stdin()
        .take(4 << 20)
        .read_to_end(&mut input)
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    let Ok(request) = serde_json::from_slice::<Request>(&input) else {
        return ExitCode::FAILURE;
    };
    let response = match on_thread(request) {
        Ok(json) => Response::Ok(json),
        Err(errors) => Response::Err(errors),
    };
    let out = serde_json::to_vec(&response).expect("a response serialises");
    if std::io::stdout().write_all(&out).is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// One loaded source: a repository file, or an external variable's or argument's code.
struct Loaded {
    ctx: SpanContextId,
    file: String,
    text: Vec<u8>,
}

struct State<'p> {
    src: Source,
    libs: Vec<String>,
    loaded: Vec<Loaded>,
    cache: HashMap<String, Thunk<'p>>,
    /// Why the last import failed (the evaluator's own error carries only the path).
    import_error: Option<Vec<Located>>,
}

/// Evaluates in this process and thread (the caller bounds it).
pub fn evaluate_here(
    root: &Path,
    file: &str,
    opts: &JsonnetOptions,
) -> Result<String, Vec<Located>> {
    let src = Source::new(root);
    let text = match src.read(file) {
        Ok(Some(text)) => text,
        Ok(None) => return Err(at_file(file, "no such file".into())),
        Err(e) => return Err(at_file(file, e.to_diagnostic().message)),
    };
    let arena = Arena::new();
    let mut program = Program::new(&arena);
    program.set_max_stack(MAX_STACK);
    let mut state = State {
        src,
        libs: opts.libs.clone(),
        loaded: Vec::new(),
        cache: HashMap::new(),
        import_error: None,
    };
    let main = state
        .load(&mut program, file, text.into_bytes())
        .map_err(|e| state.load_error(&program, &e))?;
    // Later definitions of a name win, as on jsonnet's command line.
    let ext: BTreeMap<&str, &JsonnetVar> =
        opts.ext_vars.iter().map(|v| (v.name.as_str(), v)).collect();
    for (name, var) in ext {
        let thunk = state.var_thunk(&mut program, "ext", var)?;
        let name = program.intern_str(name);
        program.add_ext_var(name, &thunk);
    }
    let value = program
        .eval_value(&main, &mut state)
        .map_err(|e| state.eval_error(&program, &e))?;
    let value = if value.is_function() {
        let tlas: BTreeMap<&str, &JsonnetVar> =
            opts.tlas.iter().map(|v| (v.name.as_str(), v)).collect();
        let mut named = Vec::new();
        for (name, var) in tlas {
            let thunk = state.var_thunk(&mut program, "tla", var)?;
            named.push((program.intern_str(name), thunk));
        }
        let func = program.value_to_thunk(&value);
        program
            .eval_call(&func, &[], &named, &mut state)
            .map_err(|e| state.eval_error(&program, &e))?
    } else {
        value
    };
    program
        .manifest_json(&value, true)
        .map_err(|e| state.eval_error(&program, &e))
}

impl<'p> State<'p> {
    fn load(
        &mut self,
        program: &mut Program<'p>,
        file: &str,
        text: Vec<u8>,
    ) -> Result<Thunk<'p>, LoadError> {
        let (ctx, _) = program.span_manager_mut().insert_source_context(text.len());
        let thunk = program.load_source(ctx, &text, true, file);
        self.loaded.push(Loaded {
            ctx,
            file: file.to_string(),
            text,
        });
        thunk
    }

    fn var_thunk(
        &mut self,
        program: &mut Program<'p>,
        what: &str,
        var: &JsonnetVar,
    ) -> Result<Thunk<'p>, Vec<Located>> {
        if !var.code {
            return Ok(program.value_to_thunk(&JValue::string(&var.value)));
        }
        let label = format!("<{what}:{}>", var.name);
        let thunk = self
            .load(program, &label, var.value.clone().into_bytes())
            .map_err(|e| self.load_error(program, &e))?;
        program
            .eval_value(&thunk, self)
            .map(|v| program.value_to_thunk(&v))
            .map_err(|e| self.eval_error(program, &e))
    }

    /// Where a span is: a loaded source's file, line and column.
    fn locate(&self, program: &Program<'p>, span: SpanId) -> Option<(String, u32, u32)> {
        let (ctx, start, _) = program.span_manager().get_span(span);
        let loaded = self.loaded.iter().find(|l| l.ctx == ctx)?;
        let before = &loaded.text[..start.min(loaded.text.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        Some((loaded.file.clone(), line as u32, column as u32))
    }

    fn at(&self, program: &Program<'p>, span: Option<SpanId>, message: String) -> Located {
        let (file, line, column) = span
            .and_then(|s| self.locate(program, s))
            .or_else(|| self.loaded.first().map(|l| (l.file.clone(), 1, 1)))
            .unwrap_or_default();
        Located {
            file,
            line,
            column,
            message,
        }
    }

    fn load_error(&self, program: &Program<'p>, e: &LoadError) -> Vec<Located> {
        let (span, message) = load_message(e);
        vec![self.at(program, Some(span), message)]
    }

    fn eval_error(&mut self, program: &Program<'p>, e: &EvalError) -> Vec<Located> {
        if let EvalErrorKind::ImportFailed { .. } = e.kind
            && let Some(errors) = self.import_error.take()
        {
            return errors;
        }
        let (span, message) = eval_message(&e.kind);
        // The error's own place when it is in the program (not in the standard library),
        // otherwise the innermost frame of the program's stack.
        let span = span
            .filter(|s| self.locate(program, *s).is_some())
            .or_else(|| {
                e.stack_trace
                    .iter()
                    .filter_map(trace_span)
                    .find(|s| self.locate(program, *s).is_some())
            });
        vec![self.at(program, span, message)]
    }

    /// Finds an import: beside the importing file, then in each library path (the last first).
    fn resolve(
        &mut self,
        program: &Program<'p>,
        from: SpanId,
        path: &str,
    ) -> Result<(String, Vec<u8>), ()> {
        let importer = self
            .locate(program, from)
            .map(|(f, _, _)| f)
            .unwrap_or_default();
        let fail = |this: &mut Self, message: String| {
            let at = this.at(program, Some(from), message);
            this.import_error = Some(vec![at]);
        };
        if path.starts_with('/') {
            fail(
                self,
                format!("import {path:?}: an absolute path is outside the repository"),
            );
            return Err(());
        }
        let dir = match importer.rsplit_once('/') {
            Some((dir, _)) if !importer.starts_with('<') => dir.to_string(),
            _ => String::new(),
        };
        let mut candidates = vec![join(&dir, path)];
        candidates.extend(self.libs.iter().rev().map(|lib| join(lib, path)));
        for rel in &candidates {
            let normal = match crate::source::normalize(rel) {
                Ok(n) => n.to_string_lossy().replace('\\', "/"),
                Err(p) => {
                    let e = crate::source::SourceError::new(rel.clone(), p);
                    fail(
                        self,
                        format!("import {path:?}: {}", e.to_diagnostic().message),
                    );
                    return Err(());
                }
            };
            match self.src.read_bytes(&normal) {
                Ok(Some(bytes)) => return Ok((normal, bytes)),
                Ok(None) => continue,
                Err(e) => {
                    fail(
                        self,
                        format!("import {path:?}: {}", e.to_diagnostic().message),
                    );
                    return Err(());
                }
            }
        }
        fail(
            self,
            format!(
                "import {path:?} not found (looked for {})",
                candidates.join(", ")
            ),
        );
        Err(())
    }
}

fn join(dir: &str, path: &str) -> String {
    if dir.is_empty() {
        path.to_string()
    } else {
        format!("{}/{path}", dir.trim_end_matches('/'))
    }
}

impl<'p> Callbacks<'p> for State<'p> {
    fn import(
        &mut self,
        program: &mut Program<'p>,
        from: SpanId,
        path: &str,
    ) -> Result<Thunk<'p>, ImportError> {
        let (rel, bytes) = self
            .resolve(program, from, path)
            .map_err(|()| ImportError)?;
        if let Some(thunk) = self.cache.get(&rel) {
            return Ok(thunk.clone());
        }
        match self.load(program, &rel, bytes) {
            Ok(thunk) => {
                self.cache.insert(rel, thunk.clone());
                Ok(thunk)
            }
            Err(e) => {
                self.import_error = Some(self.load_error(program, &e));
                Err(ImportError)
            }
        }
    }

    fn import_str(
        &mut self,
        program: &mut Program<'p>,
        from: SpanId,
        path: &str,
    ) -> Result<String, ImportError> {
        let (rel, bytes) = self
            .resolve(program, from, path)
            .map_err(|()| ImportError)?;
        String::from_utf8(bytes).map_err(|_| {
            let at = self.at(
                program,
                Some(from),
                format!("importstr {rel:?}: not UTF-8 text"),
            );
            self.import_error = Some(vec![at]);
            ImportError
        })
    }

    fn import_bin(
        &mut self,
        program: &mut Program<'p>,
        from: SpanId,
        path: &str,
    ) -> Result<Vec<u8>, ImportError> {
        self.resolve(program, from, path)
            .map(|(_, bytes)| bytes)
            .map_err(|()| ImportError)
    }

    /// `std.trace` messages are dropped: evaluation output is the manifests, and a trace could
    /// print values (ext vars) into logs.
    fn trace(&mut self, _: &mut Program<'p>, _: &str, _: &[EvalStackTraceItem]) {}

    fn native_call(
        &mut self,
        _: &mut Program<'p>,
        _: rsjsonnet_lang::interner::InternedStr<'p>,
        _: &[JValue<'p>],
    ) -> Result<JValue<'p>, NativeError> {
        Err(NativeError) // none registered
    }
}

fn trace_span(item: &EvalStackTraceItem) -> Option<SpanId> {
    match item {
        EvalStackTraceItem::Expr { span }
        | EvalStackTraceItem::Variable { span, .. }
        | EvalStackTraceItem::Import { span } => Some(*span),
        EvalStackTraceItem::Call { span, .. }
        | EvalStackTraceItem::ArrayItem { span, .. }
        | EvalStackTraceItem::ObjectField { span, .. } => *span,
        _ => None,
    }
}

/// `InvalidEscapeInString` → `invalid escape in string`.
fn words(variant: &str) -> String {
    let name = variant
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or(variant);
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn load_message(e: &LoadError) -> (SpanId, String) {
    match e {
        LoadError::Lex(e) => {
            let span = match e {
                LexError::InvalidChar { span, .. }
                | LexError::InvalidUtf8 { span, .. }
                | LexError::UnfinishedMultilineComment { span }
                | LexError::LeadingZeroInNumber { span }
                | LexError::MissingFracDigits { span }
                | LexError::MissingExpDigits { span }
                | LexError::MissingDigitAfterUnderscore { span }
                | LexError::ExpOverflow { span }
                | LexError::InvalidEscapeInString { span, .. }
                | LexError::IncompleteUnicodeEscape { span }
                | LexError::InvalidUtf16EscapeSequence { span, .. }
                | LexError::UnfinishedString { span }
                | LexError::MissingLineBreakAfterTextBlockStart { span }
                | LexError::MissingWhitespaceTextBlockStart { span }
                | LexError::InvalidTextBlockTermination { span } => *span,
            };
            let message = match e {
                LexError::InvalidChar { chr, .. } => format!("invalid character {chr:?}"),
                LexError::InvalidEscapeInString { chr, .. } => {
                    format!("invalid escape \\{chr} in a string")
                }
                other => words(&format!("{other:?}")),
            };
            (span, format!("syntax error: {message}"))
        }
        LoadError::Parse(ParseError::Expected {
            span,
            expected,
            instead,
        }) => {
            let expected: Vec<String> = expected
                .iter()
                .map(|t| token_words(&format!("{t:?}")))
                .collect();
            (
                *span,
                format!(
                    "syntax error: expected {}, found {}",
                    expected.join(" or "),
                    token_words(&format!("{instead:?}"))
                ),
            )
        }
        LoadError::Analyze(e) => match e {
            AnalyzeError::UnknownVariable { span, name } => {
                (*span, format!("unknown variable: {name}"))
            }
            AnalyzeError::SelfOutsideObject { self_span: span } => {
                (*span, "can't use self outside of an object".into())
            }
            AnalyzeError::SuperOutsideObject { super_span: span } => {
                (*span, "can't use super outside of an object".into())
            }
            AnalyzeError::DollarOutsideObject { dollar_span: span } => {
                (*span, "can't use $ outside of an object".into())
            }
            AnalyzeError::RepeatedLocalName {
                repeated_span,
                name,
                ..
            } => (*repeated_span, format!("duplicate local var: {name}")),
            AnalyzeError::RepeatedFieldName {
                repeated_span,
                name,
                ..
            } => (*repeated_span, format!("duplicate field: {name}")),
            AnalyzeError::RepeatedParamName {
                repeated_span,
                name,
                ..
            } => (*repeated_span, format!("duplicate parameter: {name}")),
            AnalyzeError::PositionalArgAfterNamed { arg_span } => (
                *arg_span,
                "positional argument after a named argument".into(),
            ),
            AnalyzeError::TextBlockAsImportPath { span } => {
                (*span, "a text block cannot be an import path".into())
            }
            AnalyzeError::ComputedImportPath { span } => {
                (*span, "computed imports are not allowed".into())
            }
        },
    }
}

/// `Simple(LeftBrace)` → `left brace`; `Ident("x")` → `identifier "x"`.
fn token_words(debug: &str) -> String {
    if let Some(rest) = debug.strip_prefix("Simple(") {
        return format!("'{}'", words(rest.trim_end_matches(')')));
    }
    if let Some(rest) = debug.strip_prefix("Ident(") {
        return format!("identifier {}", rest.trim_end_matches(')'));
    }
    if let Some(rest) = debug.strip_prefix("OtherOp(") {
        return format!("operator {}", rest.trim_end_matches(')'));
    }
    if debug == "Ident" {
        return "an identifier".into();
    }
    words(debug)
}

fn eval_message(kind: &EvalErrorKind) -> (Option<SpanId>, String) {
    use EvalErrorKind as K;
    let ty = |t: &rsjsonnet_lang::program::EvalErrorValueType| words(&format!("{t:?}"));
    match kind {
        K::StackOverflow => (None, format!("max stack frames ({MAX_STACK}) exceeded")),
        K::InfiniteRecursion => (None, "infinite recursion".into()),
        K::Other { span, message } => (*span, message.clone()),
        K::ExplicitError { span, message } => (Some(*span), message.clone()),
        K::AssertFailed { span, message } => (
            Some(*span),
            message
                .clone()
                .unwrap_or_else(|| "assertion failed".to_string()),
        ),
        K::AssertEqualFailed { lhs, rhs } => (None, format!("assertion failed: {lhs} != {rhs}")),
        K::UnknownObjectField { span, field_name } => {
            (Some(*span), format!("field does not exist: {field_name}"))
        }
        K::UnknownExtVar { name } => (None, format!("undefined external variable: {name}")),
        K::ImportFailed { span, path } => (Some(*span), format!("cannot import {path:?}")),
        K::CallParamNotBound { span, param_name } => (
            *span,
            format!("function parameter {param_name} not bound in call"),
        ),
        K::UnknownCallParam { span, param_name } => {
            (*span, format!("function has no parameter {param_name}"))
        }
        K::RepeatedCallParam { span, param_name } => {
            (*span, format!("argument {param_name} given more than once"))
        }
        K::TooManyCallArgs { span, num_params } => (
            *span,
            format!("too many arguments, function has {num_params} parameter(s)"),
        ),
        K::CalleeIsNotFunction { span, got_type } => (
            *span,
            format!("only functions can be called, got {}", ty(got_type)),
        ),
        K::InvalidBinaryOpTypes {
            span,
            op,
            lhs_type,
            rhs_type,
        } => (
            *span,
            format!(
                "binary operator {} does not operate on {} and {}",
                words(&format!("{op:?}")),
                ty(lhs_type),
                ty(rhs_type)
            ),
        ),
        K::InvalidUnaryOpType { span, op, rhs_type } => (
            Some(*span),
            format!(
                "unary operator {} does not operate on {}",
                words(&format!("{op:?}")),
                ty(rhs_type)
            ),
        ),
        K::InvalidStdFuncArgType {
            func_name,
            arg_index,
            got_type,
            ..
        } => (
            None,
            format!(
                "std.{func_name}: argument {} has the wrong type ({})",
                arg_index + 1,
                ty(got_type)
            ),
        ),
        K::NumericIndexOutOfRange {
            span,
            index,
            length,
        } => (
            Some(*span),
            format!("index {index} out of bounds, length {length}"),
        ),
        K::RepeatedFieldName { span, name } => {
            (Some(*span), format!("duplicate field name: {name}"))
        }
        K::InvalidIndexedType { span, got_type }
        | K::InvalidSlicedType { span, got_type }
        | K::SliceIndexOrStepIsNotNumber { span, got_type }
        | K::StringIndexIsNotNumber { span, got_type }
        | K::ArrayIndexIsNotNumber { span, got_type }
        | K::ObjectIndexIsNotString { span, got_type }
        | K::FieldNameIsNotString { span, got_type }
        | K::ForSpecValueIsNotArray { span, got_type }
        | K::CondIsNotBool { span, got_type } => (
            Some(*span),
            format!("{}, got {}", words(&format!("{kind:?}")), ty(got_type)),
        ),
        K::NumericIndexIsNotValid { span, .. }
        | K::FieldOfNonObject { span }
        | K::SuperWithoutSuperObject { span } => (Some(*span), words(&format!("{kind:?}"))),
        K::NumberNotBitwiseSafe { span }
        | K::NumberOverflow { span }
        | K::NumberNan { span }
        | K::DivByZero { span }
        | K::ShiftByNegative { span } => (*span, words(&format!("{kind:?}"))),
        other => (None, words(&format!("{other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(
        files: &[(&str, &str)],
        main: &str,
        opts: &JsonnetOptions,
    ) -> Result<String, Vec<Located>> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        evaluate(dir.path(), main, opts)
    }

    #[test]
    fn imports_resolve_beside_the_file_then_in_libs() {
        let files = [
            (
                "app/main.jsonnet",
                "local p = import 'params.libsonnet'; local k = import 'k.libsonnet'; {a: p.x, b: k.y}",
            ),
            ("app/params.libsonnet", "{x: 1}"),
            ("vendor/k.libsonnet", "{y: 'lib'}"),
        ];
        let opts = JsonnetOptions {
            libs: vec!["vendor".into()],
            ..Default::default()
        };
        let out = eval(&files, "app/main.jsonnet", &opts).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, serde_json::json!({"a": 1, "b": "lib"}));
    }

    #[test]
    fn imports_outside_the_repository_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "TOKEN").unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir(&root).unwrap();
        for (i, import) in ["../secret", "/etc/passwd"].iter().enumerate() {
            std::fs::write(
                root.join(format!("m{i}.jsonnet")),
                format!("importstr '{import}'"),
            )
            .unwrap();
            let e = evaluate(&root, &format!("m{i}.jsonnet"), &Default::default()).unwrap_err();
            assert_eq!(
                (e[0].file.as_str(), e[0].line, e[0].column),
                (format!("m{i}.jsonnet").as_str(), 1, 1),
                "{e:?}"
            );
            assert!(!e[0].message.contains("TOKEN"), "{e:?}");
        }
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link.txt")).unwrap();
        std::fs::write(root.join("s.jsonnet"), "importstr 'link.txt'").unwrap();
        let e = evaluate(&root, "s.jsonnet", &Default::default()).unwrap_err();
        assert!(e[0].message.contains("outside"), "{e:?}");
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let files = [
            (
                "main.jsonnet",
                "local lib = import 'lib.libsonnet';\n{\n  a: lib.f(1),\n}\n",
            ),
            ("lib.libsonnet", "{\n  f(x)::\n    error 'boom ' + x,\n}\n"),
        ];
        let e = eval(&files, "main.jsonnet", &Default::default()).unwrap_err();
        assert_eq!(
            (e[0].file.as_str(), e[0].line, e[0].column),
            ("lib.libsonnet", 3, 5),
            "{e:?}"
        );
        assert_eq!(e[0].message, "boom 1");
        let e = eval(
            &[("bad.jsonnet", "{\n  a: 1\n  b: 2\n}\n")],
            "bad.jsonnet",
            &Default::default(),
        )
        .unwrap_err();
        assert_eq!((e[0].line, e[0].column), (3, 3), "{e:?}");
    }

    #[test]
    fn ext_vars_and_top_level_arguments() {
        let files = [(
            "m.jsonnet",
            "function(replicas=1, name) { r: replicas, n: name, e: std.extVar('env') }",
        )];
        let opts = JsonnetOptions {
            ext_vars: vec![JsonnetVar {
                name: "env".into(),
                value: "prod".into(),
                code: false,
            }],
            tlas: vec![
                JsonnetVar {
                    name: "replicas".into(),
                    value: "2 + 1".into(),
                    code: true,
                },
                JsonnetVar {
                    name: "name".into(),
                    value: "web".into(),
                    code: false,
                },
            ],
            ..Default::default()
        };
        let out = eval(&files, "m.jsonnet", &opts).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, serde_json::json!({"r": 3, "n": "web", "e": "prod"}));
    }
}
