//! Execution of parsed templates, with Go's semantics.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::funcs::{self, P};
use crate::gofmt::sprint_value;
use crate::parse::{Arg, Command, Node, Num, Pipe, Tree};
use crate::value::Value;
use crate::{Error, ErrorKind, Limits};

/// Fuel and output for executions of templates: a fresh one per execution, or one shared by
/// several ([`crate::TemplateSet::set_budget`]) so that they are bounded together (Helm renders
/// a chart's templates, its sub-charts' included, against one).
#[derive(Debug)]
pub struct Budget {
    fuel: Cell<u64>,
    output: Cell<usize>,
    limits: Limits,
    scope: Option<String>,
}

impl Budget {
    /// `limits.fuel` steps and `limits.output_bytes` bytes (its depth is not used: nesting is
    /// bounded per execution).
    pub fn new(limits: Limits) -> Budget {
        Budget {
            fuel: Cell::new(limits.fuel),
            output: Cell::new(0),
            limits,
            scope: None,
        }
    }

    /// The same, shared by what `scope` names (`every template of chart "shop"`): the limit
    /// errors say so, next to the template that ran out.
    pub fn shared_by(limits: Limits, scope: impl Into<String>) -> Budget {
        Budget {
            scope: Some(scope.into()),
            ..Budget::new(limits)
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Steps taken so far.
    pub fn fuel_used(&self) -> u64 {
        self.limits.fuel - self.fuel.get()
    }

    /// Bytes charged so far (output, and the strings functions built).
    pub fn output_used(&self) -> usize {
        self.output.get()
    }

    /// Whether a limit was hit: every further execution fails at once.
    pub fn is_exhausted(&self) -> bool {
        self.fuel.get() == 0 || self.output.get() > self.limits.output_bytes
    }

    /// `LIMIT` or `LIMIT, shared by SCOPE`, as the limit errors print it.
    fn describe(&self, limit: String) -> String {
        match &self.scope {
            Some(s) => format!("{limit}, shared by {s}"),
            None => limit,
        }
    }
}

/// What every state of one execution shares.
pub(crate) struct Run {
    pub budget: Rc<Budget>,
    pub depth: usize,
    pub lookup: Option<crate::Lookup>,
}

/// An error while evaluating: either already formatted (from a nested
/// template) or a message to be placed at the current node.
pub(crate) enum Fail {
    Done(Error),
    Msg(String),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Done(e)
    }
}

pub(crate) type R<T> = Result<T, Fail>;

pub(crate) enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) struct State {
    pub defs: Rc<crate::Defs>,
    pub tree: Rc<Tree>,
    pub name: String,
    vars: Vec<(String, Value)>,
    pub out: String,
    pub run: Rc<Run>,
    pub depth: usize,
    /// position and text of the node being evaluated
    at_pos: usize,
    at_text: String,
    pub include_counts: Rc<std::cell::RefCell<HashMap<String, usize>>>,
}

pub(crate) fn execute(
    defs: Rc<crate::Defs>,
    budget: Rc<Budget>,
    depth: usize,
    lookup: Option<crate::Lookup>,
    name: &str,
    data: &Value,
) -> Result<String, Error> {
    let left = budget
        .limits
        .output_bytes
        .saturating_sub(budget.output.get());
    let run = Rc::new(Run {
        budget,
        depth,
        lookup,
    });
    let Some(tree) = defs.get(name).cloned() else {
        return Err(Error {
            kind: ErrorKind::Exec,
            message: format!("template: no template {name:?} associated with template {name:?}"),
        });
    };
    let mut st = State::new(defs, tree, run, 0, Default::default());
    // what one encoded value may take: what is left of the output budget
    let saved = crate::value::set_output_cap(left);
    let r = st.run(data);
    crate::value::set_output_cap(saved);
    r?;
    Ok(st.out)
}

