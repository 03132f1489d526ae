//! Hover: what a name is (type and unit, doc comment, a signal's snapshot key, a class's tags, a
//! scope's grants), and what built-ins, fields, actions and diagnostic codes mean.

use rollguard::syntax::ast::{ItemKind, StatementKind};
use rollguard::syntax::lex::{self, Kind};
use rollguard::syntax::print;

use crate::db::{self, Db, DefKind, DefRef, Detail, SourceFile, Token};
use crate::ide::FileRange;
use crate::paths::FilePath;

/// Markdown, and the range it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoverText {
    pub markdown: String,
    pub range: FileRange,
}

pub fn hover(db: &dyn Db, file: SourceFile, offset: u32) -> Option<HoverText> {
    let text = file.text(db);
    let resolved = db::names(db, file);
    if let Some(o) = resolved.at(offset) {
        let word = &text[o.start as usize..o.end as usize];
        let markdown = match (o.token, &o.def) {
            (Token::Def(_), Some(def)) => declaration(db, file, def),
            (Token::Builtin, _) => builtin(word).map(str::to_string),
            (Token::Field, _) => field(text, o.start as usize, o.end as usize, o.ty.as_deref()),
            (Token::PrincipalKind, _) => principal_kind(word).map(str::to_string),
            (Token::Action, _) => action(word).map(str::to_string),
            (Token::Type, _) => Some(type_doc(word)),
            (Token::Code, _) => code(word.trim_matches('"')),
            (Token::Annotation, _) => annotation(word).map(str::to_string),
            _ => None,
        }?;
        return Some(HoverText {
            markdown,
            range: FileRange {
                file,
                start: o.start,
                end: o.end,
            },
        });
    }
    // Words the AST keeps no name for: `fresh`, `max`, `deployment`, ...
    let tok = lex::lex(text)
        .into_iter()
        .find(|t| t.start <= offset && offset <= t.end() && t.kind == Kind::Word)?;
    let markdown = builtin(tok.text)?.to_string();
    Some(HoverText {
        markdown,
        range: FileRange {
            file,
            start: tok.start,
            end: tok.end(),
        },
    })
}

fn code_block(s: &str) -> String {
    format!("```rollguard\n{s}\n```")
}

fn where_declared(db: &dyn Db, here: SourceFile, def: &DefRef) -> Option<String> {
    if def.file == here {
        return None;
    }
    Some(match def.file.path(db) {
        FilePath::Std(m) => format!("declared in `std::{m}`"),
        FilePath::Fs(p) => format!(
            "declared in `{}`",
            p.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| p.display().to_string())
        ),
    })
}

/// What a value of a type with a unit is, for hover.
fn unit_note(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "ratio" => "a fraction: `1%` is 0.01; write `%` after a number",
        "duration" => "seconds; write `ms`, `s`, `m` or `h` after a number",
        "count" => "a whole number of at least 0",
        "number" => "a plain number, without a unit",
        _ => return None,
    })
}

fn typed(ty: &str) -> String {
    match unit_note(ty) {
        Some(note) => format!("type `{ty}`: {note}"),
        None => format!("type `{ty}`"),
    }
}

