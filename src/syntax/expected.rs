//! Turns pest's "expected one of these rules" into words a policy author reads.
//!
//! Grammar rule names never reach a user. Each rule that can be expected maps to a phrase; a
//! phrase for "the start of an expression" becomes "a condition" after `when`, `unless` and
//! `require`, where a condition is what the author is writing.

use pest::error::{Error, ErrorVariant, InputLocation};

use super::lexicon;
use super::parse::Rule;

const VALUE: &str = "a value";
const ACTION: &str = "an action (`rollback`, `halt`, `hold` or `inconclusive`)";
const DECLARATION: &str =
    "a declaration (`use`, `signal`, `class`, `scope`, `let`, `fn`, `policy` or `test`)";
/// Reserved words too short to guess from a typo: with them, `if` would be "did you mean `of`?".
const NOT_GUESSED: &[&str] = &["of", "by"];

/// Words a typo most likely meant, for "did you mean": the declarations, clauses and class
/// properties, and the actions that start a rule.
fn keywords() -> impl Iterator<Item = &'static str> {
    lexicon::DECLARATIONS
        .iter()
        .chain(lexicon::CLAUSES)
        .chain(lexicon::RULE_ACTIONS)
        .chain(lexicon::CLASS_PROPERTIES)
        .copied()
        .filter(|w| !NOT_GUESSED.contains(w))
}

fn phrase(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        quantity | number | string | boolean | cel_call | fresh_call | window_call | call
        | deployment_path | class_ref | name | list | paren | op_bang | op_neg | op_not | expr
        | window_fn => VALUE,
        op_or | op_and | op_eq | op_ne | op_le | op_ge | op_lt | op_gt | op_in | op_add
        | op_sub | op_mul | op_div | op_rem | op_cond | op_is | op_touches => "an operator",
        ident | word | rule_ref => "a name",
        type_name => "a type such as `ratio` or `duration`",
        string_inner => "the end of the string `\"`",
        action => ACTION,
        window => "a duration such as `5m`",
        principal | principal_pattern | is_target => "a principal such as `human` or `group \"sre\"`",
        env => "an environment name",
        annotation_arg | annotation_word => "an annotation value",
        std_path => "a module such as `std::http` or a path in quotes",
        applies_stmt | require_stmt | rule_stmt | approval_stmt | forbid_stmt | statement => {
            "a statement (`applies`, `require`, a rule such as `halt NAME when ...`, `approval`, `forbid` or `let`)"
        }
        class_part | class_touches => "`touches [...]`, `irreversible` or `security_fix`",
        scope_part | scope_principals | scope_may | scope_in => {
            "`principals [...]`, `may [...]`, `in [...]` or `for services [...]`/`for classes [...]`"
        }
        scope_for | scope_services | scope_classes => "`services [...]` or `classes [...]`",
        test_authority | expect_authorized | expect_requester_may => {
            "`authorized`, `not authorized` or `requester_may [...]`"
        }
        item | next_item | use_decl | signal_decl | class_decl | scope_decl | let_decl | fn_decl
        | policy_decl | test_decl | doc | annotation => DECLARATION,
        param => "a parameter such as `x: number`",
        EOI => "the end of the file",
        kw_use => "`use`",
        kw_signal => "`signal`",
        kw_class => "`class`",
        kw_scope => "`scope`",
        kw_let => "`let`",
        kw_fn => "`fn`",
        kw_policy => "`policy`",
        kw_test => "`test`",
        kw_applies => "`applies`",
        kw_when => "`when`",
        kw_require => "`require`",
        kw_requires => "`requires`",
        kw_else => "`else`",
        kw_for => "`for`",
        kw_unless => "`unless`",
        kw_approval => "`approval`",
        kw_of => "`of`",
        kw_within => "`within`",
        kw_over => "`over`",
        kw_touches => "an operator",
        kw_principals => "`principals`",
        kw_may => "`may`",
        kw_in => "an operator",
        kw_is => "an operator",
        kw_snapshot => "`snapshot`",
        kw_expect => "`expect`",
        kw_by => "`by`",
        kw_irreversible => "`irreversible`",
        kw_security_fix => "`security_fix`",
        kw_forbid => "`forbid`",
        kw_services => "`services`",
        kw_classes => "`classes`",
        kw_authorized => "`authorized`",
        kw_requester_may => "`requester_may`",
        _ => return None,
    })
}