impl State {
    pub fn new(
        defs: Rc<crate::Defs>,
        tree: Rc<Tree>,
        run: Rc<Run>,
        depth: usize,
        include_counts: Rc<std::cell::RefCell<HashMap<String, usize>>>,
    ) -> State {
        State {
            name: tree.name.clone(),
            defs,
            tree,
            vars: Vec::new(),
            out: String::new(),
            run,
            depth,
            at_pos: 0,
            at_text: String::new(),
            include_counts,
        }
    }

    /// Runs this state's tree with `data` as dot and `$`.
    pub fn run(&mut self, data: &Value) -> Result<(), Error> {
        self.vars = vec![("$".into(), data.clone())];
        let tree = self.tree.clone();
        match self.walk_list(data, &tree.root) {
            Ok(_) => Ok(()),
            Err(Fail::Done(e)) => Err(e),
            Err(Fail::Msg(m)) => Err(self.exec_error(m)),
        }
    }

    pub fn exec_error(&self, msg: String) -> Error {
        let loc = self.tree.location(self.at_pos);
        Error {
            kind: ErrorKind::Exec,
            message: format!(
                "template: {loc}: executing {:?} at <{}>: {msg}",
                self.name, self.at_text
            ),
        }
    }

    fn fail_here(&self, msg: String) -> Fail {
        Fail::Done(self.exec_error(msg))
    }

    fn at(&mut self, pos: usize, text: String) {
        self.at_pos = pos;
        self.at_text = text;
    }

    pub fn step(&mut self) -> R<()> {
        let b = &self.run.budget;
        let f = b.fuel.get();
        if f == 0 {
            let limit = b.describe(b.limits.fuel.to_string());
            return Err(self.limit_error(format!("evaluation step limit ({limit}) exceeded")));
        }
        b.fuel.set(f - 1);
        Ok(())
    }

    /// Charges `n` steps at once (for work proportional to a value's size).
    pub fn steps(&mut self, n: usize) -> R<()> {
        let b = &self.run.budget;
        let f = b.fuel.get();
        if (n as u64) >= f {
            b.fuel.set(0);
            return self.step();
        }
        b.fuel.set(f - n as u64);
        Ok(())
    }

    pub fn charge_output(&mut self, n: usize) -> R<()> {
        let b = &self.run.budget;
        let total = b.output.get().saturating_add(n);
        b.output.set(total);
        if total > b.limits.output_bytes {
            let limit = b.describe(format!("{} bytes", b.limits.output_bytes));
            return Err(self.limit_error(format!("output size limit ({limit}) exceeded")));
        }
        Ok(())
    }

    pub fn limit_error(&self, msg: String) -> Fail {
        Fail::Done(Error {
            kind: ErrorKind::Limit,
            message: format!(
                "template: {}: executing {:?}: {msg}",
                self.tree.location(self.at_pos),
                self.name
            ),
        })
    }