fn declaration(db: &dyn Db, here: SourceFile, def: &DefRef) -> Option<String> {
    if def.kind == DefKind::Module {
        return Some(module(db, def.file));
    }
    let decls = db::declarations(db, def.file);
    let d = decls.find(def.kind, def.container.as_deref(), &def.name)?;
    let head;
    let mut lines: Vec<String> = Vec::new();
    match (&d.detail, d.kind) {
        (Detail::Signal { ty, key }, _) => {
            head = format!("signal {}: {ty} = {}", d.name, print::quote(key));
            lines.push(typed(ty));
            lines.push(format!(
                "snapshot key `{key}`: read from `signals[{}]`",
                print::quote(key)
            ));
        }
        (Detail::Fn { params, ret }, _) => {
            let ps: Vec<String> = params.iter().map(|(n, t)| format!("{n}: {t}")).collect();
            head = format!("fn {}({}) -> {ret}", d.name, ps.join(", "));
            lines.push(format!("returns {}", typed(ret)));
        }
        (Detail::Param { ty }, _) => {
            head = format!("{}: {ty}", d.name);
            lines.push(format!(
                "parameter of `fn {}`",
                def.container.as_deref().unwrap_or("")
            ));
            lines.push(typed(ty));
        }
        (
            Detail::Class {
                tags,
                irreversible,
                security_fix,
            },
            _,
        ) => {
            let mut parts = Vec::new();
            if !tags.is_empty() {
                parts.push(format!("touches [{}]", tags.join(", ")));
            }
            if *irreversible {
                parts.push("irreversible".into());
            }
            if *security_fix {
                parts.push("security_fix".into());
            }
            head = if parts.is_empty() {
                format!("class {} {{}}", d.name)
            } else {
                format!("class {} {{ {} }}", d.name, parts.join(" "))
            };
            if tags.is_empty() {
                lines.push("tags: none".into());
            } else {
                let t: Vec<String> = tags.iter().map(|t| format!("`{t}`")).collect();
                lines.push(format!("tags: {}", t.join(", ")));
            }
            if *irreversible {
                lines.push("irreversible: a `rollback` decision becomes `halt`".into());
            }
            if *security_fix {
                lines.push(
                    "security fix: reverting it would restore the exposure, so a `rollback` decision becomes `halt`"
                        .into(),
                );
            }
        }
        (
            Detail::Scope {
                principals,
                may,
                envs,
                services,
                classes,
            },
            _,
        ) => {
            head = format!("scope {}", d.name);
            lines.push(format!("principals: {}", principals.join(", ")));
            let grants: Vec<String> = may.iter().map(|g| format!("`{g}`")).collect();
            lines.push(format!("may: {}", grants.join(", ")));
            lines.push(match envs {
                Some(e) => format!("in: {}", e.join(", ")),
                None => "in: every environment".into(),
            });
            if let Some(s) = services {
                lines.push(format!("for services: {}", s.join(", ")));
            }
            if let Some(c) = classes {
                let c: Vec<String> = c.iter().map(|c| format!("`{c}`")).collect();
                lines.push(format!("for classes: {}", c.join(", ")));
            }
        }
        (Detail::Forbid { action }, _) => {
            head = statement_text(db, def).unwrap_or_else(|| d.name.clone());
            let to = if action == "proceed" { "hold" } else { "halt" };
            lines.push(format!(
                "forbid of policy `{}`: while it holds (or its evidence is unknown), a `{action}` decision becomes `{to}`",
                def.container.as_deref().unwrap_or("")
            ));
        }
        (Detail::Rule { .. }, _) | (Detail::Approval { .. }, _) => {
            head = statement_text(db, def).unwrap_or_else(|| d.name.clone());
            lines.push(format!(
                "{} of policy `{}`",
                d.kind.word(),
                def.container.as_deref().unwrap_or("")
            ));
        }
        (_, DefKind::Let) | (_, DefKind::Local) => {
            let (value, ty) = let_value(db, def);
            head = match value {
                Some(v) => format!("let {} = {v}", d.name),
                None => format!("let {}", d.name),
            };
            if let Some(p) = &def.container {
                lines.push(format!("local to policy `{p}`"));
            }
            if let Some(ty) = ty {
                lines.push(typed(&ty));
            }
        }
        (_, DefKind::Policy) => {
            head = format!("policy {}", d.name);
            let rules = d
                .children
                .iter()
                .filter(|c| c.kind == DefKind::Rule)
                .count();
            let approvals = d
                .children
                .iter()
                .filter(|c| c.kind == DefKind::Approval)
                .count();
            lines.push(format!(
                "{rules} rule{}, {approvals} approval{}",
                if rules == 1 { "" } else { "s" },
                if approvals == 1 { "" } else { "s" }
            ));
        }
        (_, DefKind::Tag) => {
            head = format!("tag {}", d.name);
            lines.push(format!(
                "listed by class `{}`; `class touches {}` holds for the classes that list it",
                def.container.as_deref().unwrap_or(""),
                d.name
            ));
        }
        _ => head = format!("{} {}", d.kind.word(), d.name),
    }
    for (k, v) in &d.annotations {
        lines.push(match v {
            Some(v) => format!("`@{k}({v})`"),
            None => format!("`@{k}`"),
        });
    }
    if let Some(w) = where_declared(db, here, def) {
        lines.push(w);
    }
    let mut out = code_block(&head);
    if !lines.is_empty() {
        out.push_str("\n\n");
        out.push_str(&lines.join("  \n"));
    }
    if let Some(doc) = &d.doc {
        out.push_str("\n\n---\n\n");
        out.push_str(doc.trim());
    }
    Some(out)
}