fn token_phrase(token: &str) -> Option<&'static str> {
    Some(match token {
        "{" => "`{`",
        "}" => "`}`",
        "(" => "`(`",
        ")" => "`)`",
        "[" => "`[`",
        "]" => "`]`",
        "=" => "`=`",
        ":" => "`:`",
        "," => "`,`",
        "->" => "`->`",
        "::" => "`::`",
        _ => return None,
    })
}

/// What a syntax error says: the byte offset, the message and a short label.
pub struct SyntaxMessage {
    pub offset: usize,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
    /// A block whose `}` is missing: the caller names its `{` by line and column.
    pub unclosed: Option<Unclosed>,
    /// The fix of a misspelt keyword: the bytes `start..end` become the word.
    pub replace: Option<(usize, usize, String)>,
}

/// A `{` that is not closed where the parser expected its `}`.
pub struct Unclosed {
    /// Byte offset of the `{`.
    pub open: usize,
    /// What the `}` is missing before: "`policy`" or "the end of the file".
    pub before: String,
    /// The declaration the `{` opens, in words: "`policy checkout`".
    pub owner: String,
    /// Whether the file ends where the `}` is missing.
    pub at_end: bool,
}

pub fn describe(err: &Error<Rule>, text: &str) -> SyntaxMessage {
    let offset = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut wanted: Vec<&'static str> = Vec::new();
    let mut push = |p: &'static str| {
        if !wanted.contains(&p) {
            wanted.push(p);
        }
    };
    if let ErrorVariant::ParsingError { positives, .. } = &err.variant {
        for r in positives {
            if let Some(p) = phrase(*r) {
                push(p);
            }
        }
    }
    if let Some(attempts) = err.parse_attempts() {
        // pest does not export its token type; its Display is the literal itself.
        for t in attempts.expected_tokens() {
            if let Some(p) = token_phrase(&t.to_string()) {
                push(p);
            }
        }
    }
    // Where a value may start, the ways it can start (a name, `class`, `-`) are noise.
    if wanted.contains(&VALUE) {
        wanted.retain(|w| !matches!(*w, "a name" | "`class`" | "`(`" | "`[`"));
    }
    let before = previous_token(text, offset);
    // An action's choices depend on where it stands.
    for w in wanted.iter_mut() {
        if *w == ACTION {
            *w = match before.as_deref() {
                Some("else") => "an action for the gate (`inconclusive`, `hold` or `halt`)",
                Some("expect") => {
                    "a decision (`proceed`, `inconclusive`, `hold`, `halt` or `rollback`)"
                }
                _ => ACTION,
            };
        }
    }
    let condition_context = matches!(before.as_deref(), Some("when" | "unless" | "require"));
    let mut words: Vec<String> = wanted
        .iter()
        .map(|w| {
            if *w == VALUE && condition_context {
                "a condition".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    // "an operator" alongside a list of what may follow an expression is noise: keep it last.
    words.sort_by_key(|w| w == "an operator");
    if words.is_empty() {
        words.push(if before.is_none() {
            DECLARATION.into()
        } else {
            "something else".into()
        });
    }
    let expected = join_or(&words);
    let found = found_token(text, offset);
    let mut message = format!("expected {expected}");
    if let Some(b) = &before {
        message.push_str(&format!(" after `{b}`"));
    }
    let label = match &found {
        Some(f) => format!("found `{f}`"),
        None => "the file ends here".to_string(),
    };
    let typo = found
        .as_deref()
        .filter(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        // A reserved word in the wrong place is not a misspelling of another one (`class`
        // where a value was expected is not `classes`).
        .filter(|f| !lexicon::is_reserved(f))
        .and_then(|f| crate::diagnostic::did_you_mean(f, keywords()));
    let help = match &typo {
        Some(k) => Some(format!("did you mean `{k}`?")),
        None => help_for(found.as_deref(), before.as_deref()),
    };
    let replace = typo.zip(found.as_deref()).map(|(k, f)| {
        let at = word_at(text, offset);
        (at, at + f.len(), k)
    });
    let mut m = SyntaxMessage {
        offset,
        message,
        label,
        help,
        unclosed: None,
        replace: None,
    };
    let typo_help = m.help.clone();
    special_cases(&mut m, text, &words, found.as_deref(), before.as_deref());
    // A special case that says something else has its own fix, or none.
    if m.replace.is_none() && m.help == typo_help {
        m.replace = replace;
    }
    m
}

/// Where the token after `offset` starts (`found_token` reads it after the whitespace).
fn word_at(text: &str, offset: usize) -> usize {
    let rest = &text[offset..];
    offset + (rest.len() - rest.trim_start().len())
}

/// Mistakes common enough to deserve their own words.
fn special_cases(
    m: &mut SyntaxMessage,
    text: &str,
    words: &[String],
    found: Option<&str>,
    before: Option<&str>,
) {
    let offset = m.offset;
    let expects_close = words.iter().any(|w| w == "`}`");
    // A block comment that runs to the end of the file.
    let upto = text.len().min(offset + 2);
    let upto = (upto..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    if let Some(open) = text[..upto]
        .rfind("/*")
        .filter(|&o| !text[o..].contains("*/"))
    {
        m.offset = open;
        m.message = "this block comment is not closed".into();
        m.label = "the comment starts here".into();
        m.help = Some("end it with `*/`".into());
        return;
    }
    // A string that runs to the end of its line.
    if found.is_some_and(|f| f.starts_with('"')) {
        let line = text[offset..].trim_start().lines().next().unwrap_or("");
        if !line[1..].contains('"') {
            m.message = "this string is not closed".into();
            m.label = "the string starts here".into();
            m.help = Some(
                "end it with `\"` on the same line; write a line break inside a string as `\\n`"
                    .into(),
            );
            return;
        }
    }
    // `require ... else` with its action on the next line: the next rule's action was taken.
    if let Some(action) =
        before.filter(|b| matches!(*b, "rollback" | "halt" | "hold" | "inconclusive"))
    {
        let head = text[..offset].trim_end();
        // Only when the action is the text right before the error (not behind a comment).
        let action_start = head.len().saturating_sub(action.len());
        let before_action = if head.ends_with(action) {
            &text[..action_start]
        } else {
            ""
        };
        if before_action.trim_end().ends_with("else")
            && before_action[before_action.trim_end().len()..].contains('\n')
        {
            m.offset = before_action.trim_end().len() - 4;
            m.message = "`else` needs its action on the same line".into();
            m.label = format!("this `else` took `{action}` from the next line");
            m.help = Some("write `else inconclusive`, `else hold` or `else halt`, then start the next rule on its own line".into());
            return;
        }
    }
    // A statement that starts with a word no statement starts with: a misspelt keyword or
    // action, or another word for an action.
    let top = ["use", "signal", "class", "scope", "fn", "policy", "test"];
    let statement_expected = words.iter().any(|w| w.starts_with("a statement"));
    if let Some(w) = found.filter(|f| {
        statement_expected
            && !top.contains(f)
            && f.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && f.chars().all(is_word)
    }) {
        let rest = &text[offset..];
        let after = offset + (rest.len() - rest.trim_start().len()) + w.len();
        if let Some((message, label, help, meant)) = statement_start(w, next_word(text, after)) {
            m.message = message;
            m.label = label;
            m.help = Some(help);
            m.replace = meant.map(|k| (after - w.len(), after, k));
            return;
        }
    }
    // A block not closed before the next declaration. pest expects `}` only where a statement
    // could have ended the block; when the next declaration has doc comments or annotations, it
    // stops later (at its keyword, having read them as a statement's), so the open `{` is
    // looked for in the text itself.
    // Where the parser stopped at a doc comment or an annotation (a class or scope block reads
    // neither), the keyword after them tells whether a declaration starts there.
    let keyword = found.map(|f| {
        let at = declaration_keyword(text, offset);
        let end = text[at..]
            .find(|c: char| !is_word(c))
            .map_or(text.len(), |n| at + n);
        if at > offset {
            &text[at..end]
        } else {
            f
        }
    });
    let next_declaration = match keyword {
        None => expects_close,
        Some(k) => top.contains(&k) && after_attributes_only(text, offset),
    };
    if next_declaration {
        if let Some(open) = unclosed_brace(&text[..offset]) {
            let start = attributes_start(text, offset);
            m.unclosed = Some(Unclosed {
                open,
                before: match keyword {
                    None => "the end of the file".into(),
                    Some(k) => format!("`{k}`"),
                },
                owner: block_owner(&text[..open]),
                at_end: keyword.is_none(),
            });
            if found.is_some() && (start != offset || keyword != found) {
                m.label = "the next declaration starts here".into();
            }
            m.offset = start;
            return;
        }
    }
    if expects_close
        && found.is_none_or(|f| top.contains(&f))
        && (found.is_none() || at_line_start(text, offset))
    {
        m.message = match found {
            None => "expected `}` before the end of the file".into(),
            Some(f) => format!("expected `}}` before `{f}`: a block above is not closed"),
        };
        m.help = Some(
            "close each `{` with `}`: a `policy`, `class`, `scope` or `test` ends with its own `}`"
                .into(),
        );
    }
}

/// Where the declaration that starts at `from` has its keyword: after whitespace, comments,
/// doc comments and annotations (`@key`, `@key(...)`).
pub fn declaration_keyword(text: &str, from: usize) -> usize {
    let mut i = from;
    loop {
        let rest = &text[i..];
        let trimmed = rest.trim_start();
        i += rest.len() - trimmed.len();
        if trimmed.starts_with("//") {
            i += trimmed.find('\n').unwrap_or(trimmed.len());
        } else if let Some(body) = trimmed.strip_prefix("/*") {
            i += body.find("*/").map_or(trimmed.len(), |n| n + 4);
        } else if let Some(after) = trimmed.strip_prefix('@') {
            let key = after.find(|c: char| !is_word(c)).unwrap_or(after.len());
            let mut n = 1 + key;
            let args = &after[key..];
            if args.starts_with('(') {
                // Up to the closing `)` on the same line, stepping over a string argument.
                let line = &args[..args.find('\n').unwrap_or(args.len())];
                let mut in_string = false;
                let mut escaped = false;
                let close = line.char_indices().find(|&(_, c)| {
                    let close = c == ')' && !in_string;
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        in_string = !in_string;
                    }
                    close
                });
                n += close.map_or(line.len(), |(j, _)| j + 1);
            }
            if n == 1 {
                return i; // a lone `@`: nothing more to step over
            }
            i += n;
        } else {
            return i;
        }
    }
}

/// Words a policy statement starts with, besides the actions that start a rule.
const STATEMENT_KEYWORDS: &[&str] = &["applies", "require", "approval", "forbid", "let"];

/// Words a policy statement starts with.
fn statement_words() -> impl Iterator<Item = &'static str> {
    STATEMENT_KEYWORDS
        .iter()
        .chain(lexicon::RULE_ACTIONS)
        .copied()
}

/// Other words for an action, which authors coming from other tools write.
const ACTION_SYNONYMS: &[(&str, &str)] = &[
    ("revert", "rollback"),
    ("undo", "rollback"),
    ("roll_back", "rollback"),
    ("abort", "halt"),
    ("stop", "halt"),
    ("block", "halt"),
    ("fail", "halt"),
    ("pause", "hold"),
    ("wait", "hold"),
    ("unknown", "inconclusive"),
    ("applies_when", "applies"),
    ("apply", "applies"),
    ("requires", "require"),
    ("approve", "approval"),
];

const STATEMENT_HELP: &str = "a policy holds `applies`, `require`, `approval`, `forbid`, `let` and rules, which start with their action: `rollback NAME when ...`, `halt`, `hold` or `inconclusive`";

/// The message, label and help for a statement that starts with `word`, which no statement
/// starts with: "did you mean" for a misspelling of a statement keyword or action (the
/// distance [`crate::diagnostic::did_you_mean`] uses) or another word for one
/// ([`ACTION_SYNONYMS`]), and "this rule has no action" for `NAME when ...`.
/// The fourth part is the word meant, which replaces `word` as the fix.
fn statement_start(
    word: &str,
    next: Option<&str>,
) -> Option<(String, String, String, Option<String>)> {
    if statement_words().any(|w| w == word) {
        return None;
    }
    let meant = ACTION_SYNONYMS
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, k)| k.to_string())
        .or_else(|| crate::diagnostic::did_you_mean(word, statement_words()));
    // `revert NAME when ...` is a rule whose action is misspelt.
    let looks_like_rule = next.is_some_and(|n| n != "when" && n.chars().all(is_word));
    let is_action = |k: &str| lexicon::RULE_ACTIONS.contains(&k);
    Some(match meant {
        Some(k) if is_action(&k) || looks_like_rule => (
            format!("`{word}` is not an action"),
            "unknown action".into(),
            format!("did you mean `{k}`? A rule starts with its action: `rollback`, `halt`, `hold` or `inconclusive`"),
            Some(k),
        ),
        Some(k) => (
            format!("`{word}` does not start a statement"),
            "unknown statement".into(),
            format!("did you mean `{k}`? A policy holds `applies`, `require`, `approval`, `forbid`, `let` and rules"),
            Some(k),
        ),
        None if next == Some("when") => (
            format!("rule `{word}` has no action"),
            "no action before the rule's name".into(),
            format!("start the rule with its action, e.g. `rollback {word} when ...`; the actions are `rollback`, `halt`, `hold` and `inconclusive`"),
            None,
        ),
        None if looks_like_rule => (
            format!("`{word}` is not an action"),
            "unknown action".into(),
            "a rule starts with its action: `rollback`, `halt`, `hold` or `inconclusive`, as in `rollback NAME when ...`".into(),
            None,
        ),
        None => (
            format!("`{word}` does not start a statement"),
            "unknown statement".into(),
            STATEMENT_HELP.into(),
            None,
        ),
    })
}

