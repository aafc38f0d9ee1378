// SPDX-License-Identifier: GPL-2.0
//! The macro language of `marsadm view` (the original's "macro processor"): text with calls
//! `%name{arg}{arg}...`, variables `%{var}`, escapes `\x`, comments (`# ...`, `// ...`,
//! `/* ... */`) and line continuations (`\` newline).
//!
//! Arguments are evaluated lazily by the function that receives them (`%if` evaluates only the
//! branch taken). A name is looked up first as a macro (a user's macro file, then a built-in
//! complex macro), then as a primitive of the tree ([`Host::primitive`]); `%primitive-<name>`
//! skips the macro lookup. Everything is bounded: nesting depth, evaluation steps, loop
//! rounds and output length; exceeding a bound is an error, never a hang.

use std::collections::HashMap;

/// How deep macros and arguments may nest.
const MAX_DEPTH: usize = 100;
/// How many function calls one evaluation may make.
const MAX_STEPS: u64 = 2_000_000;
/// How long a result may grow.
const MAX_OUTPUT: usize = 16 << 20;

/// Why an evaluation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MacroError {
    /// Bad macro text or a refused operation: the message says which.
    Fail(String),
    /// A value this implementation does not have (the kernel does not publish it); the message
    /// says which indicator is missing.
    Unavailable(String),
}

impl MacroError {
    pub(crate) fn text(&self) -> String {
        match self {
            MacroError::Fail(t) => t.clone(),
            MacroError::Unavailable(t) => format!("not available: {t}"),
        }
    }
}

pub(crate) type MResult<T> = Result<T, MacroError>;

fn fail<T>(text: impl Into<String>) -> MResult<T> {
    Err(MacroError::Fail(text.into()))
}

/// What the language needs from its surroundings: macros by name, the primitives of the tree,
/// and a place for warnings.
pub(crate) trait Host {
    /// The text of the macro `name` (user file or built-in), if there is one.
    fn macro_text(&mut self, name: &str) -> Option<String>;
    /// Evaluates the primitive `name` with its (evaluated) arguments; `None`: no such
    /// primitive. An unavailable value yields the empty string inside macros (the callers
    /// test for it) and an error at the top ([`Evaluator::strict`]).
    fn primitive(&mut self, env: &Env, name: &str, args: &[String]) -> Option<MResult<String>>;
    /// Whether `name` is a primitive (`%include{<primitive>}` calls it with `%{1}`).
    fn is_primitive(&self, _name: &str) -> bool {
        false
    }
    /// A warning (`%warn{}`, odd macro text): printed to stderr.
    fn warn(&mut self, text: &str);
    /// The paths that match a glob pattern (`%get-glob{}`, `%foreach-glob{}`), sorted.
    fn glob(&mut self, pattern: &str) -> MResult<Vec<String>> {
        fail(format!("%get-glob: no paths to match '{pattern}' here"))
    }
}

/// The variables of one evaluation scope.
#[derive(Clone, Debug, Default)]
pub(crate) struct Env {
    pub(crate) vars: HashMap<String, String>,
}

impl Env {
    pub(crate) fn get(&self, name: &str) -> &str {
        self.vars.get(name).map_or("", String::as_str)
    }

    pub(crate) fn set(&mut self, name: &str, value: impl Into<String>) {
        self.vars.insert(name.to_string(), value.into());
    }
}

/// Control flow requested by `%return{}`, `%abort{}`, `%stop-eval{}`, `%next{}`, `%last{}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Control {
    None,
    /// End the current text, keep what it produced.
    Return,
    /// End the current text, keep what it produced and append the rest unevaluated.
    StopEval,
    /// End everything; the result is empty.
    Abort,
    /// Next round of the innermost loop.
    Next,
    /// Leave the innermost loop.
    Last,
}

/// One evaluation.
pub(crate) struct Evaluator<'h, H: Host> {
    host: &'h mut H,
    depth: usize,
    steps: u64,
    control: Control,
}

