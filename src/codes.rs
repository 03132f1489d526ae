//! Stable diagnostic codes and their long explanations (`rollguard explain CODE`).
//!
//! A code, once published, keeps its meaning. The `codes!` table below lists each code once;
//! the explanations of the lints (W0002–W0013) live beside their code, as `EXPLANATION` in
//! their module under `src/lint/`. `tests/data.rs` checks that every code has one and that every code the compiler emits is here.

use crate::diagnostic::Severity;

/// Generates `Code`, `ALL` and the lookups from one table: each row is
/// `Variant = "CODE", "title", explanation;`.
macro_rules! codes {
    ($($variant:ident = $code:literal, $title:literal, $explanation:expr;)*) => {
        /// A diagnostic's stable code: `E....` for errors, `W....` for lint warnings.
        /// `rollguard explain CODE` prints its explanation.
        ///
        /// `#[non_exhaustive]`: new checks and lints add codes; a code, once given, keeps its
        /// meaning.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Code {
            $(
                #[doc = concat!("`", $code, "`: ", $title, ".")]
                $variant,
            )*
        }

        /// Every code, in order; `explain` and the tests walk this.
        pub const ALL: &[Code] = &[$(Code::$variant,)*];

        impl Code {
            /// The code as written: `E0004`, `W0002`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            /// One line: what the code is about.
            pub fn title(self) -> &'static str {
                match self {
                    $(Code::$variant => $title,)*
                }
            }

            /// The long explanation: why it is an error, an example, and the fix.
            pub fn explanation(self) -> &'static str {
                match self {
                    $(Code::$variant => $explanation,)*
                }
            }
        }
    };
}

codes! {
    Syntax = "E0001", "syntax error", E0001;
    UnknownName = "E0002", "unknown name", E0002;
    Duplicate = "E0003", "duplicate declaration", E0003;
    UnitMismatch = "E0004", "values of different units mixed", E0004;
    TypeMismatch = "E0005", "type mismatch", E0005;
    ArgumentCount = "E0006", "wrong number of arguments", E0006;
    ArgumentType = "E0007", "wrong kind of argument", E0007;
    WindowSignals = "E0008", "a window must read exactly one signal", E0008;
    UnknownTag = "E0009", "unknown class tag", E0009;
    UnknownClass = "E0010", "unknown class", E0010;
    UnknownPrincipalKind = "E0011", "unknown principal kind", E0011;
    ApprovalCount = "E0012", "approval count below 1", E0012;
    Recursion = "E0013", "recursive definition", E0013;
    TestUndeclaredClass = "E0014", "test snapshot names an undeclared class", E0014;
    ActionNotAllowed = "E0015", "action not allowed here", E0015;
    UnknownScopeAction = "E0016", "unknown scope action", E0016;
    TwoValuedPlacement = "E0017", "`fresh` or `has` outside a gate", E0017;
    UnknownModule = "E0018", "module or file to `use` not found", E0018;
    CelSyntax = "E0019", "`cel(...)` expression does not parse", E0019;
    LocalShadows = "E0020", "policy-local `let` shadows a set name", E0020;
    BadAnnotation = "E0021", "bad annotation", E0021;
    TestUnknownRule = "E0022", "test expects an unknown rule", E0022;
    TestSnapshot = "E0023", "test snapshot unreadable or invalid", E0023;
    NotImported = "E0024", "name not imported in this file", E0024;
    UnknownType = "E0025", "unknown type", E0025;
    WindowNotConstant = "E0026", "window length is not a constant duration", E0026;
    RepeatedStatement = "E0027", "statement given twice", E0027;
    UnknownControl = "E0028", "`@maps` names an unknown control", E0028;
    TestAuthorityWithoutRequester = "E0029", "test expects authority of a snapshot without a requester", E0029;
    UseOfSetFile = "W0001", "`use` of a file already in the set", W0001;
    LintUngatedEvidence = "W0002", "acting on evidence no gate covers", crate::lint::ungated_evidence::EXPLANATION;
    LintAbsoluteThreshold = "W0003", "absolute threshold without the baseline in production", crate::lint::absolute_threshold::EXPLANATION;
    LintRollbackIrreversible = "W0004", "rollback rule reachable for an irreversible class", crate::lint::rollback_irreversible::EXPLANATION;
    LintPrivilegedAutomation = "W0005", "`promote` or `override` granted to automation", crate::lint::privileged_automation::EXPLANATION;
    LintUnsatisfiableApproval = "W0006", "approval that can never be satisfied", crate::lint::unsatisfiable_approval::EXPLANATION;
    LintNoApplies = "W0007", "policy without `applies`", crate::lint::no_applies::EXPLANATION;
    LintNeverFires = "W0008", "rule, approval or policy that can never take effect", crate::lint::never_fires::EXPLANATION;
    LintShadowedRule = "W0009", "rule shadowed by a gate that always wins", crate::lint::shadowed_rule::EXPLANATION;
    LintUnused = "W0010", "unused declaration", crate::lint::unused::EXPLANATION;
    LintExpiredDryRun = "W0011", "dry-run past its `@until` date", crate::lint::expired_dry_run::EXPLANATION;
    LintAbsenceDecides = "W0012", "missing evidence takes a policy out or fires a rule", crate::lint::absence::EXPLANATION;
    LintForbidNeverHolds = "W0013", "`forbid` that can never change a decision", crate::lint::never_vetoes::EXPLANATION;
}