/// The word right after `offset` on the same line, if the next token is one.
fn next_word(text: &str, offset: usize) -> Option<&str> {
    let rest = text.get(offset..)?;
    let rest = rest.trim_start_matches([' ', '\t']);
    let end = rest.find(|c: char| !is_word(c)).unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// Whether the token at `offset` starts its line, or follows only annotations on it.
fn after_attributes_only(text: &str, offset: usize) -> bool {
    let head = &text[..offset.min(text.len())];
    let line = head[head.rfind('\n').map_or(0, |i| i + 1)..].trim();
    line.is_empty() || line.starts_with('@')
}

/// The start of the doc comments and annotations right above the declaration at `offset`
/// (lines that start with `///` or `@`), or its own line's first token.
fn attributes_start(text: &str, offset: usize) -> usize {
    let head = &text[..offset.min(text.len())];
    let mut line_start = head.rfind('\n').map_or(0, |i| i + 1);
    let mut start = line_start + (head[line_start..].len() - head[line_start..].trim_start().len());
    if start > offset {
        start = offset;
    }
    while line_start > 0 {
        let prev_start = head[..line_start - 1].rfind('\n').map_or(0, |i| i + 1);
        let line = &head[prev_start..line_start - 1];
        let t = line.trim_start();
        if !((t.starts_with("///") && !t.starts_with("////")) || t.starts_with('@')) {
            break;
        }
        start = prev_start + (line.len() - t.len());
        line_start = prev_start;
    }
    start
}

/// The last `{` in `text` with no `}` after it, skipping comments and strings.
fn unclosed_brace(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut open = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'{' => {
                open.push(i);
                i += 1;
            }
            b'}' => {
                open.pop();
                i += 1;
            }
            _ => i += 1,
        }
    }
    open.pop()
}