/// A rule or approval as written, in the library's canonical layout.
fn statement_text(db: &dyn Db, def: &DefRef) -> Option<String> {
    let parsed = db::parse(db, def.file);
    for item in &parsed.ast.items {
        let ItemKind::Policy(p) = &item.kind else {
            continue;
        };
        if Some(p.name.name.as_str()) != def.container.as_deref() {
            continue;
        }
        for s in &p.statements {
            match &s.kind {
                StatementKind::Rule {
                    action,
                    name,
                    when,
                    window,
                    unless,
                } if name.name == def.name => {
                    let mut t = format!("{} {} when {}", action.name, name.name, print::expr(when));
                    if let Some(w) = window {
                        t.push_str(&format!(" for {}", print::expr(w)));
                    }
                    if let Some(u) = unless {
                        t.push_str(&format!(" unless {}", print::expr(u)));
                    }
                    return Some(t);
                }
                StatementKind::Forbid {
                    action,
                    name,
                    when,
                    unless,
                } if name.name == def.name => {
                    let mut t = format!(
                        "forbid {} {} when {}",
                        action.name,
                        name.name,
                        print::expr(when)
                    );
                    if let Some(u) = unless {
                        t.push_str(&format!(" unless {}", print::expr(u)));
                    }
                    return Some(t);
                }
                StatementKind::Approval {
                    name,
                    count,
                    of,
                    when,
                } if name.name == def.name => {
                    let mut t = format!(
                        "approval {} requires {} of {}",
                        name.name,
                        print::expr(&rollguard::syntax::ast::Expr {
                            kind: rollguard::syntax::ast::ExprKind::Number(
                                count.0,
                                rollguard::syntax::ast::Unit::None
                            ),
                            span: count.1,
                        }),
                        print::principal(of)
                    );
                    if let Some(w) = when {
                        t.push_str(&format!(" when {}", print::expr(w)));
                    }
                    return Some(t);
                }
                _ => {}
            }
        }
    }
    None
}