impl Code {
    /// `Warning` for `W....` codes, `Error` for `E....` codes.
    pub fn severity(self) -> Severity {
        if self.as_str().starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }

    /// The code written as `text` (`e0004` too); `None` for no such code.
    pub fn parse(text: &str) -> Option<Code> {
        let wanted = text.trim().to_ascii_uppercase();
        ALL.iter().copied().find(|c| c.as_str() == wanted)
    }
}

const E0001: &str = r#"The text does not follow the grammar of the rollguard language.

The message says what was expected at that point, in words ("expected a value after `>=`").

Example:

    halt slow when p99 >= and error_rate > 1%

Fix: complete the expression:

    halt slow when p99 >= 800ms and error_rate > 1%
"#;

const E0002: &str = r#"A name is used that no declaration, import or built-in provides.

Signals, lets and fns are declared with `signal`, `let` and `fn`, or imported with `use`.
`deployment.` fields are a fixed list (id, revision, service, environment, stage, class,
traffic_percent, cascade_depth, emergency, actor, approvals, rollback_target.healthy,
rollback_target.version, labels). When a declared name is close, the message suggests it.

Example:

    signal error_rate: ratio = "http.error_rate"
    policy p { rollback spike when eror_rate > 1% }

Fix: correct the spelling (`error_rate`), or declare or import the name.
"#;

const E0003: &str = r#"Two declarations share one name in the same namespace.

Signals, lets and fns share one namespace per policy set (all files of a directory, plus what
they import); classes, scopes and policies each have their own; rule, approval and `forbid`
names share one namespace within their policy. Both places are named.

Example (two files of one set):

    // a.rollguard
    signal error_rate: ratio = "http.error_rate"
    // b.rollguard
    signal error_rate: ratio = "http.errors"

Fix: rename one, or delete the copy and let both files use the one declaration.
"#;

const E0004: &str = r#"Values with different units are compared or combined.

`ratio` and `duration` carry units. `N * U`, `U * N` and `U / N` keep the unit; `U + U`,
`U - U` and `-U` keep it; `U / U` is a plain number. Comparing a ratio with a bare number is
almost always a mistake (is `0.05` five percent or five hundredths of a percent?), so it is an
error whose help gives the literal to write.

Example:

    rollback spike when error_rate > 0.05     // error_rate is a ratio, 0.05 is a number
    halt slow when p99 > 800                  // p99 is a duration, 800 is a number

Fix: write the unit: `error_rate > 5%`, `p99 > 800ms`.
"#;

const E0005: &str = r#"An operator or statement received a value of the wrong type.

Conditions (`applies when`, `require`, a rule's `when` and `unless`, an approval's `when`) must
be `bool`; `and`, `or` and `not` take bools; arithmetic takes numbers; both branches of `? :`
have one type; a `fn` body has its declared return type.

Example:

    halt slow when p99            // p99 is a duration, not a condition

Fix: compare it: `halt slow when p99 > 800ms`.
"#;

const E0006: &str = r#"A function or built-in was called with the wrong number of arguments.

Built-ins: `baseline(s)`, `samples(s)`, `age(s)`, `delta(s)`, `has(path)` take one;
`fresh(s, ...) within D` takes one or more; `max/min/avg(s) over D` take one. A `fn` takes as
many as it declares.

Example:

    fn above(x: ratio, limit: ratio) -> bool = x > limit
    rollback spike when above(error_rate)

Fix: pass every parameter: `above(error_rate, 2%)`.
"#;

const E0007: &str = r#"An argument is not of the kind the function needs.

`baseline`, `samples`, `age`, `delta`, `fresh`, `max`, `min` and `avg` read the metadata of a
*signal*, so their argument must be a signal name, not an expression. `delta` and the window
functions need a numeric signal. A `fn` argument must have the parameter's type.

Example:

    require fresh(error_rate * 2) within 2m else halt

Fix: name the signal: `fresh(error_rate) within 2m`.
"#;

const E0008: &str = r#"A condition under `for D` (or a `max/min/avg(...) over D`) must read exactly one signal.

