//! The words of the language, once: the reserved words of `grammar/rollguard.pest` by role, and
//! the words that are built in without being reserved (functions, types, units).
//!
//! Every tool that needs to know a word reads it here: the formatter (which words are keywords,
//! which start a rule), the syntax messages ("did you mean `require`?"), and the language
//! server (highlighting, completion, renaming). The grammar and the editor grammars
//! (`editors/vscode/syntaxes/rollguard.tmLanguage.json`, `editors/neovim/syntax/rollguard.vim`)
//! cannot import this module; `tests/lexicon.rs` reads them and fails, naming the word and the
//! file, when they list a word this module does not or miss one it does.
//!
//! A reserved word is never a name: `let when = 1` is a syntax error. Each reserved word has
//! exactly one [`Role`]; [`RESERVED`] is the union of the role lists, in this order.

/// What a reserved word does; decides how editors colour it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Starts a top-level declaration: [`DECLARATIONS`].
    Declaration,
    /// Starts or joins a part of a statement or block: [`CLAUSES`].
    Clause,
    /// An operator written as a word: [`OPERATOR_WORDS`].
    Operator,
    /// `true` and `false`: [`BOOLEANS`].
    Boolean,
    /// A decision, the first word of a rule or a grant: [`ACTIONS`].
    Action,
    /// A property a class has: [`CLASS_PROPERTIES`].
    ClassProperty,
    /// A kind of principal: [`PRINCIPAL_KINDS`].
    PrincipalKind,
}

/// Words that start a top-level declaration, in the order the language reference lists them.
pub const DECLARATIONS: &[&str] = &[
    "use", "signal", "class", "scope", "let", "fn", "policy", "test",
];

/// Keywords inside declarations and statements: `applies when`, `require ... else`, `for`,
/// `unless`, `approval ... requires N of`, `forbid`, `fresh(...) within`, `max(...) over`,
/// `touches`, a scope's `principals`, `may` and `for services`/`for classes`, a test's
/// `snapshot`, `expect`, `by`, `authorized` and `requester_may`.
pub const CLAUSES: &[&str] = &[
    "applies",
    "when",
    "require",
    "requires",
    "else",
    "for",
    "unless",
    "approval",
    "of",
    "forbid",
    "within",
    "over",
    "touches",
    "principals",
    "may",
    "services",
    "classes",
    "snapshot",
    "expect",
    "by",
    "authorized",
    "requester_may",
];

/// Operators written as words. `and` and `or` are also written `&&` and `||`.
pub const OPERATOR_WORDS: &[&str] = &["and", "or", "not", "in", "is"];

/// The boolean literals.
pub const BOOLEANS: &[&str] = &["true", "false"];

/// Every word the grammar's `action` rule accepts: the decisions ([`VERDICTS`]) and what a
/// scope may grant ([`GRANTS`]).
pub const ACTIONS: &[&str] = &[
    "proceed",
    "inconclusive",
    "hold",
    "halt",
    "rollback",
    "promote",
    "override",
];

/// The decisions an evaluation reaches, from the weakest; what a test may `expect`.
pub const VERDICTS: &[&str] = &["proceed", "inconclusive", "hold", "halt", "rollback"];

/// The actions a rule starts with (`rollback NAME when ...`), and so a policy statement.
pub const RULE_ACTIONS: &[&str] = &["rollback", "halt", "hold", "inconclusive"];

/// The actions a failed `require` may take (`require ... else halt`).
pub const GATE_ACTIONS: &[&str] = &["inconclusive", "hold", "halt"];

/// What a scope may grant (`may [halt, rollback]`).
pub const GRANTS: &[&str] = &["halt", "rollback", "promote", "override"];

/// Properties a class declares and `is` tests (`deployment.class is irreversible`).
pub const CLASS_PROPERTIES: &[&str] = &["irreversible", "security_fix"];

/// Kinds of principal: in `approval ... of human`, `actor is agent`, a scope's `principals`.
pub const PRINCIPAL_KINDS: &[&str] = &["human", "agent", "service_account", "group"];

/// Every reserved word: the words the grammar's `keyword` rule refuses as a name.
pub const RESERVED: &[&str] = &RESERVED_ARRAY;

const ROLES: [(Role, &[&str]); 7] = [
    (Role::Declaration, DECLARATIONS),
    (Role::Clause, CLAUSES),
    (Role::Operator, OPERATOR_WORDS),
    (Role::Boolean, BOOLEANS),
    (Role::Action, ACTIONS),
    (Role::ClassProperty, CLASS_PROPERTIES),
    (Role::PrincipalKind, PRINCIPAL_KINDS),
];

