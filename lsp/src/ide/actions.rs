//! Quick fixes, read from the help the library attaches to a diagnostic:
//!
//! - a unit to add: "`800` is a number; write `800ms`" (E0004), "write `2m` or `2s`" (E0026),
//!   "write `5%`" (E0007): the bare number in the diagnostic's range becomes each literal offered;
//! - "did you mean `error_rate`?": the name in the range becomes the suggestion;
//! - "add `use std::http` to this file": the `use` is added after the file's other `use`s;
//! - "delete the `use`": the line goes.

use rollguard::codes::Code;

use crate::db::{self, Db, FileDiagnostic, SourceFile};
use rollguard::syntax::lex::{self, Kind};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub start: u32,
    pub end: u32,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub diagnostic: FileDiagnostic,
    pub edits: Vec<Edit>,
    pub preferred: bool,
}

/// The texts in backticks.
fn quoted(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

fn is_quantity(s: &str) -> bool {
    let body = s
        .strip_suffix("ms")
        .or_else(|| s.strip_suffix(['s', 'm', 'h', '%']));
    body.is_some_and(|b| {
        let b = b.strip_prefix('-').unwrap_or(b);
        !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit() || c == b'.')
    })
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

/// The fixes for diagnostics of `file` whose range meets `start..end`.
pub fn fixes(db: &dyn Db, file: SourceFile, start: u32, end: u32) -> Vec<Fix> {
    let text = file.text(db);
    let mut out = Vec::new();
    for d in db::diagnostics(db, file).iter() {
        if d.end < start || d.start > end {
            continue;
        }
        let help = d.help.clone().unwrap_or_default();
        // A unit to add.
        if matches!(
            d.code,
            Code::UnitMismatch | Code::ArgumentType | Code::WindowNotConstant
        ) {
            let mut literals: Vec<&str> = quoted(&d.message)
                .into_iter()
                .chain(quoted(&help))
                .filter(|q| is_quantity(q))
                .collect();
            let mut seen = std::collections::HashSet::new();
            literals.retain(|l| seen.insert(*l));
            let bare: Vec<lex::Tok> = lex::lex(&text[d.start as usize..d.end as usize])
                .into_iter()
                .filter(|t| t.kind == Kind::Number && t.unit().is_empty())
                .collect();
            let named: Vec<&str> = quoted(&d.message);
            let number = match bare.as_slice() {
                [one] => Some(*one),
                many => many
                    .iter()
                    .find(|t| named.contains(&t.text))
                    .copied(),
            };
            if let Some(n) = number {
                for (i, lit) in literals.iter().enumerate() {
                    out.push(Fix {
                        title: format!("Write `{lit}`"),
                        diagnostic: d.clone(),
                        edits: vec![Edit {
                            start: d.start + n.start,
                            end: d.start + n.end(),
                            text: lit.to_string(),
                        }],
                        preferred: i == 0,
                    });
                }
            }
        }
        // "did you mean `x`?"
        if let Some(rest) = help.split("did you mean `").nth(1) {
            let suggestion = rest.split('`').next().unwrap_or("");
            // A syntax error points at one character: the word that starts there.
            let (from, to) = if d.code == Code::Syntax {
                let s = d.start as usize;
                let len = text[s..]
                    .bytes()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
                    .count();
                (s, s + len)
            } else {
                (d.start as usize, d.end as usize)
            };
            let current = &text[from..to];
            let replacement = if is_word(current) {
                suggestion.rsplit(['.', ':']).next().unwrap_or(suggestion)
            } else {
                suggestion
            };
            if is_word(current) && is_word(replacement) && current != replacement {
                out.push(Fix {
                    title: format!("Replace `{current}` with `{replacement}`"),
                    diagnostic: d.clone(),
                    edits: vec![Edit {
                        start: from as u32,
                        end: to as u32,
                        text: replacement.to_string(),
                    }],
                    preferred: true,
                });
            }
        }
        // "add `use std::x` to this file"
        if let Some(rest) = help.split("add `use ").nth(1) {
            let module = rest.split('`').next().unwrap_or("");
            if !module.is_empty() {
                let at = use_insertion_point(db, file);
                out.push(Fix {
                    title: format!("Add `use {module}`"),
                    diagnostic: d.clone(),
                    edits: vec![Edit {
                        start: at,
                        end: at,
                        text: format!("use {module}\n"),
                    }],
                    preferred: true,
                });
            }
        }
        // "delete the `use`"
        if help.contains("delete the `use`") {
            let line_start = text[..d.start as usize].rfind('\n').map_or(0, |i| i + 1);
            let line_end = text[d.end as usize..]
                .find('\n')
                .map_or(text.len(), |i| d.end as usize + i + 1);
            out.push(Fix {
                title: "Delete the `use`".into(),
                diagnostic: d.clone(),
                edits: vec![Edit {
                    start: line_start as u32,
                    end: line_end as u32,
                    text: String::new(),
                }],
                preferred: true,
            });
        }
    }
    out
}

/// The start of the line after the file's last `use`, or of its first declaration.
fn use_insertion_point(db: &dyn Db, file: SourceFile) -> u32 {
    let text = file.text(db);
    let parsed = db::parse(db, file);
    let last_use = parsed
        .ast
        .items
        .iter()
        .rfind(|i| matches!(i.kind, rollguard::syntax::ast::ItemKind::Use(_)));
    if let Some(last) = last_use {
        let end = last.span.end as usize;
        return text[end..].find('\n').map_or(text.len(), |i| end + i + 1) as u32;
    }
    match parsed.ast.items.first() {
        Some(first) => {
            let s = first.span.start as usize;
            text[..s].rfind('\n').map_or(0, |i| i + 1) as u32
        }
        None => 0,
    }
}
