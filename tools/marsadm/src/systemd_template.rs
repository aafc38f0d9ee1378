// SPDX-License-Identifier: GPL-2.0
//! The text layer of the systemd template engine: what a template's name and body mean.
//!
//! The syntax is the original marsadm's (Documentation/systemd.rst):
//!
//! * `@{var}` the value of a variable; `@escvar{var}` the same, escaped as by
//!   `systemd-escape --path`; `@esc{text}` the expanded text, escaped; `@eval{macro}` the
//!   output of a macro (below);
//! * `^{var}` (in template file names only) matches one or more characters of the unit name
//!   asked for and binds them to `var`;
//! * markers: a line `#` + optional blanks + a capitalised word (`# ALWAYS_START`).
//!
//! The original hands `@eval` bodies to its Turing-complete macro processor. We implement a
//! small, documented subset: `%{var}`, `%let{var}{text}` and `%subst{text}{from}{to}`
//! (literal, every occurrence). Where the original warns and writes `UNDEFINED(var)`, we
//! refuse: an unknown variable, macro or `@function`, and a brace that is never closed, are
//! errors naming the file and the line, so that no half-right unit reaches systemd.
//!
//! Everything here is pure: text in, text or [`TemplateError`] out.

use std::collections::BTreeMap;
use std::fmt;

/// The variables of one instantiation (`res`, `host`, ... and what `^{}` and `%let` bind).
pub(crate) type Vars = BTreeMap<String, String>;

/// A template that cannot be instantiated, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TemplateError {
    /// The template file (or file name) concerned.
    pub(crate) file: String,
    /// The 1-based line in the file, when the problem is in its text.
    pub(crate) line: Option<usize>,
    pub(crate) what: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.what),
            None => write!(f, "{}: {}", self.file, self.what),
        }
    }
}

/// `text` escaped as `systemd-escape --path` does: duplicate, leading and trailing slashes
/// and `.` components dropped, `/` becomes `-`, a leading `.` and every byte other than
/// ASCII letters, digits, `:`, `_` and `.` become `\xNN`; the root is `-`. `..` is refused.
pub(crate) fn escape_path(text: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("cannot escape path '{text}': it contains '..'")),
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Ok("-".to_string());
    }
    let joined = parts.join("/");
    let mut out = String::new();
    for (i, byte) in joined.bytes().enumerate() {
        let keep = byte.is_ascii_alphanumeric() || matches!(byte, b':' | b'_' | b'.');
        if byte == b'/' {
            out.push('-');
        } else if keep && !(i == 0 && byte == b'.') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    Ok(out)
}

/// Whether a template file name has constructs (`@...{`, `^{`): it is instantiated per
/// resource, by matching. A name without `{` is a *plain* template, copied as it is.
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.contains('{')
}

/// Whether `text` has the marker `word` (`# ALWAYS_START`): a line that starts with exactly
/// one `#`, optional blanks, then the word, followed by the end of the line or a character
/// that cannot continue a marker word.
pub(crate) fn has_marker(text: &str, word: &str) -> bool {
    text.lines().any(|line| {
        let Some(rest) = line.strip_prefix('#') else {
            return false;
        };
        if rest.starts_with('#') {
            return false;
        }
        let Some(after) = rest.trim_start().strip_prefix(word) else {
            return false;
        };
        !after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    })
}

/// Whether `word` is the marker form of `set-systemd-unit` (`DEFAULT`, `MOUNTED`): a capital
/// letter, then capitals, digits and `_` (the original's `^[A-Z][A-Z_0-9]*$`).
pub(crate) fn is_marker_word(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// One expansion of a template text (a file body or a file name).
struct Expander<'a> {
    text: &'a str,
    file: &'a str,
    /// Whether line numbers make sense (a body; not a file name).
    lines: bool,
}

fn is_name_byte(byte: u8, first: bool) -> bool {
    byte.is_ascii_alphabetic()
        || byte == b'_'
        || (!first && (byte.is_ascii_digit() || byte == b'-'))
}

