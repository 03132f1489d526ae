//! Completion, from the tokens before the cursor (the text is often half-written, so this reads
//! tokens, not the AST): keywords where a declaration or statement starts, declared names in
//! expressions, `deployment.` fields, units after a number, actions, principal kinds, grants,
//! classes after `is`, tags after `touches`, rules after `by`, modules after `use std::`.

use std::collections::BTreeSet;

use rollguard::syntax::ast::{ItemKind, StatementKind};
use rollguard::syntax::lex::{self, Kind, Tok};
use rollguard::syntax::lexicon::{
    self, BUILTIN_FUNCTIONS, CLASS_PROPERTIES, DECLARATIONS, GATE_ACTIONS, GRANTS, PRINCIPAL_KINDS,
    RULE_ACTIONS, TYPE_NAMES, UNITS, VERDICTS,
};
use tower_lsp_server::ls_types::{
    CompletionItem, CompletionItemKind, CompletionTextEdit, TextEdit,
};

use crate::db::{self, Db, DefKind, DefRef, Detail, SourceFile};

/// Words a policy statement starts with, besides the actions that start a rule.
const STATEMENTS: &[&str] = &["applies when", "require"];
const STATEMENTS_AFTER_RULES: &[&str] = &["approval", "forbid", "let"];
/// Reserved words (all of them in `lexicon::RESERVED`) offered in an expression.
const EXPR_KEYWORDS: &[&str] = &[
    "and", "or", "not", "true", "false", "when", "for", "unless", "else", "in", "is", "touches",
    "within", "over", "class",
];
pub const FIELDS: &[(&str, &str)] = &[
    ("id", "string"),
    ("revision", "string"),
    ("service", "string"),
    ("environment", "string"),
    ("stage", "string"),
    ("class", "class"),
    ("traffic_percent", "number"),
    ("cascade_depth", "count"),
    ("emergency", "bool"),
    ("actor", "principal"),
    ("approvals", "list of approvals"),
    ("rollback_target", "healthy, version"),
    ("labels", "map of labels"),
];

fn item(label: &str, kind: CompletionItemKind, detail: Option<String>) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail,
        ..Default::default()
    }
}

fn words(list: &[&str], kind: CompletionItemKind) -> Vec<CompletionItem> {
    list.iter().map(|w| item(w, kind, None)).collect()
}

/// The block the cursor is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    Top,
    Policy,
    Class,
    Scope,
    Test,
}