    fn write(&mut self, s: &str) -> R<()> {
        self.charge_output(s.len())?;
        self.out.push_str(s);
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &[Node]) -> R<Flow> {
        for n in list {
            match self.walk(dot, n)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &Node) -> R<Flow> {
        self.step()?;
        match node {
            Node::Text(t) => self.write(t)?,
            Node::Action(_, pipe) => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    let s = match &v {
                        Value::Nil => "<no value>".to_string(),
                        Value::Object(o) => match o.template_text() {
                            Some(t) => t,
                            None => sprint_value(&v),
                        },
                        v => sprint_value(v),
                    };
                    self.write(&s)?;
                }
            }
            Node::If(_, pipe, list, else_list) | Node::With(_, pipe, list, else_list) => {
                let is_with = matches!(node, Node::With(..));
                let mark = self.vars.len();
                let v = self.eval_pipeline(dot, pipe)?;
                let r = if v.truth() {
                    if is_with {
                        self.walk_list(&v, list)
                    } else {
                        self.walk_list(dot, list)
                    }
                } else if let Some(el) = else_list {
                    self.walk_list(dot, el)
                } else {
                    Ok(Flow::Normal)
                };
                self.vars.truncate(mark);
                return r;
            }
            Node::Range(_, pipe, list, else_list) => {
                return self.walk_range(dot, pipe, list, else_list.as_deref());
            }
            Node::Break(_) => return Ok(Flow::Break),
            Node::Continue(_) => return Ok(Flow::Continue),
            Node::Template(pos, name, pipe) => {
                self.at(
                    *pos,
                    format!(
                        "{{{{template {name:?}{}}}}}",
                        pipe.as_ref().map(|p| format!(" {p}")).unwrap_or_default()
                    ),
                );
                let Some(tree) = self.defs.get(name).cloned() else {
                    return Err(self.fail_here(format!("template {name:?} not defined")));
                };
                let v = match pipe {
                    Some(p) => self.eval_pipeline(dot, p)?,
                    None => Value::Nil,
                };
                if self.depth + 1 > self.run.depth {
                    return Err(self.fail_here(format!(
                        "exceeded maximum template depth ({})",
                        self.run.depth
                    )));
                }
                let mut sub = State::new(
                    self.defs.clone(),
                    tree,
                    self.run.clone(),
                    self.depth + 1,
                    self.include_counts.clone(),
                );
                let saved_out = std::mem::take(&mut self.out);
                sub.out = saved_out;
                let r = sub.run(&v);
                self.out = std::mem::take(&mut sub.out);
                r?;
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_range(
        &mut self,
        dot: &Value,
        pipe: &Pipe,
        list: &[Node],
        else_list: Option<&[Node]>,
    ) -> R<Flow> {
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, pipe)?.plain();
        let decl = &pipe.decl;
        let (len, entries): (i64, Vec<(String, Value)>) = match &val {
            Value::List(l) => (l.len() as i64, Vec::new()),
            Value::Map(m) => {
                let e: Vec<(String, Value)> = m
                    .borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                (e.len() as i64, e)
            }
            Value::Int(n) | Value::I64(n) => {
                if decl.len() > 1 {
                    return Err(self.fail_here(format!(
                        "can't use {n} to iterate over more than one variable"
                    )));
                }
                ((*n).max(0), Vec::new())
            }
            Value::Nil => (0, Vec::new()),
            v => {
                return Err(self.fail_here(format!("range can't iterate over {}", sprint_value(v))));
            }
        };
        if len == 0 {
            self.vars.truncate(mark);
            if let Some(el) = else_list {
                let r = self.walk_list(dot, el);
                self.vars.truncate(mark);
                return r;
            }
            return Ok(Flow::Normal);
        }
        for i in 0..len {
            self.step()?;
            let (idx, elem) = match &val {
                Value::List(l) => (
                    Value::Int(i),
                    l.get(i as usize).cloned().unwrap_or_default(),
                ),
                Value::Map(_) => {
                    let (k, v) = entries[i as usize].clone();
                    (Value::str(k), v)
                }
                _ => (Value::Int(i), Value::Int(i)),
            };
            if !decl.is_empty() {
                if pipe.is_assign {
                    if decl.len() > 1 {
                        self.set_var(&decl[0], idx)?;
                        self.set_var(&decl[1], elem.clone())?;
                    } else {
                        self.set_var(&decl[0], elem.clone())?;
                    }
                } else {
                    let n = self.vars.len();
                    if decl.len() > 1 {
                        self.vars[n - 2].1 = idx;
                        self.vars[n - 1].1 = elem.clone();
                    } else {
                        self.vars[n - 1].1 = elem.clone();
                    }
                }
            }
            let inner = self.vars.len();
            let r = self.walk_list(&elem, list)?;
            self.vars.truncate(inner);
            if let Flow::Break = r {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    fn set_var(&mut self, name: &str, v: Value) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(Fail::Msg(format!("undefined variable: {name}"))),
        }
    }

    fn var(&self, name: &str) -> R<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(Fail::Msg(format!("undefined variable: {name}"))),
        }
    }