/// "`policy checkout`" from the text before a `{`: the last two words of its line.
fn block_owner(head: &str) -> String {
    let line = head[head.rfind('\n').map_or(0, |i| i + 1)..].trim();
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [.., k, n] if !k.starts_with('@') => format!("`{k} {n}`"),
        [.., k] => format!("`{k}`"),
        [] => "the block".into(),
    }
}

fn at_line_start(text: &str, offset: usize) -> bool {
    let rest = &text[..offset.min(text.len())];
    rest[rest.rfind('\n').map_or(0, |i| i + 1)..]
        .trim()
        .is_empty()
}

fn help_for(found: Option<&str>, before: Option<&str>) -> Option<String> {
    match (found, before) {
        (Some("="), _) => Some("compare with `==`; a single `=` only declares".into()),
        (Some(f), _) if f.starts_with('\'') => Some("strings use double quotes: \"...\"".into()),
        (Some(f), _) if f.chars().next().is_some_and(|c| c.is_ascii_uppercase()) => {
            Some("names are lowercase: letters, digits and `_`".into())
        }
        (_, Some(b)) if matches!(b, ">" | ">=" | "<" | "<=" | "==" | "!=") => Some(format!(
            "write what to compare with, e.g. `{b} 800ms` or `{b} 1%`"
        )),
        (_, Some("when" | "unless")) => Some("write a condition, e.g. `error_rate > 2 * baseline(error_rate)`".into()),
        (_, Some("require")) => Some("write the evidence the policy needs, e.g. `require fresh(error_rate) within 2m else halt`".into()),
        (_, Some("else")) => Some("a gate ends with the action to take: `else inconclusive`, `else hold` or `else halt`".into()),
        (_, Some("and" | "or" | "not" | "+" | "-" | "*" | "/" | "?" | ":")) => Some("complete the expression on both sides of the operator".into()),
        _ => None,
    }
}