/// A let's value (shortened) and type.
fn let_value(db: &dyn Db, def: &DefRef) -> (Option<String>, Option<String>) {
    let parsed = db::parse(db, def.file);
    let mut value = None;
    for item in &parsed.ast.items {
        match &item.kind {
            ItemKind::Let(l) if def.container.is_none() && l.name.name == def.name => {
                value = Some(print::expr(&l.value));
            }
            ItemKind::Policy(p) if def.container.as_deref() == Some(p.name.name.as_str()) => {
                for s in &p.statements {
                    if let StatementKind::Let(l) = &s.kind {
                        if l.name.name == def.name {
                            value = Some(print::expr(&l.value));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let value = value.map(|v| {
        if v.chars().count() > 120 {
            let cut: String = v.chars().take(117).collect();
            format!("{cut}...")
        } else {
            v
        }
    });
    // The type the checker found for the let's value where it is declared.
    let ty = db::names(db, def.file)
        .declaration(def)
        .and_then(|o| o.ty.clone());
    (value, ty)
}

fn module(db: &dyn Db, file: SourceFile) -> String {
    let name = match file.path(db) {
        FilePath::Std(m) => format!("std::{m}"),
        FilePath::Fs(p) => p.display().to_string(),
    };
    let decls = db::declarations(db, file);
    let names: Vec<String> = decls
        .decls
        .iter()
        .filter(|d| {
            matches!(
                d.kind,
                DefKind::Signal | DefKind::Let | DefKind::Fn | DefKind::Class | DefKind::Scope
            )
        })
        .map(|d| format!("`{}`", d.name))
        .collect();
    let header: Vec<&str> = file
        .text(db)
        .lines()
        .take_while(|l| l.starts_with("//") && !l.starts_with("///"))
        .map(|l| l.trim_start_matches('/').trim())
        .collect();
    let mut out = format!("module `{name}`");
    if !header.is_empty() {
        out.push_str("\n\n");
        out.push_str(&header.join(" "));
    }
    if !names.is_empty() {
        out.push_str(&format!("\n\ndeclares {}", names.join(", ")));
    }
    out
}

/// A `deployment.` field; `ty` is the checker's type for the path up to it.
fn field(text: &str, start: usize, end: usize, ty: Option<&str>) -> Option<String> {
    let before = &text[..start];
    let path_start = before
        .rfind(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'))
        .map_or(0, |i| i + 1);
    let path = &text[path_start..end];
    let rest = path.strip_prefix("deployment.")?;
    let parts: Vec<&str> = rest.split('.').collect();
    let ty = ty.unwrap_or(match parts.as_slice() {
        ["rollback_target"] => "not a value: read `.healthy` or `.version`",
        _ => "unknown field",
    });
    let note = match rest {
        "traffic_percent" => "\n\na plain number from 0 to 100, not a ratio: write `deployment.traffic_percent >= 50`",
        "class" => "\n\n`class` alone means the same",
        "labels" => "\n\n`\"team\" in deployment.labels`, `deployment.labels[\"team\"]`",
        "approvals" => "\n\nread by `approval` statements only",
        "rollback_target.healthy" => "\n\nunknown when absent, and a `rollback` then becomes `halt`",
        _ => "",
    };
    Some(format!("{}\n\n{}{note}", code_block(path), typed(ty)))
}

pub fn builtin(word: &str) -> Option<&'static str> {
    Some(match word {
        "baseline" => "```rollguard\nbaseline(s)\n```\n\nThe signal's production baseline (`baseline` in the snapshot), of the signal's type. Unknown when the signal is missing or stale, or has no baseline.",
        "samples" => "```rollguard\nsamples(s)\n```\n\nHow many samples the value summarizes (`samples` in the snapshot): a `count`.",
        "age" => "```rollguard\nage(s)\n```\n\n`at - observed_at`, never below 0: a `duration`.",
        "delta" => "```rollguard\ndelta(s)\n```\n\n`s - baseline(s)`, of the signal's type.",
        "has" => "```rollguard\nhas(x)\n```\n\nWhether a signal or `deployment.` path is present: `bool`, never unknown (false instead). Only in `applies`, a `require` or an approval's `when`.",
        "fresh" => "```rollguard\nfresh(s, ...) within D\n```\n\nEvery listed signal has an `observed_at` at most D before `at`: `bool`, never unknown (false instead). Only in a `require`.",
        "max" => "```rollguard\nmax(s) over D\n```\n\nThe largest value over the window, of the signal's type. Unknown when the window is not covered.",
        "min" => "```rollguard\nmin(s) over D\n```\n\nThe smallest value over the window, of the signal's type. Unknown when the window is not covered.",
        "avg" => "```rollguard\navg(s) over D\n```\n\nThe plain mean of the window's points, of the signal's type. Unknown when the window is not covered.",
        "cel" => "```rollguard\ncel(\"EXPR\")\n```\n\nA CEL condition over the snapshot (`at`, `deployment`, `signals`, `requester`): `bool`; unknown when evaluating it fails.",
        "deployment" => "```rollguard\ndeployment\n```\n\nThe snapshot's `deployment` object: read a field, such as `deployment.environment` or `deployment.actor`.",
        _ => return None,
    })
}

fn principal_kind(word: &str) -> Option<&'static str> {
    Some(match word {
        "human" => "principal kind `human`: a person; `human \"ana\"` is one identity",
        "agent" => "principal kind `agent`: an automated agent; `agent \"release-bot\"` is one identity",
        "service_account" => "principal kind `service_account`: a machine identity; `service_account \"ci\"` is one identity",
        "group" => "`group \"NAME\"`: any principal, of any kind, whose `groups` include the name",
        _ => return None,
    })
}

fn action(word: &str) -> Option<&'static str> {
    Some(match word {
        "proceed" => "`proceed`: nothing stops the rollout (a scope grants it with `promote`)",
        "inconclusive" => "`inconclusive`: the evidence does not decide; pause (a scope grants it with `halt`)",
        "hold" => "`hold`: pause the rollout where it is (a scope grants it with `halt`)",
        "halt" => "`halt`: stop the rollout (a scope grants it with `halt`)",
        "rollback" => "`rollback`: revert to the rollback target; becomes `halt` for an irreversible or security-fix class, or an unhealthy target",
        "promote" => "grant `promote`: may let a rollout proceed",
        "override" => "grant `override`: may override a decision (break-glass)",
        _ => return None,
    })
}

fn type_doc(word: &str) -> String {
    let what = match word {
        "bool" => "true or false",
        "number" => "a real number",
        "count" => "a whole number of at least 0 (mixes with `number`)",
        "ratio" => "a fraction; `1%` is 0.01",
        "duration" => "a length of time, in seconds; `250ms`, `2s`, `5m`, `1h`",
        "string" => "text",
        "timestamp" => "an instant (parameter type only)",
        "principal" => "a human, agent or service account (`deployment.actor`)",
        "class" => "a release class (`class`, `deployment.class`)",
        _ => "not a type: the types are bool, number, count, ratio, duration, string, timestamp, principal and class",
    };
    format!("type `{word}`: {what}")
}

fn code(word: &str) -> Option<String> {
    let c = rollguard::Code::parse(word)?;
    Some(format!(
        "**{}**: {}\n\n{}",
        c.as_str(),
        c.title(),
        c.explanation().trim()
    ))
}

fn annotation(word: &str) -> Option<&'static str> {
    Some(match word {
        "mode" => "`@mode(\"dry_run\")`: evaluate and report in `shadow` only, never deciding",
        "severity" => "`@severity(\"high\")`: free-text severity, for readers and tools",
        "maps" => "`@maps(\"NIST-CSF-2.0 RC.RP-1\")`: control IDs the declaration implements",
        "doc" => "`@doc(\"...\")`: documentation",
        "allow" => {
            "`@allow(CODE)`: silences one lint here; the finding is still listed for reviewers"
        }
        "until" => "`@until(\"2026-12-31\")`: the day a dry run ends",
        _ => return None,
    })
}