    pub fn eval_pipeline(&mut self, dot: &Value, pipe: &Pipe) -> R<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or_default();
        for d in &pipe.decl {
            if pipe.is_assign {
                self.set_var(d, value.clone())?;
            } else {
                self.vars.push((d.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&mut self, cmd: &Command, final_: &Option<Value>) -> R<()> {
        if cmd.args.len() > 1 || final_.is_some() {
            let a = &cmd.args[0];
            return Err(Fail::Msg(format!(
                "can't give argument to non-function {a}"
            )));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &Command, final_: Option<Value>) -> R<Value> {
        self.step()?;
        let first = &cmd.args[0];
        match first {
            Arg::Field(pos, idents) => {
                self.at(*pos, first.to_string());
                self.field_chain(dot, dot.clone(), idents, cmd, &final_, first)
            }
            Arg::Var(pos, name, idents) => {
                self.at(*pos, first.to_string());
                let v = self.var(name)?;
                if idents.is_empty() {
                    self.not_a_function(cmd, &final_)?;
                    return Ok(v);
                }
                self.field_chain(dot, v, idents, cmd, &final_, first)
            }
            Arg::Chain(pos, node, idents) => {
                self.at(*pos, first.to_string());
                let v = self.eval_arg_any(dot, node)?;
                self.at(*pos, first.to_string());
                self.field_chain(dot, v, idents, cmd, &final_, first)
            }
            Arg::Ident(pos, name) => {
                self.at(*pos, name.clone());
                self.call(dot, name, cmd, final_)
            }
            Arg::Pipe(_, p) => {
                self.not_a_function(cmd, &final_)?;
                self.eval_pipeline(dot, p)
            }
            _ => {
                self.at(first.pos(), first.to_string());
                self.not_a_function(cmd, &final_)?;
                match first {
                    Arg::Bool(_, b) => Ok(Value::Bool(*b)),
                    Arg::Dot(_) => Ok(dot.clone()),
                    Arg::Nil(_) => Err(Fail::Msg("nil is not a command".into())),
                    Arg::Number(_, _, n) => Ok(num_value(*n)),
                    Arg::Str(_, _, s) => Ok(Value::str(s.as_str())),
                    _ => Ok(Value::Nil),
                }
            }
        }
    }

    fn field_chain(
        &mut self,
        dot: &Value,
        recv: Value,
        idents: &[String],
        cmd: &Command,
        final_: &Option<Value>,
        node: &Arg,
    ) -> R<Value> {
        let has_args = (cmd.args.len() > 1 || final_.is_some()) && std::ptr::eq(node, &cmd.args[0]);
        let call = has_args.then_some((dot, cmd, final_));
        self.walk_fields(recv, idents, call)
    }

    fn walk_fields(
        &mut self,
        mut v: Value,
        idents: &[String],
        call: Option<(&Value, &Command, &Option<Value>)>,
    ) -> R<Value> {
        // whether v is a map element (static type interface {})
        let mut typed = false;
        for (i, id) in idents.iter().enumerate() {
            let last = i + 1 == idents.len();
            let was_map = matches!(v, Value::Map(_));
            v = match (&v, call) {
                (Value::Object(o), Some((dot, cmd, final_))) if last => {
                    let o = o.clone();
                    let mut args = Vec::with_capacity(cmd.args.len());
                    for a in &cmd.args[1..] {
                        args.push(self.eval_arg_any(dot, a)?);
                    }
                    let last_arg = (self.at_pos, std::mem::take(&mut self.at_text));
                    if let Some(f) = final_ {
                        args.push(f.clone());
                    }
                    self.at(cmd.args[0].pos(), cmd.args[0].to_string());
                    match self.member(&*o, id, &args) {
                        // Go checks an argument's type where it evaluates it
                        Err(Fail::Msg(m))
                            if m.starts_with("wrong type for value")
                                && cmd.args.len() > 1
                                && final_.is_none() =>
                        {
                            self.at(last_arg.0, last_arg.1);
                            return Err(Fail::Msg(m));
                        }
                        r => r?,
                    }
                }
                _ => self.eval_field(&v, id, last && call.is_some(), typed)?,
            };
            typed = was_map;
        }
        Ok(v)
    }

    fn member(&mut self, o: &dyn crate::value::Object, name: &str, args: &[Value]) -> R<Value> {
        self.step()?;
        match o.member(name, args) {
            Some(Ok(v)) => {
                if let Value::Str(s) = &v {
                    self.charge_output(s.len())?;
                }
                Ok(v)
            }
            Some(Err(m)) => Err(Fail::Msg(m)),
            None => Err(Fail::Msg(format!(
                "can't evaluate field {name} in type {}",
                o.type_name()
            ))),
        }
    }

    /// Go's evalField on a map-typed world. `from_map` is whether the receiver
    /// is a map element (static type `interface {}`): a nil one is a nil
    /// pointer error, while a nil dot or variable yields nil silently.
    fn eval_field(&mut self, recv: &Value, name: &str, has_args: bool, from_map: bool) -> R<Value> {
        match recv {
            Value::Map(m) => {
                if has_args {
                    return Err(Fail::Msg(format!(
                        "{name} is not a method but has arguments"
                    )));
                }
                Ok(m.borrow().get(name).cloned().unwrap_or(Value::Nil))
            }
            Value::Nil if from_map => Err(Fail::Msg(format!(
                "nil pointer evaluating interface {{}}.{name}"
            ))),
            Value::Nil => Ok(Value::Nil),
            Value::Object(o) => {
                let o = o.clone();
                self.member(&*o, name, &[])
            }
            v => Err(Fail::Msg(format!(
                "can't evaluate field {name} in type {}",
                if from_map {
                    "interface {}"
                } else {
                    v.type_name()
                }
            ))),
        }
    }

    /// Evaluates an argument for an `interface{}` parameter.
    pub fn eval_arg_any(&mut self, dot: &Value, a: &Arg) -> R<Value> {
        self.at(a.pos(), a.to_string());
        match a {
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => Ok(Value::Nil),
            Arg::Bool(_, b) => Ok(Value::Bool(*b)),
            Arg::Number(_, _, n) => Ok(num_value(*n)),
            Arg::Str(_, _, s) => Ok(Value::str(s.as_str())),
            Arg::Field(_, idents) => self.walk_fields(dot.clone(), idents, None),
            Arg::Var(_, name, idents) => {
                let v = self.var(name)?;
                self.walk_fields(v, idents, None)
            }
            Arg::Chain(_, node, idents) => {
                let v = self.eval_arg_any(dot, node)?;
                self.at(a.pos(), a.to_string());
                self.walk_fields(v, idents, None)
            }
            Arg::Pipe(_, p) => self.eval_pipeline(dot, p),
            Arg::Ident(pos, name) => {
                let cmd = Command {
                    pos: *pos,
                    args: vec![a.clone()],
                };
                self.call(dot, name, &cmd, None)
            }
        }
    }

    /// Evaluates an argument for a typed parameter, as Go's evalArg does.
    fn eval_arg(&mut self, dot: &Value, a: &Arg, p: P) -> R<Value> {
        self.at(a.pos(), a.to_string());
        match (p, a) {
            (P::Any, _) => self.eval_arg_any(dot, a),
            (P::Str, Arg::Str(_, _, s)) => Ok(Value::str(s.as_str())),
            (P::Str, Arg::Number(..) | Arg::Bool(..) | Arg::Nil(_)) => {
                Err(Fail::Msg(format!("expected string; found {a}")))
            }
            (P::Int, Arg::Number(_, _, Num::Int(i))) => Ok(Value::Int(*i)),
            (P::Int, Arg::Number(..) | Arg::Str(..) | Arg::Bool(..) | Arg::Nil(_)) => {
                Err(Fail::Msg(format!("expected integer; found {a}")))
            }
            (P::Bool, Arg::Bool(_, b)) => Ok(Value::Bool(*b)),
            (P::Bool, Arg::Number(..) | Arg::Str(..) | Arg::Nil(_)) => {
                Err(Fail::Msg(format!("expected bool; found {a}")))
            }
            (P::Map, Arg::Nil(_)) => Ok(Value::Nil),
            (P::Map, Arg::Number(..) | Arg::Str(..) | Arg::Bool(..)) => Err(Fail::Msg(format!(
                "wrong type for value; expected map[string]interface {{}}; got {}",
                match a {
                    Arg::Str(..) => "string",
                    Arg::Bool(..) => "bool",
                    Arg::Number(_, _, Num::Float(_)) => "float64",
                    _ => "int",
                }
            ))),
            _ => {
                let v = self.eval_arg_any(dot, a)?;
                // a map element that is nil is a typed nil (interface {}),
                // which no concrete parameter type accepts
                let typed_nil = matches!(v, Value::Nil)
                    && match a {
                        Arg::Field(..) | Arg::Chain(..) => true,
                        Arg::Var(_, _, f) => !f.is_empty(),
                        _ => false,
                    };
                if typed_nil && p != P::Any {
                    let want = match p {
                        P::Str => "string",
                        P::Int => "int",
                        P::Bool => "bool",
                        _ => "map[string]interface {}",
                    };
                    return Err(Fail::Msg(format!(
                        "wrong type for value; expected {want}; got interface {{}}"
                    )));
                }
                self.validate(v, p)
            }
        }
    }

    fn validate(&self, v: Value, p: P) -> R<Value> {
        let want = match p {
            P::Any => return Ok(v),
            P::Str => "string",
            P::Int => "int",
            P::Bool => "bool",
            P::Map => "map[string]interface {}",
        };
        let ok = matches!(
            (p, &v),
            (P::Str, Value::Str(_))
                | (P::Int, Value::Int(_))
                | (P::Bool, Value::Bool(_))
                | (P::Map, Value::Map(_) | Value::Nil)
        );
        if ok {
            return Ok(v);
        }
        if let Value::Nil = v {
            return Err(Fail::Msg(format!("invalid value; expected {want}")));
        }
        Err(Fail::Msg(format!(
            "wrong type for value; expected {want}; got {}",
            v.type_name()
        )))
    }

    fn call(&mut self, dot: &Value, name: &str, cmd: &Command, final_: Option<Value>) -> R<Value> {
        let args = &cmd.args[1..];
        let cmd_text = cmd.to_string();
        // short-circuit builtins
        if name == "and" || name == "or" {
            let n = args.len() + usize::from(final_.is_some());
            if n == 0 {
                return Err(Fail::Msg(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                )));
            }
            let mut last = Value::Nil;
            for a in args {
                last = self.eval_arg_any(dot, a)?;
                let t = last.truth();
                if (name == "and" && !t) || (name == "or" && t) {
                    return Ok(last);
                }
            }
            if let Some(f) = final_ {
                last = f;
            }
            return Ok(last);
        }
        let Some(func) = funcs::lookup(name) else {
            return Err(Fail::Msg(format!("{name:?} is not a defined function")));
        };
        let nargs = args.len() + usize::from(final_.is_some());
        let fixed = func.params.len();
        if func.variadic.is_none() && nargs != fixed {
            return Err(Fail::Msg(format!(
                "wrong number of args for {name}: want {fixed} got {nargs}"
            )));
        }
        if func.variadic.is_some() && nargs < fixed {
            return Err(Fail::Msg(format!(
                "wrong number of args for {name}: want at least {fixed} got {nargs}"
            )));
        }
        let mut vals = Vec::with_capacity(nargs);
        for (i, a) in args.iter().enumerate() {
            let p = func
                .params
                .get(i)
                .copied()
                .or(func.variadic)
                .unwrap_or(P::Any);
            vals.push(self.eval_arg(dot, a, p)?);
        }
        if let Some(f) = final_ {
            let p = func
                .params
                .get(args.len())
                .copied()
                .or(func.variadic)
                .unwrap_or(P::Any);
            vals.push(self.validate(f, p)?);
        }
        if PLAIN_ARGS.contains(&name) {
            for v in vals.iter_mut() {
                if let Value::Object(o) = v {
                    *v = o.to_value();
                }
            }
        }
        self.step()?;
        // Go places a failing call at its command, and leaves a successful one where its
        // arguments' evaluation ended (where a later type error is reported)
        let before = (self.at_pos, std::mem::take(&mut self.at_text));
        self.at(cmd.pos, cmd_text);
        // a call's work grows with its arguments (`contains` scans its string, `has` its
        // list): large ones cost steps, so a loop over a huge value is bounded in time too
        let weight: usize = vals.iter().map(arg_weight).sum();
        if weight > 0 {
            self.steps(weight)?;
        }
        match (func.f)(self, dot, vals) {
            Ok(v) => {
                self.at(before.0, before.1);
                // strings a function builds count against the output bound,
                // so doubling a string in a loop cannot exhaust memory
                if let Value::Str(s) = &v {
                    self.charge_output(s.len())?;
                }
                Ok(v)
            }
            Err(Fail::Msg(m)) => Err(Fail::Msg(format!("error calling {name}: {m}"))),
            Err(Fail::Done(e)) if e.kind == ErrorKind::Limit => Err(Fail::Done(e)),
            Err(Fail::Done(e)) => Err(Fail::Msg(format!("error calling {name}: {}", e.message))),
        }
    }

    /// Executes a named template into a string (Helm's `include`).
    pub fn include(&mut self, name: &str, data: &Value) -> R<String> {
        let Some(tree) = self.defs.get(name).cloned() else {
            return Err(Fail::Msg(format!(
                "template: no template {name:?} associated with template \"gotpl\""
            )));
        };
        self.nested(tree, self.defs.clone(), data, name)
    }

    pub fn nested(
        &mut self,
        tree: Rc<Tree>,
        defs: Rc<crate::Defs>,
        data: &Value,
        name: &str,
    ) -> R<String> {
        if self.depth + 1 > self.run.depth {
            return Err(self.limit_error(format!(
                "rendering template has a nested reference name: {name}: unable to execute template (depth limit {})",
                self.run.depth
            )));
        }
        let mut sub = State::new(
            defs,
            tree,
            self.run.clone(),
            self.depth + 1,
            self.include_counts.clone(),
        );
        sub.run(data)?;
        Ok(sub.out)
    }
}

/// Functions that see an object's plain data (a Go map or slice) rather than
/// the object: comparisons, `len`, `index` and the collection helpers.
const PLAIN_ARGS: &[&str] = &[
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "len",
    "index",
    "slice",
    "empty",
    "keys",
    "values",
    "hasKey",
    "get",
    "dig",
    "sortAlpha",
    "has",
    "first",
    "last",
    "rest",
    "initial",
    "join",
    "toStrings",
    "uniq",
    "without",
    "compact",
    "reverse",
    "pick",
    "omit",
    "deepCopy",
];

/// The steps a call costs for an argument beyond its own step, about what scanning it takes
/// (a step is some 20 ns): one per 64 bytes of a string, one per 2 elements of a list or map.
fn arg_weight(v: &Value) -> usize {
    match v {
        Value::Str(s) => s.len() / 64,
        Value::List(l) => l.len() / 2,
        Value::Map(m) => m.borrow().len() / 2,
        _ => 0,
    }
}

pub(crate) fn num_value(n: Num) -> Value {
    match n {
        Num::Int(i) => Value::Int(i),
        Num::Float(f) => Value::Float(f),
    }
}