`for D` reads the condition as a step function over the points of one signal's series. With no
signal there is no series; with two, their points do not line up, and the answer would depend on
which one was sampled when.

Example:

    halt both when error_rate > 1% and p99 > 1s for 2m

Fix: split it into two rules, each with its own window:

    halt errors when error_rate > 1% for 2m
    halt slow when p99 > 1s for 2m
"#;

const E0009: &str = r#"`class touches TAG` names a tag that no class of the set declares.

The condition could never hold, so the rule or approval would silently never apply. Tags are
declared by classes: `class vault_change { touches [secrets] }`; `use std::classes` brings the
standard ones (secrets, permissions, agent_tools).

Example:

    approval security requires 1 of group "security" when class touches secret

Fix: use a declared tag (`secrets`), or declare a class that touches it.
"#;

const E0010: &str = r#"`class is NAME` names a class that the set does not declare.

Classes are declared with `class NAME { ... }` or imported with `use std::classes`. Besides class
names, `is` accepts the properties `irreversible` and `security_fix`.

Example:

    halt risky when class is schema_migraton

Fix: correct the name, or import the class (`use std::classes`).
"#;

const E0011: &str = r#"A principal is of a kind rollguard does not know.

Principals are `human`, `agent`, `service_account` (any of that kind), the same followed by an
id (`agent "release-bot"`: one identity), or `group "name"` (any principal whose groups include
the name). `group` needs a name. In scopes and approvals a pattern may add `in group "name"`
(`human in group "sre"`: a human in that group); only a group may follow `in`.

Example:

    scope bots { principals [bot "deploy"] may [halt] }

Fix: `principals [service_account "deploy"]`.
"#;

const E0012: &str = r#"An approval requires fewer than one approver, or a count that is not a whole number.

`approval NAME requires 0 of ...` would be satisfied by nobody, which silently disables the
approval. A count must be a whole number of at least 1.

Example:

    approval nobody requires 0 of group "dba" when deployment.emergency

Fix: require at least one approver, or delete the approval.
"#;

const E0013: &str = r#"A `fn` or `let` refers to itself, directly or through others.

Helpers are inlined at compile time, so evaluation always terminates; a cycle cannot be inlined.
The message shows the whole cycle (`ping -> pong -> ping`).

Example:

    fn ping(x: number) -> bool = pong(x)
    fn pong(x: number) -> bool = ping(x)

Fix: break the cycle; write the condition out without recursion.
"#;

const E0014: &str = r#"A `test` block's snapshot names a `deployment.class` that the set does not declare.

The evaluator rejects such a snapshot (exit 2), so the test could never pass.

Example: the snapshot says `"class": "secret_cofig"` while the set declares `secret_config`.

Fix: correct the class in the snapshot, or declare the class (or `use std::classes`).
"#;

const E0015: &str = r#"An action is not allowed in this place.

A `require ... else ACTION` gate takes `inconclusive`, `hold` or `halt`: missing evidence alone
must never roll a deployment back. A rule's action is `rollback`, `halt`, `hold` or
`inconclusive`. A test expects a decision: `proceed`, `inconclusive`, `hold`, `halt` or
`rollback`. A `forbid` vetoes `rollback` (which becomes `halt`) or `proceed` (which becomes
`hold`); the other decisions already leave the deployment where it is.

Example:

    require samples(error_rate) >= 500 else rollback

Fix: `require samples(error_rate) >= 500 else hold`, and a rule that rolls back on evidence.
"#;

const E0016: &str = r#"A scope grants an action that does not exist for scopes.

Scopes grant `halt`, `rollback`, `promote` and `override`. `hold` and `inconclusive` pause a
rollout, so they need `halt`; `proceed` lets it go on, so it needs `promote`. A test's
`expect requester_may [...]` lists the same grants.

Example:

    scope bots { principals [service_account "ci"] may [hold] }

Fix: `may [halt]`.
"#;

const E0017: &str = r#"`fresh(...)` or `has(...)` is used where a missing input would decide.

They are two-valued: a missing input makes them false rather than unknown. A rule that fires on
`not fresh(x)` would act on missing evidence alone, and a policy that stops applying when
evidence goes missing would proceed. So `fresh` may appear only in a `require`, and `has` only in
`applies`, a `require` or an approval's `when`.

Example:

    halt blind when not fresh(p99) within 2m

Fix: `require fresh(p99) within 2m else halt`.
"#;

const E0018: &str = r#"A `use` names a standard module or a file that does not exist.

Standard modules: `std::http`, `std::identity`, `std::deps`, `std::classes`. A path is relative
to the importing file.

Example:

    use std::htp

Fix: `use std::http`, or correct the path.
"#;

const E0019: &str = r#"The string given to `cel(...)` is not a valid CEL expression.