impl Expander<'_> {
    fn error(&self, at: usize, what: String) -> TemplateError {
        let line = self.lines.then(|| {
            self.text
                .get(..at)
                .map_or(1, |before| before.matches('\n').count() + 1)
        });
        TemplateError {
            file: self.file.to_string(),
            line,
            what,
        }
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    fn slice(&self, from: usize, to: usize) -> &str {
        self.text.get(from..to).unwrap_or("")
    }

    /// The index of the `}` that closes the `{` at `open` (backslash escapes the next
    /// character), or an error naming `what` was opened there.
    fn closing(&self, open: usize, what: &str) -> Result<usize, TemplateError> {
        let bytes = self.text.as_bytes();
        let mut depth = 0usize;
        let mut at = open;
        while let Some(&b) = bytes.get(at) {
            match b {
                b'\\' => at += 1,
                b'{' => depth += 1,
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(at);
                    }
                }
                _ => {}
            }
            at += 1;
        }
        Err(self.error(
            open,
            format!("unbalanced braces: '{what}{{' is never closed"),
        ))
    }

    fn lookup(&self, vars: &Vars, name: &str, at: usize) -> Result<String, TemplateError> {
        vars.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = vars.keys().map(String::as_str).collect();
            self.error(
                at,
                format!(
                    "unknown variable '{name}' (known here: {})",
                    known.join(", ")
                ),
            )
        })
    }

    fn escape(&self, text: &str, at: usize) -> Result<String, TemplateError> {
        escape_path(text).map_err(|e| self.error(at, e))
    }

    /// Expands the `@` constructs in `[from, to)`; `^{var}` is kept as it is (it is matched
    /// later, see [`match_name`]).
    fn expand(&self, from: usize, to: usize, vars: &mut Vars) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut at = from;
        let mut literal = from;
        while at < to {
            if self.byte(at) != Some(b'@') {
                at += 1;
                continue;
            }
            let mut end = at + 1;
            while end < to
                && self
                    .byte(end)
                    .is_some_and(|b| is_name_byte(b, end == at + 1))
            {
                end += 1;
            }
            if end >= to || self.byte(end) != Some(b'{') {
                at += 1;
                continue;
            }
            let name = self.slice(at + 1, end).to_string();
            let close = self.closing(end, &format!("@{name}"))?;
            if close >= to {
                return Err(self.error(
                    at,
                    format!("unbalanced braces: '@{name}{{' is never closed"),
                ));
            }
            out.push_str(self.slice(literal, at));
            let value = match name.as_str() {
                "" => {
                    let var = self.expand(end + 1, close, vars)?;
                    self.lookup(vars, var.trim(), at)?
                }
                "escvar" => {
                    let var = self.expand(end + 1, close, vars)?;
                    let value = self.lookup(vars, var.trim(), at)?;
                    self.escape(&value, at)?
                }
                "esc" => {
                    let text = self.expand(end + 1, close, vars)?;
                    self.escape(&text, at)?
                }
                "eval" => self.eval(end + 1, close, vars)?,
                other => {
                    return Err(self.error(
                        at,
                        format!(
                            "unknown template function '@{other}{{' (known: @{{var}}, @escvar{{var}}, @esc{{text}}, @eval{{macro}})"
                        ),
                    ))
                }
            };
            out.push_str(&value);
            at = close + 1;
            literal = at;
        }
        out.push_str(self.slice(literal, to));
        Ok(out)
    }

    /// The macro subset of `@eval{}` over `[from, to)`.
    fn eval(&self, from: usize, to: usize, vars: &mut Vars) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut at = from;
        while at < to {
            let Some(b) = self.byte(at) else { break };
            if b == b'\\' {
                let escaped = self.text.get(at + 1..to).and_then(|s| s.chars().next());
                if let Some(c) = escaped {
                    out.push(c);
                }
                at += 1 + escaped.map_or(1, char::len_utf8);
                continue;
            }
            if b != b'%' {
                let next = self
                    .text
                    .get(at..to)
                    .and_then(|s| s.find(['%', '\\']))
                    .map_or(to, |n| at + n);
                out.push_str(self.slice(at, next));
                at = next;
                continue;
            }
            let mut end = at + 1;
            while end < to
                && self
                    .byte(end)
                    .is_some_and(|b| is_name_byte(b, end == at + 1))
            {
                end += 1;
            }
            if end >= to || self.byte(end) != Some(b'{') {
                out.push('%');
                at += 1;
                continue;
            }
            let name = self.slice(at + 1, end).to_string();
            let mut args = Vec::new();
            let mut next = end;
            while next < to && self.byte(next) == Some(b'{') {
                let close = self.closing(next, &format!("%{name}"))?;
                if close >= to {
                    return Err(self.error(
                        at,
                        format!("unbalanced braces: '%{name}{{' is never closed"),
                    ));
                }
                args.push((next + 1, close));
                next = close + 1;
            }
            let arity = |n: usize| -> Result<(), TemplateError> {
                if args.len() == n {
                    Ok(())
                } else {
                    Err(self.error(
                        at,
                        format!(
                            "macro '%{name}' takes {n} arguments in braces, not {}",
                            args.len()
                        ),
                    ))
                }
            };
            match name.as_str() {
                "" => {
                    arity(1)?;
                    let (a, b) = args[0];
                    let var = self.eval(a, b, vars)?;
                    out.push_str(&self.lookup(vars, var.trim(), at)?);
                }
                "let" => {
                    arity(2)?;
                    let var = self.eval(args[0].0, args[0].1, vars)?;
                    let value = self.eval(args[1].0, args[1].1, vars)?;
                    vars.insert(var.trim().to_string(), value);
                }
                "subst" => {
                    arity(3)?;
                    let text = self.eval(args[0].0, args[0].1, vars)?;
                    let from = self.eval(args[1].0, args[1].1, vars)?;
                    let into = self.eval(args[2].0, args[2].1, vars)?;
                    if from.is_empty() {
                        return Err(self.error(at, "macro '%subst': the text to replace is empty".to_string()));
                    }
                    out.push_str(&text.replace(&from, &into));
                }
                other => {
                    return Err(self.error(
                        at,
                        format!("unknown macro '%{other}' in @eval (known: %{{var}}, %let{{var}}{{text}}, %subst{{text}}{{from}}{{to}})"),
                    ))
                }
            }
            at = next;
        }
        Ok(out)
    }
}