fn block(toks: &[Tok]) -> Block {
    let mut stack: Vec<Block> = Vec::new();
    let mut last_top = Block::Top;
    for t in toks {
        match (t.kind, t.text) {
            (Kind::Word, "policy") if stack.is_empty() => last_top = Block::Policy,
            (Kind::Word, "class") if stack.is_empty() => last_top = Block::Class,
            (Kind::Word, "scope") if stack.is_empty() => last_top = Block::Scope,
            (Kind::Word, "test") if stack.is_empty() => last_top = Block::Test,
            (Kind::Word, "use" | "signal" | "let" | "fn") if stack.is_empty() => {
                last_top = Block::Top
            }
            (Kind::Punct, "{") => stack.push(if stack.is_empty() {
                last_top
            } else {
                Block::Top
            }),
            (Kind::Punct, "}") => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.first().copied().unwrap_or(Block::Top)
}

pub fn completion(db: &dyn Db, file: SourceFile, offset: u32) -> Vec<CompletionItem> {
    let text = file.text(db);
    let offset = (offset as usize).min(text.len());
    let mut offset = offset;
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let toks = lex::lex(before);
    let last = toks.last().copied();
    let touching = last.filter(|t| t.end() as usize == offset);
    if let Some(t) = touching {
        if t.is_comment() || matches!(t.kind, Kind::Doc | Kind::Str) {
            return Vec::new();
        }
    }
    // An unterminated `/* ...` before the cursor, and a line comment on this line, also hide it.
    if let Some(t) = last {
        if t.kind == Kind::BlockComment && !t.text.ends_with("*/") {
            return Vec::new();
        }
    }
    let lines = db::lines(db, file);

    // The word or number being typed.
    let cur = touching.filter(|t| matches!(t.kind, Kind::Word | Kind::Number));
    let prev: Vec<Tok> = match cur {
        Some(_) => toks[..toks.len() - 1].to_vec(),
        None => toks.clone(),
    };
    let p = |i: usize| -> Option<&str> { prev.len().checked_sub(i + 1).map(|k| prev[k].text) };

    // Units right after a number.
    if let Some(t) = cur {
        if t.kind == Kind::Number {
            let digits = &t.text[..t.text.len() - t.unit().len()];
            let range = lines.range(t.start, t.end());
            return UNITS
                .iter()
                .map(|(u, what)| {
                    let label = format!("{digits}{u}");
                    CompletionItem {
                        label: label.clone(),
                        kind: Some(CompletionItemKind::UNIT),
                        detail: Some(what.to_string()),
                        filter_text: Some(label.clone()),
                        text_edit: Some(CompletionTextEdit::Edit(TextEdit::new(range, label))),
                        ..Default::default()
                    }
                })
                .collect();
        }
    }

    let index = db
        .set_of(file)
        .map(|s| db::set_index(db, s))
        .unwrap_or_default();

    // After a dot: fields.
    if p(0) == Some(".") {
        let mut path = Vec::new();
        let mut k = prev.len() - 1;
        while k >= 1 && prev[k].is(".") && prev[k - 1].kind == Kind::Word {
            path.push(prev[k - 1].text);
            if k < 2 {
                break;
            }
            k -= 2;
        }
        path.reverse();
        return match path.as_slice() {
            ["deployment"] => FIELDS
                .iter()
                .map(|(f, ty)| item(f, CompletionItemKind::FIELD, Some(ty.to_string())))
                .collect(),
            ["deployment", "rollback_target"] => vec![
                item("healthy", CompletionItemKind::FIELD, Some("bool".into())),
                item("version", CompletionItemKind::FIELD, Some("string".into())),
            ],
            _ => Vec::new(),
        };
    }
    // `use std::`
    if p(0) == Some("::") && p(1) == Some("std") {
        return rollguard::stdlib::MODULES
            .iter()
            .map(|(m, _)| item(m, CompletionItemKind::MODULE, Some(format!("std::{m}"))))
            .collect();
    }
    match p(0) {
        Some("use") => {
            return rollguard::stdlib::MODULES
                .iter()
                .map(|(m, _)| item(&format!("std::{m}"), CompletionItemKind::MODULE, None))
                .collect();
        }
        Some("else") => return words(GATE_ACTIONS, CompletionItemKind::ENUM_MEMBER),
        Some("expect") => return words(VERDICTS, CompletionItemKind::ENUM_MEMBER),
        Some("of") => return words(PRINCIPAL_KINDS, CompletionItemKind::ENUM_MEMBER),
        Some("is") => {
            let mut out: Vec<CompletionItem> = index
                .classes
                .keys()
                .map(|c| item(c, CompletionItemKind::CLASS, Some("class".into())))
                .collect();
            out.extend(words(CLASS_PROPERTIES, CompletionItemKind::KEYWORD));
            out.extend(words(PRINCIPAL_KINDS, CompletionItemKind::ENUM_MEMBER));
            return out;
        }
        Some("touches") => {
            return index
                .tags
                .keys()
                .map(|t| item(t, CompletionItemKind::ENUM_MEMBER, Some("tag".into())))
                .collect();
        }
        Some("by") => return rules(&index.rules),
        Some("signal" | "let" | "fn" | "policy" | "class" | "scope" | "test" | "approval") => {
            return Vec::new();
        }
        Some(":") if matches!(p(2), Some("signal" | "(" | ",")) => {
            return words(TYPE_NAMES, CompletionItemKind::TYPE_PARAMETER);
        }
        Some("->") => {
            return words(TYPE_NAMES, CompletionItemKind::TYPE_PARAMETER);
        }
        _ => {}
    }
    // Inside `[...]` lists and `by a, b`.
    if matches!(p(0), Some("[") | Some(",")) {
        let mut depth = 0;
        for t in prev.iter().rev() {
            match t.text {
                "]" => depth += 1,
                "[" if depth > 0 => depth -= 1,
                "[" => {
                    let k = prev.iter().position(|x| x == t).unwrap_or(0);
                    let owner = k.checked_sub(1).map(|k| prev[k].text);
                    return match owner {
                        Some("may" | "requester_may") => {
                            words(GRANTS, CompletionItemKind::ENUM_MEMBER)
                        }
                        Some("classes") => index
                            .classes
                            .keys()
                            .map(|c| item(c, CompletionItemKind::CLASS, Some("class".into())))
                            .collect(),
                        Some("principals") => {
                            words(PRINCIPAL_KINDS, CompletionItemKind::ENUM_MEMBER)
                        }
                        Some("touches") => index
                            .tags
                            .keys()
                            .map(|t| item(t, CompletionItemKind::ENUM_MEMBER, Some("tag".into())))
                            .collect(),
                        _ => expression(db, file, offset as u32, &index),
                    };
                }
                "by" if depth == 0 => return rules(&index.rules),
                "{" | "}" | "(" | ")" => break,
                _ => {}
            }
        }
    }
    // An action word names a new rule.
    if let Some(a) = p(0) {
        if RULE_ACTIONS.contains(&a) {
            return Vec::new();
        }
    }

    let start = cur.map_or(offset, |t| t.start as usize);
    let line_start = before[..start].rfind('\n').map_or(0, |i| i + 1);
    let at_line_start = before[line_start..start].trim().is_empty();
    let indented = start > line_start;
    match block(&prev) {
        Block::Top if at_line_start && !indented => {
            words(DECLARATIONS, CompletionItemKind::KEYWORD)
        }
        Block::Top if at_line_start => {
            let mut out = words(DECLARATIONS, CompletionItemKind::KEYWORD);
            out.extend(expression(db, file, offset as u32, &index));
            out
        }
        Block::Policy if at_line_start => {
            let mut out = words(STATEMENTS, CompletionItemKind::KEYWORD);
            out.extend(words(RULE_ACTIONS, CompletionItemKind::KEYWORD));
            out.extend(words(STATEMENTS_AFTER_RULES, CompletionItemKind::KEYWORD));
            out.extend(expression(db, file, offset as u32, &index));
            out
        }
        Block::Class => {
            let mut out = words(&["touches"], CompletionItemKind::KEYWORD);
            out.extend(words(CLASS_PROPERTIES, CompletionItemKind::KEYWORD));
            out
        }
        Block::Scope => words(
            &["principals", "may", "in", "for services", "for classes"],
            CompletionItemKind::KEYWORD,
        ),
        Block::Test => words(
            &["snapshot", "expect", "by", "authorized", "requester_may"],
            CompletionItemKind::KEYWORD,
        ),
        _ => expression(db, file, offset as u32, &index),
    }
}

fn rules(rules: &std::collections::BTreeMap<String, Vec<DefRef>>) -> Vec<CompletionItem> {
    rules
        .iter()
        .map(|(name, defs)| {
            let detail = defs
                .iter()
                .filter_map(|d| d.container.as_deref())
                .map(|p| format!("in policy {p}"))
                .collect::<Vec<_>>()
                .join(", ");
            item(name, CompletionItemKind::EVENT, Some(detail))
        })
        .collect()
}

fn value_detail(db: &dyn Db, def: &DefRef) -> (CompletionItemKind, Option<String>) {
    let decls = db::declarations(db, def.file);
    let detail = decls.find(def.kind, None, &def.name).map(|d| &d.detail);
    match (def.kind, detail) {
        (DefKind::Signal, Some(Detail::Signal { ty, key })) => (
            CompletionItemKind::VARIABLE,
            Some(format!("signal: {ty} = \"{key}\"")),
        ),
        (DefKind::Fn, Some(Detail::Fn { params, ret })) => {
            let ps: Vec<String> = params.iter().map(|(n, t)| format!("{n}: {t}")).collect();
            (
                CompletionItemKind::FUNCTION,
                Some(format!("fn({}) -> {ret}", ps.join(", "))),
            )
        }
        (DefKind::Let, _) => (CompletionItemKind::CONSTANT, Some("let".into())),
        _ => (CompletionItemKind::VARIABLE, None),
    }
}

/// Names and words that may stand in an expression.
fn expression(
    db: &dyn Db,
    file: SourceFile,
    offset: u32,
    index: &db::SetIndex,
) -> Vec<CompletionItem> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let scope = db::scope(db, file);
    // Parameters of the fn, or lets of the policy, the cursor is in.
    let parsed = db::parse(db, file);
    for it in &parsed.ast.items {
        if !(it.span.start <= offset && offset <= it.span.end) {
            continue;
        }
        match &it.kind {
            ItemKind::Fn(f) => {
                for p in &f.params {
                    if seen.insert(p.name.name.clone()) {
                        out.push(item(
                            &p.name.name,
                            CompletionItemKind::VARIABLE,
                            Some(format!("parameter: {}", p.ty.name)),
                        ));
                    }
                }
            }
            ItemKind::Policy(p) => {
                for s in &p.statements {
                    if let StatementKind::Let(l) = &s.kind {
                        if seen.insert(l.name.name.clone()) {
                            out.push(item(
                                &l.name.name,
                                CompletionItemKind::CONSTANT,
                                Some(format!("let in policy {}", p.name.name)),
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let values = scope
        .set
        .values
        .iter()
        .chain(scope.imported.iter())
        .chain(index.values.iter());
    for (name, def) in values {
        if seen.insert(name.clone()) {
            let (kind, detail) = value_detail(db, def);
            out.push(item(name, kind, detail));
        }
    }
    for b in BUILTIN_FUNCTIONS {
        out.push(item(
            b,
            CompletionItemKind::FUNCTION,
            Some("built-in".into()),
        ));
    }
    out.push(item(
        lexicon::DEPLOYMENT,
        CompletionItemKind::MODULE,
        Some("the snapshot's deployment".into()),
    ));
    out.extend(words(EXPR_KEYWORDS, CompletionItemKind::KEYWORD));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expression_keywords_are_reserved() {
        for w in EXPR_KEYWORDS {
            assert!(lexicon::is_reserved(w), "`{w}` is not in lexicon::RESERVED");
        }
    }
}