CEL conditions are parsed when the policy is compiled, so a typo cannot wait until a deployment
to show up. The message carries the CEL parser's own words.

Example:

    halt odd when cel("deployment.traffic_percent >= ")

Fix: complete the expression: `cel("deployment.traffic_percent >= 50")`.
"#;

const E0020: &str = r#"A `let` inside a policy has the name of a signal, let or fn of the set.

Inside that policy the name would mean something else than everywhere else, which is a trap for
the reader.

Example:

    signal error_rate: ratio = "http.error_rate"
    policy p { let error_rate = 2% }

Fix: give the local another name (`let error_limit = 2%`).
"#;

const E0021: &str = r#"An annotation is malformed or has a value rollguard does not know.

`@mode("dry_run")` is the only mode; `@severity`, `@maps` and `@doc` take a string. Other
annotations are free, but one key may appear once per declaration.

Example:

    @mode("dryrun")
    rollback strict when error_rate > 0.5%

Fix: `@mode("dry_run")`.
"#;

const E0022: &str = r#"A test's `expect ... by RULE` names a rule that no policy of the set declares.

The test could never pass.

Example:

    test "spike" { snapshot "spike.json" expect rollback by error_spyke }

Fix: name the rule as the policy does (`error_spike`).
"#;

const E0023: &str = r#"A test's snapshot file cannot be read or is not a valid snapshot.

The path is relative to the file holding the test. The message names the JSON path of the
first problem.

Fix: correct the path or the snapshot.
"#;

const E0024: &str = r#"A name is declared by a module that another file of the set imports, but not this one.

A `use` is per file, as a Go import is: what it imports is visible in that file only.

Example: `a.rollguard` has `use std::http`; `b.rollguard` reads `error_rate` without it.

Fix: add the same `use` to this file.
"#;

const E0025: &str = r#"A type name is not one of rollguard's types.

Signal types: `bool`, `number`, `count`, `ratio`, `duration`, `string`. Parameters and return
types may also be `timestamp`, `principal` or `class`.

Example:

    signal p99: seconds = "http.latency.p99"

Fix: `signal p99: duration = "http.latency.p99"`.
"#;

const E0026: &str = r#"The length after `for`, `within` or `over` is not a constant duration.

Windows are fixed when the policy is compiled: write a duration literal (`5m`) or the name of a
`let` that is one.

Example:

    halt slow when p99 > 1s for 5

Fix: `for 5m`.
"#;

const E0027: &str = r#"A statement that a policy may have once is given twice.

A policy has at most one `applies when`; join the conditions with `and`. A test states
`expect authorized` (or `not authorized`) and `expect requester_may [...]` at most once each.

Example:

    applies when deployment.environment == "production"
    applies when deployment.service == "payments-api"

Fix: `applies when deployment.environment == "production" and deployment.service == "payments-api"`.
"#;

const E0028: &str = r#"An id in `@maps` is not a control of a catalog rollguard bundles.

`@maps` says which controls a declaration or statement implements, for the compliance report
(`rollguard report compliance`). Its value is one control id or several separated by commas;
an id is a catalog's name, a space, and the control's id in that catalog:

    NIST-CSF-2.0 RC.RP-01        NIST Cybersecurity Framework 2.0, a subcategory (GV.OC-01 to
                                 RC.CO-04); RC.RP-1, without the leading zero, is RC.RP-01
    OWASP-NHI-2025 NHI5          OWASP Top 10 Non-Human Identities Risks 2025 (NHI1 to NHI10);
                                 OWASP-NHI-05 is the same control
    NIST-SP-800-207 tenet-3      NIST SP 800-207 zero trust, a tenet of section 2.1 (tenet-1 to
                                 tenet-7)

Example:

    @maps("NIST-CSF-2.0 RC.RP-07")
    rollback error_spike when error_rate > 2%

Fix: name a control the catalog has, e.g. `@maps("NIST-CSF-2.0 RC.RP-01")`; docs/compliance.md
lists where each catalog comes from.
"#;

const E0029: &str = r#"A test expects `authorized`, `not authorized` or `requester_may`, and its snapshot names no `requester`.

Authority is answered for the principal who asks; without a `requester` the decision's
`authorized` and `requester_may` are null, so the test could never pass.

Example:

    test "the bot may roll back in staging" {
      snapshot "fixtures/staging.json"     // no "requester" in it
      expect rollback
      expect authorized
    }

Fix: add the requester to the snapshot, e.g.
`"requester": {"kind": "service_account", "id": "deploy-bot"}`.
"#;

const W0001: &str = r#"A `use` names a file that is already part of the policy set.

Every file of a set already sees the others' declarations, so the `use` does nothing.

Fix: delete the `use`.
"#;
