//! The files that list the language's words and cannot import `rollguard::syntax::lexicon` —
//! the pest grammar, the VS Code TextMate grammar and the Vim syntax — list the same words it
//! does. Each test reads its file and fails naming every missing or extra word and the file to
//! fix.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

use rollguard::syntax::lexicon::{
    ACTIONS, BOOLEANS, BUILTIN_FUNCTIONS, CLASS_PROPERTIES, CLAUSES, DECLARATIONS, DEPLOYMENT,
    OPERATOR_WORDS, PRINCIPAL_KINDS, RESERVED, STD, TYPE_NAMES, UNITS, WINDOW_FUNCTIONS,
};

const PEST: &str = "grammar/rollguard.pest";
const VSCODE: &str = "editors/vscode/syntaxes/rollguard.tmLanguage.json";
const VIM: &str = "editors/neovim/syntax/rollguard.vim";

fn read(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn set<'a>(words: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    words.into_iter().map(str::to_string).collect()
}

/// Adds to `problems` each word `found` has and `want` has not, and the other way round.
fn compare(
    problems: &mut Vec<String>,
    file: &str,
    what: &str,
    lexicon: &str,
    want: &BTreeSet<String>,
    found: &BTreeSet<String>,
) {
    for w in want.difference(found) {
        problems.push(format!(
            "{file}: `{w}` is missing from {what} (it is in lexicon::{lexicon})"
        ));
    }
    for w in found.difference(want) {
        problems.push(format!(
            "{file}: `{w}` in {what} is not in lexicon::{lexicon}; remove it there or add it to src/syntax/lexicon.rs"
        ));
    }
}

fn report(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "the word lists differ from src/syntax/lexicon.rs:\n  {}",
        problems.join("\n  ")
    );
}

/// The quoted strings of the pest rule `name` (from `name = ` to the end of its braces).
fn pest_rule_strings(grammar: &str, name: &str) -> Option<BTreeSet<String>> {
    let start = grammar
        .lines()
        .scan(0, |offset, line| {
            let at = *offset;
            *offset += line.len() + 1;
            Some((at, line))
        })
        .find(|(_, line)| line.starts_with(&format!("{name} = ")))?
        .0;
    let body = &grammar[start..];
    let open = body.find('{')?;
    let mut depth = 0;
    let mut end = body.len();
    for (i, c) in body.char_indices().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let body = &body[open..end];
    Some(
        body.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect(),
    )
}

#[test]
fn pest_grammar_matches_the_lexicon() {
    let grammar = read(PEST);
    let mut problems = Vec::new();
    let rules: [(&str, &str, BTreeSet<String>); 5] = [
        ("keyword", "RESERVED", set(RESERVED.iter().copied())),
        ("action", "ACTIONS", set(ACTIONS.iter().copied())),
        ("boolean", "BOOLEANS", set(BOOLEANS.iter().copied())),
        (
            "window_fn",
            "WINDOW_FUNCTIONS",
            set(WINDOW_FUNCTIONS.iter().copied()),
        ),
        ("unit", "UNITS", set(UNITS.iter().map(|(u, _)| *u))),
    ];
    for (rule, lexicon, want) in &rules {
        match pest_rule_strings(&grammar, rule) {
            Some(found) => compare(
                &mut problems,
                PEST,
                &format!("the rule `{rule}`"),
                lexicon,
                want,
                &found,
            ),
            None => problems.push(format!("{PEST}: no rule `{rule}`")),
        }
    }
    // Every keyword a statement or an expression spells out has its `kw_` rule.
    let kw: BTreeSet<String> = grammar
        .lines()
        .filter_map(|l| l.strip_prefix("kw_"))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    let spelled = set(DECLARATIONS
        .iter()
        .chain(CLAUSES)
        .chain(OPERATOR_WORDS)
        .chain(CLASS_PROPERTIES)
        .copied());
    compare(
        &mut problems,
        PEST,
        "the `kw_` rules",
        "DECLARATIONS, CLAUSES, OPERATOR_WORDS and CLASS_PROPERTIES",
        &spelled,
        &kw,
    );
    for (word, rule) in [
        ("cel", "cel_call"),
        ("fresh", "fresh_call"),
        (DEPLOYMENT, "deployment_path"),
        (STD, "std_path"),
    ] {
        let found = pest_rule_strings(&grammar, rule).unwrap_or_default();
        if !found.contains(word) {
            problems.push(format!("{PEST}: the rule `{rule}` does not spell `{word}`"));
        }
    }
    report(problems);
}

/// `text` without the groups that start with `(?!` or `(?=`, and the contents of those groups
/// that start with `(?!`.
fn split_lookaheads(text: &str) -> (String, Vec<String>) {
    let mut rest = String::new();
    let mut negative = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            rest.push_str(&text[i..(i + 2).min(b.len())]);
            i += 2;
            continue;
        }
        if text[i..].starts_with("(?!") || text[i..].starts_with("(?=") {
            let mut depth = 0;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'\\' => j += 1,
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            if text[i..].starts_with("(?!") {
                negative.push(text[i + 3..j.min(b.len())].to_string());
            }
            i = j + 1;
            continue;
        }
        rest.push(b[i] as char);
        i += 1;
    }
    (rest, negative)
}