/// Expands the body of template `file`; `%let` in `@eval` adds to `vars`.
pub(crate) fn expand_body(
    text: &str,
    file: &str,
    vars: &mut Vars,
) -> Result<String, TemplateError> {
    Expander {
        text,
        file,
        lines: true,
    }
    .expand(0, text.len(), vars)
}

/// Expands the `@` constructs of a template file name (`^{}` stays).
pub(crate) fn expand_name(name: &str, vars: &mut Vars) -> Result<String, TemplateError> {
    Expander {
        text: name,
        file: name,
        lines: false,
    }
    .expand(0, name.len(), vars)
}

/// One piece of a file name pattern.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Literal(&'a str),
    Capture(&'a str),
}

fn pieces(pattern: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(start) = rest.find("^{") {
        if start > 0 {
            out.push(Piece::Literal(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unbalanced braces: '^{{' in '{pattern}' is never closed"))?;
        let name = &after[..close];
        let valid = name
            .bytes()
            .enumerate()
            .all(|(i, b)| is_name_byte(b, i == 0) && b != b'-');
        if name.is_empty() || !valid {
            return Err(format!("'^{{{name}}}' in '{pattern}' is no variable name"));
        }
        out.push(Piece::Capture(name));
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Literal(rest));
    }
    Ok(out)
}

fn match_pieces(pieces: &[Piece<'_>], target: &str, out: &mut Vec<(String, String)>) -> bool {
    match pieces.split_first() {
        None => target.is_empty(),
        Some((Piece::Literal(lit), rest)) => target
            .strip_prefix(lit)
            .is_some_and(|t| match_pieces(rest, t, out)),
        Some((Piece::Capture(name), rest)) => {
            // Greedy, as the original's `(.+)`: the longest capture that lets the rest match.
            let ends: Vec<usize> = target
                .char_indices()
                .map(|(i, c)| i + c.len_utf8())
                .collect();
            for &end in ends.iter().rev() {
                let mark = out.len();
                out.push(((*name).to_string(), target[..end].to_string()));
                if match_pieces(rest, &target[end..], out) {
                    return true;
                }
                out.truncate(mark);
            }
            false
        }
    }
}

/// Matches an expanded file name `pattern` (with `^{var}` parts) against the unit name
/// `target`: the bindings if it matches. A pattern without `^{}` matches only itself.
pub(crate) fn match_name(
    pattern: &str,
    target: &str,
) -> Result<Option<Vec<(String, String)>>, String> {
    let pieces = pieces(pattern)?;
    let mut out = Vec::new();
    Ok(match_pieces(&pieces, target, &mut out).then_some(out))
}

/// The unit names a unit text refers to: the values of its dependency directives and of
/// the original's `# ALSO=` lines, those that look like unit names (a known suffix, no `/`).
pub(crate) fn references(text: &str, suffixes: &[&str]) -> Vec<String> {
    const DIRECTIVES: [&str; 21] = [
        "Unit",
        "Service",
        "Slice",
        "Sockets",
        "Requires",
        "Requisite",
        "Wants",
        "BindsTo",
        "PartOf",
        "Conflicts",
        "Before",
        "After",
        "OnFailure",
        "PropagatesReloadTo",
        "ReloadPropagatedFrom",
        "JoinsNamespaceOf",
        "Alias",
        "WantedBy",
        "RequiredBy",
        "Also",
        "# ALSO",
    ];
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if !DIRECTIVES.contains(&key.trim_end()) {
            continue;
        }
        for word in value.split_whitespace() {
            let unit = !word.contains('/')
                && word
                    .rsplit_once('.')
                    .is_some_and(|(stem, suffix)| !stem.is_empty() && suffixes.contains(&suffix));
            if unit && !out.iter().any(|w| w == word) {
                out.push(word.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [
            ("res", "r-0"),
            ("host", "alpha"),
            ("resdir", "/mars/resource-r-0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn body(text: &str) -> Result<String, TemplateError> {
        expand_body(text, "t.service", &mut vars())
    }

    #[test]
    fn escapes_as_systemd_escape_path() {
        assert_eq!(escape_path("r0").unwrap(), "r0");
        assert_eq!(escape_path("r-0").unwrap(), "r\\x2d0");
        assert_eq!(escape_path("/mnt/mars/r-0/").unwrap(), "mnt-mars-r\\x2d0");
        assert_eq!(escape_path("//a//./b").unwrap(), "a-b");
        assert_eq!(escape_path("/").unwrap(), "-");
        assert_eq!(escape_path(".hidden").unwrap(), "\\x2ehidden");
        assert_eq!(escape_path("a b\\c").unwrap(), "a\\x20b\\x5cc");
        assert_eq!(escape_path("x:y_z.w").unwrap(), "x:y_z.w");
        assert!(escape_path("/a/../b").unwrap_err().contains(".."));
    }

    #[test]
    fn variables_and_escapes_expand() {
        assert_eq!(
            body("What=/dev/mars/@{res}\n").unwrap(),
            "What=/dev/mars/r-0\n"
        );
        assert_eq!(
            body("Unit=mars-@escvar{res}-trigger.service").unwrap(),
            "Unit=mars-r\\x2d0-trigger.service"
        );
        assert_eq!(
            body("@esc{/mnt/@{res}}.mount").unwrap(),
            "mnt-r\\x2d0.mount"
        );
        assert_eq!(body("@{ host }").unwrap(), "alpha");
        // Not constructs: systemd instances, specifiers, shell variables, a lone '@'.
        let plain = "getty@tty1.service %n ${HOME} a@b @ @@{res}";
        assert_eq!(
            body(plain).unwrap(),
            "getty@tty1.service %n ${HOME} a@b @ @r-0"
        );
    }

    #[test]
    fn eval_runs_the_macro_subset() {
        let mut v = vars();
        v.insert("mntname".into(), "mnt-test".into());
        let text = "@eval{%let{mntpath}{%subst{%{mntname}}{-}{/}}}Where=/@{mntpath}/@{res}\n";
        assert_eq!(
            expand_body(text, "t", &mut v).unwrap(),
            "Where=/mnt/test/r-0\n"
        );
        assert_eq!(v.get("mntpath").map(String::as_str), Some("mnt/test"));
        assert_eq!(
            body("@eval{x\\%{res} 100% %{host}}").unwrap(),
            "x%{res} 100% alpha"
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = body("[Unit]\nDescription=@{nosuch}\n").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("t.service", Some(2)));
        assert!(e.what.contains("unknown variable 'nosuch'"), "{e}");
        assert!(e.to_string().starts_with("t.service:2: "), "{e}");

        let e = body("a\nb\nWhat=@{res\nc\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.what.contains("unbalanced braces"), "{e}");

        let e = body("x\n@eval{%let{a}{b}").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.what.contains("unbalanced"), "{e}");

        let e = body("@eval{%frobnicate{x}}").unwrap_err();
        assert!(e.what.contains("unknown macro '%frobnicate'"), "{e}");
        let e = body("@eval{%let{x}}").unwrap_err();
        assert!(e.what.contains("takes 2 arguments"), "{e}");
        let e = body("@eval{%subst{a}{}{b}}").unwrap_err();
        assert!(e.what.contains("empty"), "{e}");
        let e = body("\n\n@bogus{res}").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(
            e.what.contains("unknown template function '@bogus{'"),
            "{e}"
        );
        let e = body("@escvar{nosuch}").unwrap_err();
        assert!(e.what.contains("unknown variable"), "{e}");
        let e = body("@esc{/a/../b}").unwrap_err();
        assert!(e.what.contains(".."), "{e}");
        let e = expand_name("x-@{nosuch}.service", &mut vars()).unwrap_err();
        assert_eq!(e.line, None);
    }

    #[test]
    fn names_match_with_captures() {
        let m = match_name("^{mntname}-r0.mount", "vol-data-r0.mount").unwrap();
        assert_eq!(m, Some(vec![("mntname".into(), "vol-data".into())]));
        assert_eq!(
            match_name("^{a}-r0.mount", "-r0.mount").unwrap(),
            None,
            "a capture is not empty"
        );
        assert_eq!(
            match_name("mars-r0-trigger.path", "mars-r0-trigger.path").unwrap(),
            Some(vec![])
        );
        assert_eq!(
            match_name("mars-r0-trigger.path", "mars-r1-trigger.path").unwrap(),
            None
        );
        let m = match_name("^{a}.^{b}.service", "x.y.z.service").unwrap();
        assert_eq!(
            m,
            Some(vec![("a".into(), "x.y".into()), ("b".into(), "z".into())])
        );
        assert!(match_name("^{a-b}.service", "x.service")
            .unwrap_err()
            .contains("no variable name"));
        assert!(match_name("^{a.service", "x.service")
            .unwrap_err()
            .contains("never closed"));
        // Expanding a name keeps the match operator.
        assert_eq!(
            expand_name("^{m}-@escvar{res}.mount", &mut vars()).unwrap(),
            "^{m}-r\\x2d0.mount"
        );
    }

    #[test]
    fn markers_need_one_hash_and_a_whole_word() {
        let text = "[Unit]\n# ALWAYS_START\n## KEEP_RUNNING\n#DEFAULT_START\n# DEFAULT_STOPPED\n";
        assert!(has_marker(text, "ALWAYS_START"));
        assert!(
            !has_marker(text, "KEEP_RUNNING"),
            "## comments a marker out"
        );
        assert!(has_marker(text, "DEFAULT_START"));
        assert!(
            !has_marker(text, "DEFAULT_STOP"),
            "DEFAULT_STOPPED is another word"
        );
        assert!(
            !has_marker(" # ALWAYS_START", "ALWAYS_START"),
            "the '#' starts the line"
        );
        assert!(is_marker_word("DEFAULT") && is_marker_word("MOUNT_2"));
        assert!(
            !is_marker_word("Default") && !is_marker_word("vol-r0.mount") && !is_marker_word("2A")
        );
    }

    #[test]
    fn references_are_unit_names_of_dependency_directives() {
        let text = "[Unit]\nBindsTo=mnt-r0.mount\nAfter=mars.service  mnt-r0.mount\nRequiresMountsFor=/mars\nDescription=see x.service\n# ALSO=mars-r0-trigger.path\nConditionPathExists=/a.path\n[Install]\nWantedBy=multi-user.target\n";
        let refs = references(text, &["mount", "service", "path", "target"]);
        assert_eq!(
            refs,
            [
                "mnt-r0.mount",
                "mars.service",
                "mars-r0-trigger.path",
                "multi-user.target"
            ]
        );
    }

    #[test]
    fn plain_names_have_no_braces() {
        assert!(is_plain_name("daemon-reload.service"));
        assert!(is_plain_name("getty@.service"));
        assert!(!is_plain_name("mars-@escvar{res}-trigger.path"));
        assert!(!is_plain_name("^{m}-x.mount"));
    }
}