/// Removes comments and line continuations from macro text (as the original does to a
/// template before it evaluates it).
pub(crate) fn strip_comments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut literal_start = 0;
    while i < b.len() {
        let rest = &text[i..];
        let to_line_end =
            rest.starts_with('#') || rest.starts_with("// ") || rest.starts_with("//\t");
        let skip = if to_line_end {
            Some(rest.find('\n').unwrap_or(rest.len()))
        } else if rest.starts_with("/*") {
            Some(rest.find("*/").map_or(rest.len(), |e| e + 2))
        } else if let Some(after) = rest.strip_prefix("\\\n") {
            Some(
                2 + after
                    .find(|c: char| !c.is_whitespace())
                    .unwrap_or(after.len()),
            )
        } else if rest.starts_with('\\') && rest.len() > 1 {
            // An escape: keep it and the escaped character as they are.
            let n = 1 + rest[1..].chars().next().map_or(0, char::len_utf8);
            i += n;
            continue;
        } else {
            None
        };
        match skip {
            Some(n) => {
                out.push_str(&text[literal_start..i]);
                i += n;
                literal_start = i;
            }
            None => i += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    out.push_str(&text[literal_start..]);
    out
}

/// The end (index after the closing brace) of the braced group starting at `start` (`{`).
fn matching_brace(text: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 1,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// A number as Perl reads a string: the leading numeric part, 0 for none; only the part
/// before a comma counts (the original's `make_numeric`).
pub(crate) fn num(text: &str) -> f64 {
    let text = text.split(',').next().unwrap_or("").trim_start();
    let b = text.as_bytes();
    let mut end = 0;
    if end < b.len() && (b[end] == b'-' || b[end] == b'+') {
        end += 1;
    }
    let digits_start = end;
    while end < b.len() && b[end].is_ascii_digit() {
        end += 1;
    }
    if end < b.len() && b[end] == b'.' {
        end += 1;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
    }
    if end == digits_start {
        return 0.0;
    }
    let mut value_end = end;
    if end < b.len() && (b[end] == b'e' || b[end] == b'E') {
        let mut e = end + 1;
        if e < b.len() && (b[e] == b'-' || b[e] == b'+') {
            e += 1;
        }
        if e < b.len() && b[e].is_ascii_digit() {
            while e < b.len() && b[e].is_ascii_digit() {
                e += 1;
            }
            value_end = e;
        }
    }
    text[..value_end].parse().unwrap_or(0.0)
}

/// A number as Perl prints it (`%.15g`).
pub(crate) fn fmt_num(n: f64) -> String {
    if !n.is_finite() {
        return if n.is_nan() {
            "NaN".into()
        } else if n > 0.0 {
            "Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if n == n.trunc() && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    let exp = n.abs().log10().floor() as i32;
    if !(-5..15).contains(&exp) {
        let s = format!("{:.14e}", n);
        let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = trim_zeros(mantissa);
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{mantissa}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let decimals = usize::try_from(14 - exp).unwrap_or(0);
    trim_zeros(&format!("{:.*}", decimals, n)).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Perl's truth: everything but `""` and `"0"`.
pub(crate) fn truth(text: &str) -> bool {
    !(text.is_empty() || text == "0")
}

fn bool_text(b: bool) -> String {
    if b {
        "1".into()
    } else {
        String::new()
    }
}

fn int_of(text: &str) -> i64 {
    let n = num(text);
    if n.is_finite() {
        n as i64
    } else {
        0
    }
}

impl<'h, H: Host> Evaluator<'h, H> {
    pub(crate) fn new(host: &'h mut H) -> Self {
        Evaluator {
            host,
            depth: 0,
            steps: 0,
            control: Control::None,
        }
    }

    /// Evaluates `text` in `env`.
    pub(crate) fn eval(&mut self, text: &str, env: &mut Env) -> MResult<String> {
        self.depth += 1;
        let result = if self.depth > MAX_DEPTH {
            fail(format!(
                "macro processor: nesting deeper than {MAX_DEPTH} (endless recursion?) at '{}'",
                env.get("callstack")
            ))
        } else {
            self.eval_inner(text, env)
        };
        self.depth -= 1;
        result
    }

    fn eval_inner(&mut self, text: &str, env: &mut Env) -> MResult<String> {
        let b = text.as_bytes();
        let mut out = String::new();
        let mut i = 0;
        let mut literal = 0;
        while i < b.len() {
            match b[i] {
                b'\\' if i + 1 < b.len() => {
                    out.push_str(&text[literal..i]);
                    let c = text[i + 1..].chars().next().unwrap_or('\\');
                    match c {
                        't' => out.push('\t'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        'f' => out.push('\x0c'),
                        'b' => out.push('\x08'),
                        'a' => out.push('\x07'),
                        'e' => out.push('\x1b'),
                        c => {
                            if c.is_ascii_alphabetic() {
                                self.host.warn(&format!(
                                    "control sequence '\\{c}' is reserved for future use\n"
                                ));
                            }
                            out.push(c)
                        }
                    }
                    i += 1 + c.len_utf8();
                    literal = i;
                }
                b'%' => {
                    let head_end = text[i + 1..]
                        .find(|c: char| c.is_whitespace() || "\\{}()[]%".contains(c))
                        .map_or(b.len(), |e| i + 1 + e);
                    if head_end >= b.len() || b[head_end] != b'{' {
                        i += 1;
                        continue;
                    }
                    let Some(first_end) = matching_brace(b, head_end) else {
                        i += 1;
                        continue;
                    };
                    let name = &text[i + 1..head_end];
                    let mut args = vec![&text[head_end + 1..first_end - 1]];
                    let mut j = first_end;
                    while j < b.len() && b[j] == b'{' {
                        let Some(end) = matching_brace(b, j) else {
                            break;
                        };
                        args.push(&text[j + 1..end - 1]);
                        j = end;
                    }
                    out.push_str(&text[literal..i]);
                    match self.control {
                        Control::Abort => return Ok(String::new()),
                        Control::Return | Control::Next | Control::Last => return Ok(out),
                        Control::StopEval => {
                            out.push_str(&text[i..]);
                            return Ok(out);
                        }
                        Control::None => {}
                    }
                    let value = self.call(name, &args, env)?;
                    out.push_str(&value);
                    if out.len() > MAX_OUTPUT {
                        return fail("macro processor: result longer than 16 MiB");
                    }
                    i = j;
                    literal = i;
                }
                _ => i += 1,
            }
        }
        match self.control {
            Control::Abort => Ok(String::new()),
            Control::Return | Control::Next | Control::Last => Ok(out),
            Control::StopEval | Control::None => {
                out.push_str(&text[literal..]);
                Ok(out)
            }
        }
    }

    fn arg(&mut self, args: &[&str], n: usize, env: &mut Env) -> MResult<String> {
        match args.get(n) {
            Some(a) => self.eval(a, env),
            None => Ok(String::new()),
        }
    }

    /// Evaluates `%{0}` = name and `%{1}`... = the arguments into `inner` (`set_args`).
    fn set_args(
        &mut self,
        name: &str,
        args: &[&str],
        outer: &mut Env,
        inner: Option<&mut Env>,
    ) -> MResult<()> {
        let mut values = vec![name.to_string()];
        for a in args {
            values.push(self.eval(a, outer)?);
        }
        let target = match inner {
            Some(inner) => inner,
            None => outer,
        };
        let stack = target.get("callstack").to_string();
        let stack = if stack.is_empty() {
            name.to_string()
        } else {
            format!("{stack},{name}")
        };
        target.set("callstack", stack);
        let count = values.len();
        for (k, v) in values.into_iter().enumerate() {
            target.set(&k.to_string(), v);
        }
        let mut k = count;
        while target.vars.remove(&k.to_string()).is_some() {
            k += 1;
        }
        Ok(())
    }

    fn step(&mut self) -> MResult<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return fail(format!(
                "macro processor: more than {MAX_STEPS} steps (endless loop?)"
            ));
        }
        Ok(())
    }

    /// Runs a loop body and says whether the loop goes on.
    fn loop_body(&mut self, body: &str, env: &mut Env, out: &mut String) -> MResult<bool> {
        self.step()?;
        out.push_str(&self.eval(body, env)?);
        if out.len() > MAX_OUTPUT {
            return fail("macro processor: result longer than 16 MiB");
        }
        Ok(match self.control {
            Control::Next => {
                self.control = Control::None;
                true
            }
            Control::Last => {
                self.control = Control::None;
                false
            }
            Control::None => true,
            _ => false,
        })
    }

    /// One call `%name{args}`.
    pub(crate) fn call(&mut self, name: &str, args: &[&str], env: &mut Env) -> MResult<String> {
        self.step()?;
        let (name, skip_macros) = match name.strip_prefix("primitive") {
            Some(rest) => (rest.trim_start_matches(['-', '_']), true),
            None => (name, false),
        };
        if !skip_macros && !name.is_empty() {
            if let Some(text) = self.host.macro_text(name) {
                self.set_args(name, args, env, None)?;
                let result = self.eval(&text, env);
                if matches!(self.control, Control::Return) {
                    self.control = Control::None;
                }
                return result;
            }
        }
        let canon = name.replace('_', "-");
        match canon.as_str() {
            "" => self.variable(args, env),
            "let" | "append" => {
                let var = self.arg(args, 0, env)?;
                let value = self.arg(args, 1, env)?;
                if canon == "let" {
                    env.set(&var, value);
                } else {
                    let old = env.get(&var).to_string();
                    env.set(&var, old + &value);
                }
                Ok(String::new())
            }
            "set" => {
                let var = self.arg(args, 0, env)?;
                let delim = self.arg(args, 1, env)?;
                let index = self.arg(args, 2, env)?;
                let value = self.arg(args, 3, env)?;
                let mut list: Vec<String> = split_list(env.get(&var), &delim);
                let index = if index.is_empty() || index == "*" {
                    list.len()
                } else {
                    usize::try_from(int_of(&index))
                        .map_err(|_| MacroError::Fail(format!("%set: bad index '{index}'")))?
                };
                if index > 100_000 {
                    return fail(format!("%set: index {index} too large"));
                }
                if list.len() <= index {
                    list.resize(index + 1, String::new());
                }
                list[index] = value;
                env.set(&var, list.join(&delim));
                Ok(String::new())
            }
            "dump-vars" | "dumpvars" => {
                let mut keys: Vec<&String> = env.vars.keys().collect();
                keys.sort();
                let text: String = keys
                    .iter()
                    .filter(|k| !(k.starts_with("__") && k.ends_with("__")))
                    .map(|k| format!("{k}='{}'\n", env.get(k)))
                    .collect();
                self.host.warn(&text);
                Ok(String::new())
            }
            "+" | "-" | "*" | "/" | "%" | "&" | "|" | "^" | "<<" | ">>" | "min" | "max" => {
                self.arith(&canon, args, env)
            }
            "<" | ">" | "<=" | ">=" | "==" | "!=" => {
                let a = num(&self.arg(args, 0, env)?);
                let b = num(&self.arg(args, 1, env)?);
                Ok(bool_text(match canon.as_str() {
                    "<" => a < b,
                    ">" => a > b,
                    "<=" => a <= b,
                    ">=" => a >= b,
                    "==" => a == b,
                    _ => a != b,
                }))
            }
            "lt" | "gt" | "le" | "ge" | "eq" | "ne" => {
                let a = self.arg(args, 0, env)?;
                let b = self.arg(args, 1, env)?;
                Ok(bool_text(match canon.as_str() {
                    "lt" => a < b,
                    "gt" => a > b,
                    "le" => a <= b,
                    "ge" => a >= b,
                    "eq" => a == b,
                    _ => a != b,
                }))
            }
            "match" | "=~" => {
                let text = self.arg(args, 0, env)?;
                let pattern = self.arg(args, 1, env)?;
                let opts = if args.len() > 2 {
                    self.arg(args, 2, env)?
                } else {
                    "m".into()
                };
                let re = regex_of(&pattern, &opts)?;
                Ok(bool_text(re.is_match(&text)))
            }
            "&&" | "||" | "and" | "or" => {
                let and = canon == "&&" || canon == "and";
                let mut value = self.arg(args, 0, env)?;
                for a in args.iter().skip(1) {
                    if a.is_empty() {
                        break;
                    }
                    if and && !truth(&value) {
                        return Ok("0".into());
                    }
                    if !and && truth(&value) {
                        return Ok("1".into());
                    }
                    value = self.eval(a, env)?;
                }
                Ok(value)
            }
            "!" | "not" => Ok(bool_text(!truth(&self.arg(args, 0, env)?))),
            "~" => Ok(fmt_num((!(int_of(&self.arg(args, 0, env)?) as u64)) as f64)),
            "toupper" => Ok(self.arg(args, 0, env)?.to_uppercase()),
            "tolower" => Ok(self.arg(args, 0, env)?.to_lowercase()),
            "length" => Ok(self.arg(args, 0, env)?.chars().count().to_string()),
            "subst" => {
                let text = self.arg(args, 0, env)?;
                let pattern = self.arg(args, 1, env)?;
                let with = self.arg(args, 2, env)?;
                let opts = if args.len() > 3 {
                    self.arg(args, 3, env)?
                } else {
                    "m".into()
                };
                let re = regex_of(&pattern, &opts)?;
                Ok(if opts.contains('g') {
                    re.replace_all(&text, with.as_str()).into_owned()
                } else {
                    re.replace(&text, with.as_str()).into_owned()
                })
            }
            "sprintf" | "printf" => {
                // The format is not evaluated (as the original).
                let format = args
                    .first()
                    .copied()
                    .unwrap_or("")
                    .replace("\\n", "\n")
                    .replace("\\t", "\t");
                let mut values = Vec::new();
                for a in args.iter().skip(1) {
                    values.push(self.eval(a, env)?);
                }
                sprintf(&format, &values)
            }
            "human-numbers" | "human-number" | "humannumbers" | "humannumber" => {
                let unit = self.arg(args, 0, env)?;
                let mut delim = self.arg(args, 1, env)?;
                if delim.is_empty() {
                    delim = "/".into();
                }
                let mut delim_unit = self.arg(args, 2, env)?;
                if delim_unit.is_empty() {
                    delim_unit = " ".into();
                }
                let mut numbers = Vec::new();
                for a in args.iter().skip(3) {
                    numbers.push(num(&self.eval(a, env)?));
                }
                if numbers.is_empty() {
                    self.host
                        .warn("macro human-numbers: no number arguments given\n");
                }
                Ok(human_numbers(&unit, &delim, &delim_unit, &numbers))
            }
            "human-seconds" | "humanseconds" => Ok(human_seconds(&self.arg(args, 0, env)?)),
            "progress" => {
                let mut length = num(&self.arg(args, 0, env)?);
                if length <= 0.0 {
                    length = 20.0;
                }
                let length = length.min(1000.0);
                let (min, mid, max) = if args.len() < 2 {
                    let v = self.call("summary-vector", &[":"], env)?;
                    let mut parts = v.split(':').map(num);
                    (
                        parts.next().unwrap_or(0.0),
                        parts.next().unwrap_or(0.0),
                        parts.next().unwrap_or(0.0),
                    )
                } else {
                    (
                        num(&self.arg(args, 1, env)?),
                        num(&self.arg(args, 2, env)?),
                        num(&self.arg(args, 3, env)?),
                    )
                };
                Ok(progress_bar(length, min, mid, max))
            }
            "errno-text" | "errnotext" => Ok(errno_text(&self.arg(args, 0, env)?)),
            "warn" => {
                let text = self.arg(args, 0, env)?;
                self.host.warn(&text);
                Ok(String::new())
            }
            "die" => fail(self.arg(args, 0, env)?),
            "if" | "unless" => {
                let mut cond = truth(&self.arg(args, 0, env)?);
                if canon == "unless" {
                    cond = !cond;
                }
                if cond {
                    match args.get(1) {
                        Some(a) => self.eval(a, env),
                        None => fail(format!("undefined {canon}-part")),
                    }
                } else {
                    self.arg(args, 2, env)
                }
            }
            "elsif" | "elseif" | "elsunless" | "elseunless" => {
                let unless = canon.ends_with("unless");
                let mut k = 0;
                while k < args.len() {
                    if k + 1 < args.len() {
                        let mut cond = truth(&self.eval(args[k], env)?);
                        if unless {
                            cond = !cond;
                        }
                        if cond {
                            return self.eval(args[k + 1], env);
                        }
                        k += 2;
                    } else {
                        return self.eval(args[k], env);
                    }
                }
                Ok(String::new())
            }
            "while" | "until" => {
                let mut out = String::new();
                loop {
                    self.step()?;
                    let cond = truth(&self.arg(args, 0, env)?);
                    if cond == (canon == "until") {
                        break;
                    }
                    if !self.loop_body(args.get(1).copied().unwrap_or(""), env, &mut out)? {
                        break;
                    }
                }
                Ok(out)
            }
            "for" => {
                let mut out = String::new();
                self.arg(args, 0, env)?;
                loop {
                    self.step()?;
                    if !truth(&self.arg(args, 1, env)?) {
                        break;
                    }
                    if !self.loop_body(args.get(3).copied().unwrap_or(""), env, &mut out)? {
                        break;
                    }
                    self.arg(args, 2, env)?;
                }
                Ok(out)
            }
            "foreach" => {
                let var = self.arg(args, 0, env)?;
                let list = self.arg(args, 1, env)?;
                let delim = self.arg(args, 2, env)?;
                let mut out = String::new();
                for value in split_list(&list, &delim) {
                    env.set(&var, value);
                    if !self.loop_body(args.get(3).copied().unwrap_or(""), env, &mut out)? {
                        break;
                    }
                }
                Ok(out)
            }
            // The original's `get-glob{<pattern>}{<unused>}{<delimiter>}` and
            // `foreach-glob{<pattern>}{<variable>}{<body>}` (`lamport_glob`: the matching
            // paths, sorted, without deleted keys).
            "get-glob" | "foreach-glob" => {
                let pattern = self.arg(args, 0, env)?;
                let paths = self.host.glob(&pattern)?;
                let mut out = String::new();
                if canon == "get-glob" {
                    let delim = self.arg(args, 2, env)?;
                    out = paths.join(&delim);
                } else {
                    let var = self.arg(args, 1, env)?;
                    for path in paths {
                        env.set(&var, &path);
                        if !self.loop_body(args.get(2).copied().unwrap_or(""), env, &mut out)? {
                            break;
                        }
                    }
                }
                Ok(out)
            }
            "protect" => Ok(args.first().copied().unwrap_or("").to_string()),
            "eval" => {
                let count = int_of(&self.arg(args, 0, env)?).clamp(0, 1000);
                let mut text = args.get(1).copied().unwrap_or("").to_string();
                for _ in 0..count {
                    text = self.eval(&text, env)?;
                }
                Ok(text)
            }
            "eval-down" | "evaldown" => {
                let mut text = args.first().copied().unwrap_or("").to_string();
                for _ in 0..1000 {
                    let next = self.eval(&text, env)?;
                    if next == text {
                        return Ok(text);
                    }
                    text = next;
                }
                fail("%eval-down: no stable result after 1000 rounds")
            }
            "tmp" => {
                let mut copy = env.clone();
                self.arg(args, 0, &mut copy)
            }
            "include" | "call" => {
                let name = self.arg(args, 0, env)?;
                let text = match self.host.macro_text(&name) {
                    Some(text) => text,
                    None if self.host.is_primitive(&name) => format!("%primitive-{name}{{%{{1}}}}"),
                    None => return fail(format!("cannot find macro '{name}'")),
                };
                let rest = &args[1.min(args.len())..];
                let result = if canon == "call" {
                    let mut copy = env.clone();
                    self.set_args(&name, rest, env, Some(&mut copy))?;
                    self.eval(&text, &mut copy)
                } else {
                    self.set_args(&name, rest, env, None)?;
                    self.eval(&text, env)
                };
                if matches!(self.control, Control::Return) {
                    self.control = Control::None;
                }
                result
            }
            "callstack" => Ok(env.get("callstack").to_string()),
            "return" => {
                self.control = Control::Return;
                Ok(String::new())
            }
            "abort" => {
                self.control = Control::Abort;
                Ok(String::new())
            }
            "stop-eval" => {
                self.control = Control::StopEval;
                Ok(String::new())
            }
            "next" => {
                self.control = Control::Next;
                Ok(String::new())
            }
            "last" => {
                self.control = Control::Last;
                Ok(String::new())
            }
            _ => {
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    values.push(self.eval(a, env)?);
                }
                match self.host.primitive(env, &canon, &values) {
                    Some(Ok(v)) => Ok(v),
                    Some(Err(MacroError::Unavailable(_))) => Ok(String::new()),
                    Some(Err(e)) => Err(e),
                    None => fail(format!("call to unknown macro '{name}'")),
                }
            }
        }
    }

    /// `%{name}`, `%{++}{name}`, `%{name}{--}`, `%{name}{delim}{index}`.
    fn variable(&mut self, args: &[&str], env: &mut Env) -> MResult<String> {
        let mut rest = args;
        let mut pre = None;
        if let Some(op) = rest.first().filter(|a| **a == "++" || **a == "--") {
            pre = Some(*op);
            rest = &rest[1..];
        }
        let var = match rest.first() {
            Some(a) => self.eval(a, env)?,
            None => String::new(),
        };
        rest = &rest[1.min(rest.len())..];
        let bump = |env: &mut Env, op: &str| {
            let n = num(env.get(&var)) + if op == "++" { 1.0 } else { -1.0 };
            env.set(&var, fmt_num(n));
        };
        if let Some(op) = pre {
            bump(env, op);
        }
        let mut value = env.get(&var).to_string();
        if let Some(op) = rest.first().filter(|a| **a == "++" || **a == "--") {
            bump(env, op);
            rest = &rest[1..];
        }
        if rest.len() >= 2 {
            let delim = self.eval(rest[0], env)?;
            let index = self.eval(rest[1], env)?;
            let list = split_list(&value, &delim);
            let k = if index.is_empty() || index == "*" {
                list.len().saturating_sub(1)
            } else {
                usize::try_from(int_of(&index)).unwrap_or(usize::MAX)
            };
            value = list.get(k).cloned().unwrap_or_default();
        }
        Ok(value)
    }

    fn arith(&mut self, op: &str, args: &[&str], env: &mut Env) -> MResult<String> {
        let mut acc = num(&self.arg(args, 0, env)?);
        for a in args.iter().skip(1) {
            let v = num(&self.eval(a, env)?);
            acc = match op {
                "+" => acc + v,
                "-" => acc - v,
                "*" => acc * v,
                "/" | "%" if v == 0.0 => {
                    return fail(format!(
                        "macro processor: illegal division by zero in %{op}"
                    ))
                }
                "/" => acc / v,
                "%" => (acc as i64).rem_euclid(v as i64) as f64,
                "&" => ((acc as u64) & (v as u64)) as f64,
                "|" => ((acc as u64) | (v as u64)) as f64,
                "^" => ((acc as u64) ^ (v as u64)) as f64,
                "<<" => (acc as u64).checked_shl(v as u32).unwrap_or(0) as f64,
                ">>" => (acc as u64).checked_shr(v as u32).unwrap_or(0) as f64,
                "min" => acc.min(v),
                _ => acc.max(v),
            };
        }
        Ok(fmt_num(acc))
    }
}

/// `split` of the original: by a regular expression delimiter (an empty delimiter splits into
/// characters); trailing empty fields dropped.
fn split_list(text: &str, delim: &str) -> Vec<String> {
    let mut list: Vec<String> = if delim.is_empty() {
        text.chars().map(String::from).collect()
    } else {
        match regex::Regex::new(delim) {
            Ok(re) => re.split(text).map(str::to_string).collect(),
            Err(_) => text.split(delim).map(str::to_string).collect(),
        }
    };
    while list.last().is_some_and(String::is_empty) {
        list.pop();
    }
    list
}

fn regex_of(pattern: &str, opts: &str) -> MResult<regex::Regex> {
    let mut b = regex::RegexBuilder::new(pattern);
    b.multi_line(opts.contains('m'))
        .case_insensitive(opts.contains('i'))
        .dot_matches_new_line(opts.contains('s'))
        .size_limit(1 << 20);
    b.build()
        .map_err(|e| MacroError::Fail(format!("bad regular expression '{pattern}': {e}")))
}

/// `%human-seconds`: `hh:mm:ss`, `--:--:--` for an empty or negative value.
pub(crate) fn human_seconds(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() || num(t) < 0.0 {
        return "--:--:--".into();
    }
    let s = num(t) as i64;
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

/// The original's `number2human`: number and unit for `max`'s order of magnitude.
fn number2human(n: f64, unit: &str, max: f64) -> (String, String) {
    let mut k = 1024.0f64;
    let flip = 9.99;
    let unit = if unit.is_empty() {
        if max >= k * k * k * k * flip {
            "T"
        } else if max >= k * k * k * flip {
            "G"
        } else if max >= k * k {
            "M"
        } else if max >= k {
            "K"
        } else {
            ""
        }
    } else {
        unit
    };
    let i = if unit.starts_with(|c: char| c.is_ascii_lowercase()) {
        k = 1000.0;
        ""
    } else {
        "i"
    };
    let u = unit.to_ascii_lowercase();
    let (div, name) = if u.contains('t') {
        (k * k * k * k, format!("T{i}B"))
    } else if u.contains('g') {
        (k * k * k, format!("G{i}B"))
    } else if u.contains('m') {
        (k * k, format!("M{i}B"))
    } else if u.contains('k') {
        (k, format!("K{i}B"))
    } else {
        (1.0, "B".to_string())
    };
    if name == "B" {
        (format!("{}", (n + 0.1).trunc() as i64), name)
    } else {
        (format!("{:.3}", n / div), name)
    }
}

/// `%human-numbers{unit}{delim}{unit-delim}{n...}`: all numbers in the unit of the largest.
pub(crate) fn human_numbers(unit: &str, delim: &str, delim_unit: &str, numbers: &[f64]) -> String {
    let max = numbers.iter().copied().fold(0.0, f64::max);
    let mut unit_name = String::new();
    let parts: Vec<String> = numbers
        .iter()
        .map(|n| {
            let (text, u) = number2human(*n, unit, max);
            unit_name = u;
            text
        })
        .collect();
    format!("{}{delim_unit}{unit_name}", parts.join(delim))
}

/// `%progress{length}{min}{mid}{max}`: `[==>::....]`.
pub(crate) fn progress_bar(length: f64, min: f64, mid: f64, max: f64) -> String {
    let min = min.max(0.0);
    let mid = mid.max(min);
    let max = max.max(mid).max(1.0);
    let mut pos1 = length * min / max;
    let count = (pos1 - 1.0).max(0.0) as usize;
    let mut bar = "=".repeat(count);
    if pos1 < length {
        bar.push('>');
        pos1 += 1.0;
    }
    let pos2 = length * mid / max;
    if pos1 < pos2 {
        bar.push_str(&":".repeat((pos2 - pos1) as usize));
    }
    if pos2 < length {
        bar.push_str(&".".repeat((length - pos2) as usize));
    }
    format!("[{bar}]")
}

/// `%errno-text{code[,code...]}`: `[ENOENT:No_such_file_or_directory]` per code.
pub(crate) fn errno_text(codes: &str) -> String {
    let mut out = String::new();
    for code in codes.split(',').filter(|c| !c.is_empty()) {
        if code.starts_with("0x") {
            out.push_str(&format!(",HEXCODE={code}"));
            continue;
        }
        let n = int_of(code).unsigned_abs() as i64;
        if n == 0 {
            out.push_str(code);
            continue;
        }
        match super::errno::ERRNOS.iter().find(|(k, _, _)| *k == n) {
            Some((_, name, text)) => out.push_str(&format!("[{name}:{text}]")),
            None => out.push_str(&format!("[Unknown error {n}]")),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join("_")
}

/// A small `sprintf`: `%[-+ 0#]*[width][.prec](s|d|i|u|f|F|e|E|g|G|x|X|o|c|%)`.
pub(crate) fn sprintf(format: &str, values: &[String]) -> MResult<String> {
    let mut out = String::new();
    let mut values = values.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek().filter(|f| "-+ 0#".contains(**f)) {
            flags.push(f);
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0).min(100));
        }
        let width: usize = width.parse().unwrap_or(0).min(1000);
        let Some(conv) = chars.next() else {
            return fail(format!(
                "%sprintf: format '{format}' ends within a conversion"
            ));
        };
        if conv == '%' {
            out.push('%');
            continue;
        }
        let v = values.next().map_or("", String::as_str);
        let mut body = match conv {
            's' => match prec {
                Some(p) => v.chars().take(p).collect(),
                None => v.to_string(),
            },
            'd' | 'i' | 'u' => {
                let n = int_of(v);
                if flags.contains('+') && n >= 0 {
                    format!("+{n}")
                } else {
                    n.to_string()
                }
            }
            'f' | 'F' => {
                let s = format!("{:.*}", prec.unwrap_or(6), num(v));
                if flags.contains('+') && num(v) >= 0.0 {
                    format!("+{s}")
                } else {
                    s
                }
            }
            'e' | 'E' => {
                let s = format!("{:.*e}", prec.unwrap_or(6), num(v));
                let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                let e: i32 = e.parse().unwrap_or(0);
                let s = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
                if conv == 'E' {
                    s.to_uppercase()
                } else {
                    s
                }
            }
            'g' | 'G' => fmt_num(num(v)),
            'x' => format!("{:x}", int_of(v)),
            'X' => format!("{:X}", int_of(v)),
            'o' => format!("{:o}", int_of(v)),
            'c' => char::from_u32(u32::try_from(int_of(v)).unwrap_or(0xfffd))
                .unwrap_or('\u{fffd}')
                .to_string(),
            other => return fail(format!("%sprintf: unknown conversion '%{other}'")),
        };
        let len = body.chars().count();
        if len < width {
            let pad = width - len;
            if flags.contains('-') {
                body.push_str(&" ".repeat(pad));
            } else if flags.contains('0') && conv != 's' {
                let (sign, digits) = match body.strip_prefix(['-', '+']) {
                    Some(d) => (&body[..1], d),
                    None => ("", body.as_str()),
                };
                body = format!("{sign}{}{digits}", "0".repeat(pad));
            } else {
                body = format!("{}{body}", " ".repeat(pad));
            }
        }
        out.push_str(&body);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoTree;
    impl Host for NoTree {
        fn macro_text(&mut self, name: &str) -> Option<String> {
            (name == "twice").then(|| "%{1}%{1}".to_string())
        }
        fn primitive(&mut self, _: &Env, name: &str, _: &[String]) -> Option<MResult<String>> {
            match name {
                "gone" => Some(Err(MacroError::Unavailable("gone".into()))),
                _ => None,
            }
        }
        fn warn(&mut self, _: &str) {}
    }

    fn run(text: &str) -> MResult<String> {
        let mut host = NoTree;
        let mut env = Env::default();
        Evaluator::new(&mut host).eval(&strip_comments(text), &mut env)
    }

    #[test]
    fn language() {
        assert_eq!(run("a%let{x}{5}b%{x}").unwrap(), "ab5");
        assert_eq!(run("%+{1}{2}{3.5}").unwrap(), "6.5");
        assert_eq!(run("%/{10}{4}").unwrap(), "2.5");
        assert!(run("%/{1}{0}").is_err());
        assert_eq!(run("%if{%<{1}{2}}{yes}{no}").unwrap(), "yes");
        assert_eq!(run("%elsif{0}{a}{}{b}{c}").unwrap(), "c");
        assert_eq!(run("%elsif{0}{a}{1}{b}{c}").unwrap(), "b");
        assert_eq!(run("%unless{0}{u}").unwrap(), "u");
        assert_eq!(run("%and{1}{0}").unwrap(), "0");
        assert_eq!(run("%or{0}{x}").unwrap(), "x");
        assert_eq!(run("%not{}").unwrap(), "1");
        assert_eq!(run("\\%x\\{\\}\\n").unwrap(), "%x{}\n");
        assert_eq!(run("%let{l}{a,b,c}%{l}{,}{1}%{l}{,}{*}").unwrap(), "bc");
        assert_eq!(
            run("%let{i}{0}%while{%<{%{i}}{3}}{%{i}{++}}").unwrap(),
            "012"
        );
        assert_eq!(run("%foreach{v}{a b c}{ }{[%{v}]}").unwrap(), "[a][b][c]");
        assert_eq!(run("%twice{ab}").unwrap(), "abab");
        assert_eq!(run("%call{twice}{x}").unwrap(), "xx");
        assert_eq!(run("%let{a}{1}%tmp{%let{a}{2}}%{a}").unwrap(), "1");
        assert_eq!(
            run("%sprintf{%5.2f|%-3s|%03d%%}{3.14159}{a}{7}").unwrap(),
            " 3.14|a  |007%"
        );
        assert_eq!(run("%subst{a-b-c}{-}{+}{g}").unwrap(), "a+b+c");
        assert_eq!(run("%match{abc}{^a}").unwrap(), "1");
        assert_eq!(
            run("%human-numbers{}{ }{ }{1024}{2048}").unwrap(),
            "1.000 2.000 KiB"
        );
        assert_eq!(run("%human-numbers{}{}{}{5}").unwrap(), "5 B");
        assert_eq!(
            run("%human-seconds{3725}%human-seconds{-1}").unwrap(),
            "01:02:05--:--:--"
        );
        assert_eq!(run("%progress{10}{5}{8}{10}").unwrap(), "[====>::..]");
        assert_eq!(
            run("%errno-text{-2}").unwrap(),
            "[ENOENT:No_such_file_or_directory]"
        );
        assert_eq!(run("x # comment\ny").unwrap(), "x \ny");
        assert_eq!(run("a\\\n   b").unwrap(), "ab");
        assert_eq!(run("%protect{%{x}}").unwrap(), "%{x}");
        assert_eq!(run("a%return{}b").unwrap(), "a");
        assert_eq!(run("%gone{}").unwrap(), "");
        assert!(run("%nosuch{}")
            .unwrap_err()
            .text()
            .contains("unknown macro 'nosuch'"));
        assert!(run("%let{i}{0}%while{1}{x}").is_err(), "endless loops end");
        assert_eq!(run("100% sure {x}").unwrap(), "100% sure {x}");
        assert_eq!(fmt_num(100.5 / 3.0), "33.5");
        assert_eq!(fmt_num(1.0 / 3.0), "0.333333333333333");
    }

    #[test]
    fn endless_recursion_is_an_error() {
        struct Rec;
        impl Host for Rec {
            fn macro_text(&mut self, _: &str) -> Option<String> {
                Some("%me{}".into())
            }
            fn primitive(&mut self, _: &Env, _: &str, _: &[String]) -> Option<MResult<String>> {
                None
            }
            fn warn(&mut self, _: &str) {}
        }
        // The stack `view` evaluates on (see `macros::run`).
        let err = std::thread::Builder::new()
            .stack_size(super::super::STACK)
            .spawn(|| {
                let mut host = Rec;
                Evaluator::new(&mut host)
                    .eval("%me{}", &mut Env::default())
                    .unwrap_err()
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(err.text().contains("nesting deeper"), "{err:?}");
    }
}