/// The literal words of a regular expression: what is left outside escapes (`\b`, `\s`) and
/// character classes (`[a-z_]`).
fn regex_words(regex: &str) -> BTreeSet<String> {
    let mut plain = String::new();
    let mut chars = regex.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
                plain.push(' ');
            }
            '[' => {
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                }
                plain.push(' ');
            }
            c if c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit() => plain.push(c),
            _ => plain.push(' '),
        }
    }
    plain
        .split_whitespace()
        .filter(|w| !w.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

/// Which lexicon list a TextMate scope's words come from, by the scope's prefix; the first
/// prefix that matches wins.
const VSCODE_SCOPES: &[(&str, &str)] = &[
    ("keyword.control.import.", "DECLARATIONS"),
    ("storage.type.", "DECLARATIONS"),
    ("variable.language.class.", "DECLARATIONS"),
    ("keyword.control.", "CLAUSES"),
    ("keyword.operator.logical.", "OPERATOR_WORDS"),
    ("keyword.operator.word.", "OPERATOR_WORDS"),
    ("constant.language.boolean.", "BOOLEANS"),
    ("keyword.other.action.", "ACTIONS"),
    ("constant.language.class-property.", "CLASS_PROPERTIES"),
    ("support.type.principal.", "PRINCIPAL_KINDS"),
    ("support.function.builtin.", "BUILTIN_FUNCTIONS"),
    ("support.type.primitive.", "TYPE_NAMES"),
    ("variable.language.deployment.", "DEPLOYMENT"),
    ("entity.name.namespace.", "STD"),
    ("constant.numeric.duration.", "UNITS"),
];

fn lexicon_list(name: &str) -> BTreeSet<String> {
    match name {
        "DECLARATIONS" => set(DECLARATIONS.iter().copied()),
        "CLAUSES" => set(CLAUSES.iter().copied()),
        "OPERATOR_WORDS" => set(OPERATOR_WORDS.iter().copied()),
        "BOOLEANS" => set(BOOLEANS.iter().copied()),
        "ACTIONS" => set(ACTIONS.iter().copied()),
        "CLASS_PROPERTIES" => set(CLASS_PROPERTIES.iter().copied()),
        "PRINCIPAL_KINDS" => set(PRINCIPAL_KINDS.iter().copied()),
        "BUILTIN_FUNCTIONS" => set(BUILTIN_FUNCTIONS.iter().copied()),
        "TYPE_NAMES" => set(TYPE_NAMES.iter().copied()),
        "DEPLOYMENT" => set([DEPLOYMENT]),
        "STD" => set([STD]),
        // `%` is matched by a pattern of its own.
        "UNITS" => set(UNITS.iter().map(|(u, _)| *u).filter(|u| *u != "%")),
        other => panic!("no lexicon list {other}"),
    }
}

/// Every pattern with a `match` (or `begin`) under `value`, with its scope names (its `name`,
/// then its captures' in order) and where it is.
fn tm_patterns(
    value: &serde_json::Value,
    place: &str,
    out: &mut Vec<(String, String, Vec<String>)>,
) {
    match value {
        serde_json::Value::Object(o) => {
            if let Some(re) = o
                .get("match")
                .or_else(|| o.get("begin"))
                .and_then(|m| m.as_str())
            {
                let mut scopes: Vec<String> = o
                    .get("name")
                    .and_then(|n| n.as_str())
                    .map(str::to_string)
                    .into_iter()
                    .collect();
                for key in ["captures", "beginCaptures"] {
                    if let Some(caps) = o.get(key).and_then(|c| c.as_object()) {
                        let mut caps: Vec<(&String, &serde_json::Value)> = caps.iter().collect();
                        caps.sort_by_key(|(k, _)| k.parse::<u32>().unwrap_or(u32::MAX));
                        scopes.extend(
                            caps.iter()
                                .filter_map(|(_, c)| c.get("name")?.as_str())
                                .map(str::to_string),
                        );
                    }
                }
                out.push((place.to_string(), re.to_string(), scopes));
            }
            for (k, v) in o {
                if k == "patterns" || k == "repository" {
                    tm_patterns(v, place, out);
                } else if v.is_object() && (place.is_empty() || k != "captures") {
                    let inner = if place.is_empty() {
                        k.clone()
                    } else {
                        place.to_string()
                    };
                    tm_patterns(v, &inner, out);
                }
            }
        }
        serde_json::Value::Array(a) => {
            for v in a {
                tm_patterns(v, place, out);
            }
        }
        _ => {}
    }
}

#[test]
fn vscode_grammar_matches_the_lexicon() {
    let json: serde_json::Value = serde_json::from_str(&read(VSCODE)).expect(VSCODE);
    let mut patterns = Vec::new();
    tm_patterns(&json["repository"], "", &mut patterns);
    let mut problems = Vec::new();
    let reserved = set(RESERVED.iter().copied());
    let mut found: BTreeMap<&str, BTreeSet<String>> = VSCODE_SCOPES
        .iter()
        .map(|(_, l)| (*l, BTreeSet::new()))
        .collect();
    for (place, re, scopes) in &patterns {
        let (rest, lookaheads) = split_lookaheads(re);
        // A name after `signal`, `let`, an action ... is any word but a reserved one.
        for l in &lookaheads {
            let words = regex_words(l);
            if words.len() > 1 {
                compare(
                    &mut problems,
                    VSCODE,
                    &format!("the list of reserved words in `{place}` pattern `{re}`"),
                    "RESERVED",
                    &reserved,
                    &words,
                );
            }
        }
        let words = regex_words(&rest);
        if words.is_empty() {
            continue;
        }
        let list = scopes.iter().find_map(|s| {
            VSCODE_SCOPES
                .iter()
                .find(|(prefix, _)| s.starts_with(prefix))
                .map(|(_, l)| *l)
        });
        match list {
            Some(l) => found.entry(l).or_default().extend(words),
            None => problems.push(format!(
                "{VSCODE}: the `{place}` pattern `{re}` (scopes {scopes:?}) highlights {words:?}, which the test does not tie to the lexicon; give it a scope from tests/lexicon.rs VSCODE_SCOPES"
            )),
        }
    }
    for (list, words) in &found {
        compare(
            &mut problems,
            VSCODE,
            &format!("the patterns for lexicon::{list}"),
            list,
            &lexicon_list(list),
            words,
        );
    }
    report(problems);
}

/// Which lexicon list a Vim `syn keyword` group's words come from.
const VIM_GROUPS: &[(&str, &str)] = &[
    ("rollguardInclude", "DECLARATIONS"),
    ("rollguardDeclaration", "DECLARATIONS"),
    ("rollguardKeyword", "CLAUSES"),
    ("rollguardOperatorWord", "OPERATOR_WORDS"),
    ("rollguardAction", "ACTIONS"),
    ("rollguardPrincipal", "PRINCIPAL_KINDS"),
    ("rollguardProperty", "CLASS_PROPERTIES"),
    ("rollguardBoolean", "BOOLEANS"),
    ("rollguardBuiltin", "BUILTIN_FUNCTIONS"),
    ("rollguardDeployment", "DEPLOYMENT"),
    // `class` is a type by `rollguardTypeClass`, in the matches after `:` and `->`.
    ("rollguardType", "TYPE_NAMES"),
];

/// Vim `syn keyword` options, which are not words.
fn vim_option(word: &str) -> bool {
    word.contains('=')
        || matches!(
            word,
            "contained" | "skipwhite" | "skipnl" | "skipempty" | "transparent" | "display"
        )
}

#[test]
fn vim_syntax_matches_the_lexicon() {
    let text = read(VIM);
    let mut problems = Vec::new();
    let mut found: Vec<(&str, BTreeSet<String>)> = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        if parts.next() != Some("syn") {
            continue;
        }
        match parts.next() {
            Some("keyword") => {
                let group = parts.next().unwrap_or_default();
                if group == "rollguardTodo" {
                    continue;
                }
                let words: BTreeSet<String> = parts
                    .filter(|w| !vim_option(w))
                    .map(str::to_string)
                    .collect();
                match VIM_GROUPS.iter().find(|(g, _)| *g == group) {
                    Some((_, list)) => match found.iter_mut().find(|(l, _)| l == list) {
                        Some(entry) => entry.1.extend(words),
                        None => found.push((list, words)),
                    },
                    None => problems.push(format!(
                        "{VIM}: `syn keyword {group}` is not tied to the lexicon; add it to tests/lexicon.rs VIM_GROUPS"
                    )),
                }
            }
            Some("match") if parts.next() == Some("rollguardTypeAnnot") => {
                let pattern: String = parts.collect::<Vec<_>>().join(" ");
                let alternatives = pattern
                    .split_once("\\(")
                    .and_then(|(_, r)| r.split_once("\\)"))
                    .map(|(alts, _)| set(alts.split("\\|")))
                    .unwrap_or_default();
                compare(
                    &mut problems,
                    VIM,
                    "the types in `syn match rollguardTypeAnnot`",
                    "TYPE_NAMES",
                    &lexicon_list("TYPE_NAMES"),
                    &alternatives,
                );
            }
            _ => {}
        }
    }
    for (list, words) in &found {
        let mut words = words.clone();
        if *list == "TYPE_NAMES" {
            words.insert("class".into());
        }
        let groups: Vec<&str> = VIM_GROUPS
            .iter()
            .filter(|(_, l)| l == list)
            .map(|(g, _)| *g)
            .collect();
        compare(
            &mut problems,
            VIM,
            &format!("`syn keyword {}`", groups.join("`/`")),
            list,
            &lexicon_list(list),
            &words,
        );
    }
    for (group, list) in VIM_GROUPS {
        if !found.iter().any(|(l, _)| l == list) {
            problems.push(format!(
                "{VIM}: no `syn keyword {group}` for the words of lexicon::{list}"
            ));
        }
    }
    report(problems);
}