fn join_or(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

pub fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The token that ends just before `offset`, skipping whitespace and `//` comments.
pub fn previous_token(text: &str, offset: usize) -> Option<String> {
    let head = text.get(..offset)?;
    // Drop line comments from each line so `when // note` still finds `when`.
    let mut end = head.len();
    loop {
        let trimmed = head[..end].trim_end();
        let line_start = trimmed.rfind('\n').map_or(0, |i| i + 1);
        let line = &trimmed[line_start..];
        match line.find("//") {
            Some(i) if !line[..i].contains('"') => end = line_start + i,
            _ => {
                end = trimmed.len();
                break;
            }
        }
    }
    let s = &head[..end];
    let last = s.chars().next_back()?;
    // The byte just after the last character that is not part of the token.
    let after = |keep: &dyn Fn(char) -> bool| {
        s.char_indices()
            .rev()
            .find(|(_, c)| !keep(*c))
            .map_or(0, |(i, c)| i + c.len_utf8())
    };
    let start = if is_word(last) {
        after(&is_word)
    } else if last == '"' {
        // A string literal: name it by its first characters.
        let open = s[..s.len() - 1].rfind('"')?;
        let inner: String = s[open + 1..s.len() - 1].chars().take(20).collect();
        return Some(format!("\"{inner}\""));
    } else if "<>=!&|+-*/%?:.,".contains(last) {
        after(&|c| "<>=!&|+-*/%?:.,".contains(c))
    } else {
        s.len() - last.len_utf8()
    };
    let tok = s[start..].trim();
    if tok.is_empty() {
        None
    } else {
        Some(tok.to_string())
    }
}

/// The token at `offset`, for "found `...`".
fn found_token(text: &str, offset: usize) -> Option<String> {
    let rest = text.get(offset..)?.trim_start();
    let first = rest.chars().next()?;
    let len = if is_word(first) {
        rest.find(|c: char| !is_word(c)).unwrap_or(rest.len())
    } else if first == '\'' || first == '"' {
        rest[1..].find(first).map_or(rest.len(), |i| i + 2).min(24)
    } else {
        let two = rest.get(..2).unwrap_or("");
        if ["==", "!=", ">=", "<=", "&&", "||", "->", "::", "//", "/*"].contains(&two) {
            2
        } else {
            first.len_utf8()
        }
    };
    let mut end = len.min(rest.len());
    while !rest.is_char_boundary(end) {
        end -= 1;
    }
    let end = rest[..end].find('\n').unwrap_or(end);
    let mut end = end;
    while !rest.is_char_boundary(end) {
        end -= 1;
    }
    Some(rest[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_token_skips_space_and_comments() {
        assert_eq!(previous_token("a when  ", 8).as_deref(), Some("when"));
        assert_eq!(previous_token("p99 >= ", 7).as_deref(), Some(">="));
        assert_eq!(
            previous_token("x when // note\n  ", 17).as_deref(),
            Some("when")
        );
        assert_eq!(previous_token("", 0), None);
    }

    #[test]
    fn found_token_never_cuts_a_character() {
        let text = format!("\"{}é\"", "a".repeat(22));
        assert!(found_token(&text, 0).is_some());
    }

    #[test]
    fn found_token_reads_one_token() {
        assert_eq!(found_token(" and x", 0).as_deref(), Some("and"));
        assert_eq!(found_token("== 3", 0).as_deref(), Some("=="));
        assert_eq!(found_token("", 0), None);
    }
}