const RESERVED_LEN: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < ROLES.len() {
        n += ROLES[i].1.len();
        i += 1;
    }
    n
};

const RESERVED_ARRAY: [&str; RESERVED_LEN] = {
    let mut out = [""; RESERVED_LEN];
    let mut k = 0;
    let mut i = 0;
    while i < ROLES.len() {
        let mut j = 0;
        while j < ROLES[i].1.len() {
            out[k] = ROLES[i].1[j];
            k += 1;
            j += 1;
        }
        i += 1;
    }
    out
};

/// Whether `word` is reserved, and so may not be a name.
pub fn is_reserved(word: &str) -> bool {
    RESERVED.contains(&word)
}

/// The role of a reserved word; `None` for any other word.
pub fn role(word: &str) -> Option<Role> {
    ROLES
        .iter()
        .find(|(_, words)| words.contains(&word))
        .map(|(r, _)| *r)
}

/// The reserved words of one role.
pub fn words(role: Role) -> &'static [&'static str] {
    ROLES
        .iter()
        .find(|(r, _)| *r == role)
        .map_or(&[][..], |(_, w)| *w)
}

/// Built-in functions that take one signal: `baseline(x)`, `samples(x)`, ...
pub const SIGNAL_FUNCTIONS: &[&str] = &["baseline", "samples", "age", "delta", "has"];

/// Functions over a window: `max(x) over 10m`.
pub const WINDOW_FUNCTIONS: &[&str] = &["max", "min", "avg"];

/// Every built-in function: [`SIGNAL_FUNCTIONS`], `fresh(...) within`, [`WINDOW_FUNCTIONS`]
/// and `cel("...")`. Not reserved, but no declaration may take their names.
pub const BUILTIN_FUNCTIONS: &[&str] = &[
    "baseline", "samples", "age", "delta", "has", "fresh", "max", "min", "avg", "cel",
];

/// Built-in functions with a grammar rule of their own rather than a call: `fresh(...)`,
/// `max(...) over`, `cel("...")`.
pub const SPECIAL_FUNCTIONS: &[&str] = &["fresh", "max", "min", "avg", "cel"];

/// The snapshot's deployment, `deployment.service`.
pub const DEPLOYMENT: &str = "deployment";

/// The standard library's root, `use std::http`.
pub const STD: &str = "std";

/// The type names a signal or a `fn` may declare (`signal x: ratio = "..."`).
pub const TYPE_NAMES: &[&str] = &[
    "bool",
    "number",
    "count",
    "ratio",
    "duration",
    "string",
    "timestamp",
    "principal",
    "class",
];

/// The units a number may carry, and what they make: `5m`, `200ms`, `5%`.
pub const UNITS: &[(&str, &str)] = &[
    ("ms", "milliseconds"),
    ("s", "seconds"),
    ("m", "minutes"),
    ("h", "hours"),
    ("%", "percent: a ratio"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reserved_word_has_one_role() {
        for w in RESERVED {
            let roles: Vec<Role> = ROLES
                .iter()
                .filter(|(_, ws)| ws.contains(w))
                .map(|(r, _)| *r)
                .collect();
            assert_eq!(roles.len(), 1, "`{w}` has roles {roles:?}");
            assert_eq!(role(w), Some(roles[0]));
            assert!(words(roles[0]).contains(w));
        }
    }

    #[test]
    fn action_subsets_are_actions() {
        for w in VERDICTS
            .iter()
            .chain(RULE_ACTIONS)
            .chain(GATE_ACTIONS)
            .chain(GRANTS)
        {
            assert_eq!(role(w), Some(Role::Action), "`{w}`");
        }
    }

    #[test]
    fn built_in_words_are_not_reserved_except_class() {
        for w in BUILTIN_FUNCTIONS.iter().chain([&DEPLOYMENT, &STD]) {
            assert!(!is_reserved(w), "`{w}`");
        }
        for w in SIGNAL_FUNCTIONS.iter().chain(SPECIAL_FUNCTIONS) {
            assert!(BUILTIN_FUNCTIONS.contains(w), "`{w}`");
        }
        assert_eq!(
            SIGNAL_FUNCTIONS.len() + SPECIAL_FUNCTIONS.len(),
            BUILTIN_FUNCTIONS.len()
        );
        let reserved_types: Vec<&&str> = TYPE_NAMES.iter().filter(|t| is_reserved(t)).collect();
        assert_eq!(reserved_types, [&"class"]);
    }
}
