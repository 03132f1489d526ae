//! `rollguard diff`: the changes between two versions of a policy set that loosen or tighten
//! its decisions.
//!
//! Both versions are compiled; the comparison reads the compiled programs, where names are
//! resolved, `let`s and `fn`s inlined and constants folded, so a reformat, a reordering or a
//! renamed `let` changes nothing. Declarations are matched by name (a policy, then its rules and
//! approvals by name, its gates by their text), never by position. Each difference becomes a
//! [`Change`] with a direction; a direction claimed for a rule or a gate is tested by evaluation
//! (`witness.rs`): a snapshot the two versions decide differently, or the claim is downgraded to
//! [`Direction::Unknown`]. `docs/diff.md` is the user's account of all this.

mod relation;
mod report;
mod witness;

use std::collections::HashMap;

use serde::Serialize;

use crate::ir::{self, Action, Grant, Program};
use crate::source::{FileId, Sources, Span};
use crate::syntax::ast::{self, ItemKind, StatementKind};
use crate::syntax::{parse::parse_file, print};
use crate::{Compilation, Compiled, SetFile};

use relation::{number, pattern_rel, set_rel, Compare, Rel};
pub use report::{to_github, to_json, to_text};

/// Which way a change moves decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Some deployment is now let through (a less severe decision, more authority) that was not.
    Loosens,
    /// Some deployment is now stopped (a more severe decision, less authority) that was not.
    Tightens,
    /// Changed, and the comparison cannot tell which way (or found no snapshot showing it).
    Unknown,
    /// Changes only what dry-run items report under `shadow`: no decision can change.
    Neutral,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Loosens => "loosens",
            Direction::Tightens => "tightens",
            Direction::Unknown => "unknown",
            Direction::Neutral => "neutral",
        }
    }
}

/// A place in a policy file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Place {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl Place {
    fn of(sources: &Sources, span: Span) -> Place {
        let f = sources.get(span.file);
        let (line, column) = f.line_col(span.start);
        Place {
            file: f.name.clone(),
            line,
            column,
        }
    }
}

/// What to report of a declaration only one version has.
struct Lone {
    kind: &'static str,
    direction: Direction,
    message: String,
}

/// One side of a change: the declaration as written (canonical layout) and where.
#[derive(Clone, Debug, Serialize)]
pub struct Version {
    pub text: String,
    #[serde(flatten)]
    pub at: Option<Place>,
}

/// A snapshot the two versions decide differently, showing a claimed direction.
#[derive(Clone, Debug, Serialize)]
pub struct Witness {
    pub snapshot: serde_json::Value,
    pub old_decision: Action,
    pub new_decision: Action,
}

#[derive(Clone, Debug, Serialize)]
pub struct Change {
    /// `rule.condition`, `approval.count`, ...: the table in `docs/diff.md`.
    pub kind: &'static str,
    pub direction: Direction,
    /// The policy, or `null` for a scope or a class.
    pub policy: Option<String>,
    /// `rule error_spike`, `require samples(error_rate) >= 500`, `scope sre`, `class hotfix`.
    pub item: String,
    /// What changed, in words.
    pub message: String,
    pub old: Option<Version>,
    pub new: Option<Version>,
    pub witness: Option<Witness>,
}

/// Every change between two versions, in a fixed order: scopes, classes and signals by name,
/// then policies by name, each with its `applies`, then its statements (gates, rules,
/// approvals): those both versions have in the old version's order, then the old version's
/// others, then the new version's additions.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Diff {
    pub changes: Vec<Change>,
}

impl Diff {
    pub fn count(&self, d: Direction) -> usize {
        self.changes.iter().filter(|c| c.direction == d).count()
    }
}

/// One compiled version: the program with the files it came from.
pub struct Side<'a> {
    compiled: &'a Compiled,
    sources: &'a Sources,
    ast: Index,
}

impl<'a> Side<'a> {
    /// The compiled set of `files`, or `None` when it has errors.
    pub fn new(files: &[SetFile], c: &'a Compilation) -> Option<Side<'a>> {
        let compiled = c.compiled.as_ref()?;
        Some(Side {
            compiled,
            sources: &c.sources,
            ast: Index::build(&c.sources, files),
        })
    }

    fn program(&self) -> &Program {
        self.compiled.program()
    }
}

/// Declarations as written, for the text and places of a report: the compiled program holds
/// neither.
#[derive(Default)]
struct Index {
    /// `(policy, key)`: key `policy`, `applies`, `rule NAME`, `approval NAME`.
    statements: HashMap<(String, String), (String, Span)>,
    classes: HashMap<String, Span>,
    scopes: HashMap<String, Span>,
}

impl Index {
    /// Policies are read from the set's own files only (an imported module's policies are not
    /// part of the set), classes and scopes from every file the compilation read.
    fn build(sources: &Sources, set: &[SetFile]) -> Index {
        let mut ix = Index::default();
        for i in 0..sources.len() {
            let id = FileId(i as u32);
            let in_set = set.iter().any(|f| f.name == sources.get(id).name);
            let (file, _) = parse_file(id, &sources.get(id).text);
            for item in &file.items {
                match &item.kind {
                    ItemKind::Class(c) => {
                        ix.classes.entry(c.name.name.clone()).or_insert(item.span);
                    }
                    ItemKind::Scope(s) => {
                        ix.scopes.entry(s.name.name.clone()).or_insert(item.span);
                    }
                    ItemKind::Policy(p) if in_set => ix.policy(p, item.span),
                    _ => {}
                }
            }
        }
        ix
    }

    fn policy(&mut self, p: &ast::PolicyDecl, span: Span) {
        let name = &p.name.name;
        let mut put = |key: String, text: String, span: Span| {
            self.statements.insert((name.clone(), key), (text, span));
        };
        put("policy".into(), format!("policy {name}"), span);
        for s in &p.statements {
            match &s.kind {
                StatementKind::Applies(e) => put(
                    "applies".into(),
                    format!("applies when {}", print::expr(e)),
                    s.span,
                ),
                StatementKind::Rule {
                    action,
                    name: rule,
                    when,
                    window,
                    unless,
                } => {
                    let mut text =
                        format!("{} {} when {}", action.name, rule.name, print::expr(when));
                    if let Some(w) = window {
                        text.push_str(&format!(" for {}", print::expr(w)));
                    }
                    if let Some(u) = unless {
                        text.push_str(&format!(" unless {}", print::expr(u)));
                    }
                    put(format!("rule {}", rule.name), text, s.span);
                }
                StatementKind::Approval {
                    name: a,
                    count,
                    of,
                    when,
                } => {
                    let mut text = format!(
                        "approval {} requires {} of {}",
                        a.name,
                        number(count.0),
                        print::principal(of)
                    );
                    if let Some(w) = when {
                        text.push_str(&format!(" when {}", print::expr(w)));
                    }
                    put(format!("approval {}", a.name), text, s.span);
                }
                StatementKind::Require { cond, action } => put(
                    format!("require {}", print::expr(cond)),
                    format!("require {} else {}", print::expr(cond), action.name),
                    s.span,
                ),
                StatementKind::Forbid {
                    action,
                    name: veto,
                    when,
                    unless,
                } => {
                    let mut text = format!(
                        "forbid {} {} when {}",
                        action.name,
                        veto.name,
                        print::expr(when)
                    );
                    if let Some(u) = unless {
                        text.push_str(&format!(" unless {}", print::expr(u)));
                    }
                    put(format!("forbid {}", veto.name), text, s.span);
                }
                StatementKind::Let(_) => {}
            }
        }
    }
}

impl Side<'_> {
    fn version(&self, policy: &str, key: &str) -> Version {
        match self
            .ast
            .statements
            .get(&(policy.to_string(), key.to_string()))
        {
            Some((text, span)) => Version {
                text: text.clone(),
                at: Some(Place::of(self.sources, *span)),
            },
            None => Version {
                text: key.to_string(),
                at: None,
            },
        }
    }

    fn decl(&self, map: &HashMap<String, Span>, text: String, name: &str) -> Version {
        Version {
            text,
            at: map.get(name).map(|s| Place::of(self.sources, *s)),
        }
    }
}

/// Compares two versions of a policy set.
pub fn diff(old: &Side, new: &Side) -> Diff {
    let mut d = Differ {
        old,
        new,
        out: Vec::new(),
    };
    d.scopes();
    d.classes();
    d.signals();
    d.policies();
    Diff { changes: d.out }
}

struct Differ<'a, 'b> {
    old: &'a Side<'b>,
    new: &'a Side<'b>,
    out: Vec<Change>,
}

fn grants(g: &[Grant]) -> String {
    g.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")
}

fn scope_text(p: &Program, s: &ir::Scope) -> String {
    let principals: Vec<String> = s.principals.iter().map(|p| p.describe()).collect();
    let mut text = format!(
        "scope {} {{ principals [{}] may [{}]",
        s.name,
        principals.join(", "),
        grants(&s.may)
    );
    if let Some(envs) = &s.envs {
        let envs: Vec<String> = envs.iter().map(|e| print::quote(e)).collect();
        text.push_str(&format!(" in [{}]", envs.join(", ")));
    }
    if let Some(services) = &s.services {
        let services: Vec<String> = services.iter().map(|e| print::quote(e)).collect();
        text.push_str(&format!(" for services [{}]", services.join(", ")));
    }
    if let Some(classes) = scope_classes(p, s) {
        text.push_str(&format!(" for classes [{}]", classes.join(", ")));
    }
    text + " }"
}

/// A scope's `for classes` by name: class ids differ between two programs.
fn scope_classes(p: &Program, s: &ir::Scope) -> Option<Vec<String>> {
    s.classes.as_ref().map(|c| {
        c.iter()
            .map(|&id| p.classes[id as usize].name.clone())
            .collect()
    })
}

fn class_text(p: &Program, c: &ir::Class) -> String {
    let mut parts = Vec::new();
    if !c.tags.is_empty() {
        let tags: Vec<&str> = c
            .tags
            .iter()
            .map(|t| p.tags[*t as usize].as_str())
            .collect();
        parts.push(format!("touches [{}]", tags.join(", ")));
    }
    if c.irreversible {
        parts.push("irreversible".into());
    }
    if c.security_fix {
        parts.push("security_fix".into());
    }
    format!("class {} {{ {} }}", c.name, parts.join(" "))
}

/// How a direction reads for a claim whose relation is `r`: `up` is the direction of `Rel::Up`.
fn direction(r: Rel, up: Direction) -> Direction {
    let down = match up {
        Direction::Loosens => Direction::Tightens,
        _ => Direction::Loosens,
    };
    match r {
        Rel::Up => up,
        Rel::Down => down,
        _ => Direction::Unknown,
    }
}

/// A statement of a policy, for comparing its two versions.
struct Stmt<'p> {
    key: String,
    kind: StmtKind<'p>,
    dry_run: bool,
}

enum StmtKind<'p> {
    Gate(&'p ir::Gate),
    Rule(&'p ir::Rule),
    Approval(&'p ir::Approval),
}

fn statements(p: &ir::Policy) -> Vec<Stmt<'_>> {
    let mut out = Vec::new();
    for g in &p.gates {
        out.push(Stmt {
            key: format!("require {}", g.text),
            kind: StmtKind::Gate(g),
            dry_run: g.dry_run,
        });
    }
    for r in &p.rules {
        out.push(Stmt {
            key: format!("rule {}", r.name),
            kind: StmtKind::Rule(r),
            dry_run: r.dry_run,
        });
    }
    for a in &p.approvals {
        out.push(Stmt {
            key: format!("approval {}", a.name),
            kind: StmtKind::Approval(a),
            dry_run: a.dry_run,
        });
    }
    out
}

impl Differ<'_, '_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        kind: &'static str,
        direction: Direction,
        policy: Option<&str>,
        item: &str,
        message: String,
        old: Option<Version>,
        new: Option<Version>,
    ) {
        self.out.push(Change {
            kind,
            direction,
            policy: policy.map(str::to_string),
            item: item.to_string(),
            message,
            old,
            new,
            witness: None,
        });
    }

    /// Reports a scope or class only one version declares: `removed` when only the old one
    /// has it, `added` when only the new one does.
    fn lone(
        &mut self,
        item: &str,
        old: Option<Version>,
        new: Option<Version>,
        removed: Lone,
        added: Lone,
    ) {
        match (old, new) {
            (Some(o), None) => {
                let r = removed;
                self.push(r.kind, r.direction, None, item, r.message, Some(o), None);
            }
            (None, Some(n)) => {
                let a = added;
                self.push(a.kind, a.direction, None, item, a.message, None, Some(n));
            }
            _ => {}
        }
    }

    fn scopes(&mut self) {
        let (op, np) = (self.old.program(), self.new.program());
        let mut names: Vec<&str> = op
            .scopes
            .iter()
            .chain(&np.scopes)
            .map(|s| s.name.as_str())
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            let o = op.scopes.iter().find(|s| s.name == name);
            let n = np.scopes.iter().find(|s| s.name == name);
            let item = format!("scope {name}");
            let ov = o.map(|s| {
                self.old.decl(
                    &self.old.ast.scopes,
                    scope_text(self.old.program(), s),
                    name,
                )
            });
            let nv = n.map(|s| {
                self.new.decl(
                    &self.new.ast.scopes,
                    scope_text(self.new.program(), s),
                    name,
                )
            });
            let (Some(o), Some(n)) = (o, n) else {
                let removed = Lone {
                    kind: "scope.removed",
                    direction: Direction::Tightens,
                    message: format!("scope `{name}` removed: its principals lose what it granted"),
                };
                let added = Lone {
                    kind: "scope.added",
                    direction: Direction::Loosens,
                    message: format!("scope `{name}` added: its principals gain authority"),
                };
                self.lone(&item, ov, nv, removed, added);
                continue;
            };
            // Principals: a pattern set covers more when each old pattern is within a new one.
            let covers = |a: &[ir::PrincipalPat], b: &[ir::PrincipalPat]| {
                a.iter()
                    .all(|p| b.iter().any(|q| relation::pattern_within(p, q)))
            };
            let principals = match (
                covers(&o.principals, &n.principals),
                covers(&n.principals, &o.principals),
            ) {
                (true, true) => Rel::Same,
                (true, false) => Rel::Up,
                (false, true) => Rel::Down,
                (false, false) => Rel::Unknown,
            };
            if principals != Rel::Same {
                let describe = |ps: &[ir::PrincipalPat]| {
                    ps.iter()
                        .map(|p| p.describe())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                self.push(
                    "scope.principals",
                    direction(principals, Direction::Loosens),
                    None,
                    &item,
                    format!(
                        "principals [{}] → [{}]{}",
                        describe(&o.principals),
                        describe(&n.principals),
                        match principals {
                            Rel::Up => ": widened",
                            Rel::Down => ": narrowed",
                            _ => ": some added, some removed",
                        }
                    ),
                    ov.clone(),
                    nv.clone(),
                );
            }
            let may = set_rel(&o.may, &n.may);
            if may != Rel::Same {
                self.push(
                    "scope.may",
                    direction(may, Direction::Loosens),
                    None,
                    &item,
                    format!("may [{}] → [{}]", grants(&o.may), grants(&n.may)),
                    ov.clone(),
                    nv.clone(),
                );
            }
            let envs = match (&o.envs, &n.envs) {
                (None, None) => Rel::Same,
                (Some(_), None) => Rel::Up,
                (None, Some(_)) => Rel::Down,
                (Some(a), Some(b)) => set_rel(a, b),
            };
            if envs != Rel::Same {
                let show = |e: &Option<Vec<String>>| match e {
                    None => "every environment".to_string(),
                    Some(v) => format!("in [{}]", v.join(", ")),
                };
                self.push(
                    "scope.in",
                    direction(envs, Direction::Loosens),
                    None,
                    &item,
                    format!("{} → {}", show(&o.envs), show(&n.envs)),
                    ov.clone(),
                    nv.clone(),
                );
            }
            // `for services` and `for classes` narrow as `in` does: absent is everything.
            let narrowing = |a: &Option<Vec<String>>, b: &Option<Vec<String>>| match (a, b) {
                (None, None) => Rel::Same,
                (Some(_), None) => Rel::Up,
                (None, Some(_)) => Rel::Down,
                (Some(a), Some(b)) => set_rel(a, b),
            };
            let (oc, nc) = (
                scope_classes(self.old.program(), o),
                scope_classes(self.new.program(), n),
            );
            for (kind, word, old, new) in [
                ("scope.services", "services", &o.services, &n.services),
                ("scope.classes", "classes", &oc, &nc),
            ] {
                let rel = narrowing(old, new);
                if rel == Rel::Same {
                    continue;
                }
                let show = |e: &Option<Vec<String>>| match e {
                    None => format!("every one of {word}"),
                    Some(v) => format!("for {word} [{}]", v.join(", ")),
                };
                self.push(
                    kind,
                    direction(rel, Direction::Loosens),
                    None,
                    &item,
                    format!("{} → {}", show(old), show(new)),
                    ov.clone(),
                    nv.clone(),
                );
            }
        }
    }

    fn classes(&mut self) {
        let (op, np) = (self.old.program(), self.new.program());
        let mut names: Vec<&str> = op
            .classes
            .iter()
            .chain(&np.classes)
            .map(|c| c.name.as_str())
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            let o = op.classes.iter().find(|c| c.name == name);
            let n = np.classes.iter().find(|c| c.name == name);
            let item = format!("class {name}");
            let ov = o.map(|c| {
                self.old
                    .decl(&self.old.ast.classes, class_text(op, c), name)
            });
            let nv = n.map(|c| {
                self.new
                    .decl(&self.new.ast.classes, class_text(np, c), name)
            });
            let (Some(o), Some(n)) = (o, n) else {
                // A snapshot naming a removed class is refused, one naming a new class was
                // refused before: neither version decides the other's snapshots.
                let removed = Lone {
                    kind: "class.removed",
                    direction: Direction::Unknown,
                    message: format!("class `{name}` removed: snapshots naming it are now refused"),
                };
                let added = Lone {
                    kind: "class.added",
                    direction: Direction::Unknown,
                    message: format!(
                        "class `{name}` added: snapshots naming it were refused before"
                    ),
                };
                self.lone(&item, ov, nv, removed, added);
                continue;
            };
            for (kind, word, was, is, why) in [
                (
                    "class.irreversible",
                    "irreversible",
                    o.irreversible,
                    n.irreversible,
                    "a rollback of this class is turned into a halt",
                ),
                (
                    "class.security_fix",
                    "security_fix",
                    o.security_fix,
                    n.security_fix,
                    "a rollback of this class is turned into a halt",
                ),
            ] {
                if was != is {
                    let (dir, msg) = if was {
                        (
                            Direction::Loosens,
                            format!("`{word}` dropped: no longer true that {why}"),
                        )
                    } else {
                        (Direction::Tightens, format!("`{word}` added: {why}"))
                    };
                    self.push(kind, dir, None, &item, msg, ov.clone(), nv.clone());
                }
            }
            let tags = |p: &Program, c: &ir::Class| -> Vec<String> {
                c.tags.iter().map(|t| p.tags[*t as usize].clone()).collect()
            };
            let (ot, nt) = (tags(op, o), tags(np, n));
            if set_rel(&ot, &nt) != Rel::Same {
                // Whether touching more makes a decision stricter depends on every condition
                // that tests the tag (`when class touches x`, `unless class touches x`).
                self.push(
                    "class.touches",
                    Direction::Unknown,
                    None,
                    &item,
                    format!("touches [{}] → [{}]", ot.join(", "), nt.join(", ")),
                    ov,
                    nv,
                );
            }
        }
    }

    /// A signal that reads another key, or another type, feeds every condition that names it
    /// with other evidence.
    fn signals(&mut self) {
        let (op, np) = (self.old.program(), self.new.program());
        for o in &op.signals {
            if let Some(n) = np.signals.iter().find(|s| s.name == o.name) {
                if o.key != n.key || o.ty != n.ty {
                    self.push("signal.changed", Direction::Unknown, None, &format!("signal {}", o.name),
                        format!("signal `{}` was `{}` read from {}, is `{}` read from {}: every condition naming it reads other evidence",
                            o.name, o.ty.as_str(), print::quote(&o.key), n.ty.as_str(), print::quote(&n.key)),
                        Some(Version { text: format!("signal {}: {} = {}", o.name, o.ty.as_str(), print::quote(&o.key)), at: None }),
                        Some(Version { text: format!("signal {}: {} = {}", n.name, n.ty.as_str(), print::quote(&n.key)), at: None }));
                }
            }
        }
    }

    fn policies(&mut self) {
        let (op, np) = (self.old.program(), self.new.program());
        let mut names: Vec<&str> = op
            .policies
            .iter()
            .chain(&np.policies)
            .map(|p| p.name.as_str())
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            let o = op.policies.iter().find(|p| p.name == name);
            let n = np.policies.iter().find(|p| p.name == name);
            let item = format!("policy {name}");
            match (o, n) {
                (Some(o), Some(n)) => self.policy(o, n),
                (Some(o), None) => {
                    let dir = if o.dry_run {
                        Direction::Neutral
                    } else {
                        Direction::Loosens
                    };
                    self.push(
                        "policy.removed",
                        dir,
                        Some(name),
                        &item,
                        format!("policy `{name}` removed"),
                        Some(self.old.version(name, "policy")),
                        None,
                    );
                }
                (None, Some(n)) => {
                    let dir = if n.dry_run {
                        Direction::Neutral
                    } else {
                        Direction::Tightens
                    };
                    self.push(
                        "policy.added",
                        dir,
                        Some(name),
                        &item,
                        format!("policy `{name}` added"),
                        None,
                        Some(self.new.version(name, "policy")),
                    );
                }
                (None, None) => {}
            }
        }
    }

    fn policy(&mut self, o: &ir::Policy, n: &ir::Policy) {
        let name = o.name.as_str();
        let item = format!("policy {name}");
        if o.dry_run != n.dry_run {
            let (kind, dir, msg) = if n.dry_run {
                (
                    "policy.dry_run",
                    Direction::Loosens,
                    format!("policy `{name}` made dry-run: it no longer decides"),
                )
            } else {
                (
                    "policy.enforced",
                    Direction::Tightens,
                    format!("policy `{name}` no longer dry-run: it decides"),
                )
            };
            self.push(
                kind,
                dir,
                Some(name),
                &item,
                msg,
                Some(self.old.version(name, "policy")),
                Some(self.new.version(name, "policy")),
            );
            // Every statement of a policy that was or is dry-run decided nothing on that side:
            // the change above says it all.
            return;
        }
        // In a dry-run policy nothing decides: every change below only changes `shadow`.
        let neutral = o.dry_run;
        let applies = match (o.applies, n.applies) {
            (None, None) => None,
            (None, Some(_)) => Some((
                Rel::Down,
                String::from("`applies` added: the policy applies to fewer deployments"),
            )),
            (Some(_), None) => Some((
                Rel::Up,
                String::from("`applies` removed: the policy applies to every deployment"),
            )),
            (Some(a), Some(b)) => {
                let mut c = Compare::new(self.old.program(), self.new.program());
                let r = c.rel(a, b);
                (r != Rel::Same).then(|| (r, describe_notes("`applies` changed", &c.notes)))
            }
        };
        if let Some((r, msg)) = applies {
            let dir = if neutral {
                Direction::Neutral
            } else {
                direction(r, Direction::Tightens)
            };
            self.push(
                "policy.applies",
                dir,
                Some(name),
                &item,
                msg,
                Some(self.old.version(name, "applies")).filter(|_| o.applies.is_some()),
                Some(self.new.version(name, "applies")).filter(|_| n.applies.is_some()),
            );
        }

        let old_stmts = statements(o);
        let new_all = statements(n);
        // Gates have no names: one whose text changed is paired with a left-over old gate whose
        // condition compares (a moved threshold), else it is removed and added.
        let mut pairs: Vec<(Option<&Stmt>, Option<&Stmt>)> = Vec::new();
        let mut taken = vec![false; new_all.len()];
        let mut leftover_old = Vec::new();
        for s in &old_stmts {
            match new_all
                .iter()
                .enumerate()
                .find(|(i, t)| !taken[*i] && t.key == s.key)
            {
                Some((i, t)) => {
                    taken[i] = true;
                    pairs.push((Some(s), Some(t)));
                }
                None => leftover_old.push(s),
            }
        }
        for s in leftover_old {
            let StmtKind::Gate(g) = s.kind else {
                pairs.push((Some(s), None));
                continue;
            };
            let partner = new_all.iter().enumerate().find(|(i, t)| {
                !taken[*i]
                    && matches!(t.kind, StmtKind::Gate(h) if {
                        let mut c = Compare::new(self.old.program(), self.new.program());
                        !matches!(c.rel(g.cond, h.cond), Rel::Unknown)
                    })
            });
            match partner {
                Some((i, t)) => {
                    taken[i] = true;
                    pairs.push((Some(s), Some(t)));
                }
                None => pairs.push((Some(s), None)),
            }
        }
        for (i, t) in new_all.iter().enumerate() {
            if !taken[i] {
                pairs.push((None, Some(t)));
            }
        }
        for (a, b) in pairs {
            self.statement(name, a, b, neutral);
        }
    }

    fn statement(&mut self, policy: &str, o: Option<&Stmt>, n: Option<&Stmt>, neutral: bool) {
        let ov = o.map(|s| self.old.version(policy, &s.key));
        let nv = n.map(|s| self.new.version(policy, &s.key));
        let what = |s: &Stmt| match s.kind {
            StmtKind::Gate(_) => "gate",
            StmtKind::Rule(_) => "rule",
            StmtKind::Approval(_) => "approval",
        };
        let (o, n) = match (o, n) {
            (Some(o), Some(n)) => (o, n),
            (Some(o), None) => {
                let kind = match what(o) {
                    "gate" => "gate.removed",
                    "rule" => "rule.removed",
                    _ => "approval.removed",
                };
                let dir = if neutral || o.dry_run {
                    Direction::Neutral
                } else {
                    Direction::Loosens
                };
                self.push(
                    kind,
                    dir,
                    Some(policy),
                    &o.key,
                    format!("{} removed", o.key),
                    ov,
                    None,
                );
                return;
            }
            (None, Some(n)) => {
                let kind = match what(n) {
                    "gate" => "gate.added",
                    "rule" => "rule.added",
                    _ => "approval.added",
                };
                let dir = if neutral || n.dry_run {
                    Direction::Neutral
                } else {
                    Direction::Tightens
                };
                self.push(
                    kind,
                    dir,
                    Some(policy),
                    &n.key,
                    format!("{} added", n.key),
                    None,
                    nv,
                );
                return;
            }
            (None, None) => return,
        };
        let item = n.key.clone();
        if o.dry_run != n.dry_run {
            let base = what(n);
            let (kind, dir, msg) = if n.dry_run {
                (
                    dry_kind(base, true),
                    Direction::Loosens,
                    format!("{} made dry-run: it no longer decides", n.key),
                )
            } else {
                (
                    dry_kind(base, false),
                    Direction::Tightens,
                    format!("{} no longer dry-run: it decides", n.key),
                )
            };
            let dir = if neutral { Direction::Neutral } else { dir };
            self.push(kind, dir, Some(policy), &item, msg, ov, nv);
            return;
        }
        // A dry-run statement decides nothing on either side.
        let neutral = neutral || n.dry_run;
        let mut changes: Vec<(&'static str, Direction, String)> = Vec::new();
        let mut cmp = Compare::new(self.old.program(), self.new.program());
        match (&o.kind, &n.kind) {
            (StmtKind::Rule(a), StmtKind::Rule(b)) => {
                if a.action != b.action {
                    let dir = if b.action > a.action {
                        Direction::Tightens
                    } else {
                        Direction::Loosens
                    };
                    changes.push((
                        "rule.action",
                        dir,
                        format!("action {} → {}", a.action.as_str(), b.action.as_str()),
                    ));
                }
                let r = cmp.rel(a.when, b.when);
                if r != Rel::Same {
                    changes.push((
                        "rule.condition",
                        direction(r, Direction::Tightens),
                        describe_notes("condition changed", &std::mem::take(&mut cmp.notes)),
                    ));
                }
                match (a.window, b.window) {
                    (None, None) => {}
                    (None, Some((s, _))) => changes.push((
                        "rule.window",
                        Direction::Loosens,
                        format!(
                            "`for {}` added: the condition must hold that long",
                            crate::eval::machine::duration_literal(s)
                        ),
                    )),
                    (Some((s, _)), None) => changes.push((
                        "rule.window",
                        Direction::Tightens,
                        format!(
                            "`for {}` removed: the condition need hold only now",
                            crate::eval::machine::duration_literal(s)
                        ),
                    )),
                    (Some((s, _)), Some((t, _))) if s != t => changes.push((
                        "rule.window",
                        if t > s {
                            Direction::Loosens
                        } else {
                            Direction::Tightens
                        },
                        format!(
                            "for {} → {}",
                            crate::eval::machine::duration_literal(s),
                            crate::eval::machine::duration_literal(t)
                        ),
                    )),
                    _ => {}
                }
                match (a.unless, b.unless) {
                    (None, None) => {}
                    (None, Some(_)) => changes.push((
                        "rule.unless",
                        Direction::Loosens,
                        "`unless` added: the rule is ruled out more often".into(),
                    )),
                    (Some(_), None) => changes.push((
                        "rule.unless",
                        Direction::Tightens,
                        "`unless` removed".into(),
                    )),
                    (Some(x), Some(y)) => {
                        let r = cmp.rel(x, y);
                        if r != Rel::Same {
                            changes.push((
                                "rule.unless",
                                direction(r, Direction::Loosens),
                                describe_notes("`unless` changed", &std::mem::take(&mut cmp.notes)),
                            ));
                        }
                    }
                }
            }
            (StmtKind::Gate(a), StmtKind::Gate(b)) => {
                if a.action != b.action {
                    let dir = if b.action > a.action {
                        Direction::Tightens
                    } else {
                        Direction::Loosens
                    };
                    changes.push((
                        "gate.action",
                        dir,
                        format!("action {} → {}", a.action.as_str(), b.action.as_str()),
                    ));
                }
                // A gate acts when its condition fails: a condition true more often loosens.
                let r = cmp.rel(a.cond, b.cond);
                if r != Rel::Same {
                    changes.push((
                        "gate.condition",
                        direction(r, Direction::Loosens),
                        describe_notes("condition changed", &std::mem::take(&mut cmp.notes)),
                    ));
                }
            }
            (StmtKind::Approval(a), StmtKind::Approval(b)) => {
                if a.count != b.count {
                    let dir = if b.count > a.count {
                        Direction::Tightens
                    } else {
                        Direction::Loosens
                    };
                    changes.push((
                        "approval.count",
                        dir,
                        format!("{} → {} approvals", a.count, b.count),
                    ));
                }
                let r = pattern_rel(&a.of, &b.of);
                if r != Rel::Same {
                    changes.push((
                        "approval.principal",
                        direction(r, Direction::Loosens),
                        format!(
                            "of {} → of {}{}",
                            a.of.describe(),
                            b.of.describe(),
                            match r {
                                Rel::Up => ": widened",
                                Rel::Down => ": narrowed",
                                _ => ": neither contains the other",
                            }
                        ),
                    ));
                }
                match (a.when, b.when) {
                    (None, None) => {}
                    (None, Some(_)) => changes.push((
                        "approval.condition",
                        Direction::Loosens,
                        "`when` added: required less often".into(),
                    )),
                    (Some(_), None) => changes.push((
                        "approval.condition",
                        Direction::Tightens,
                        "`when` removed: always required".into(),
                    )),
                    (Some(x), Some(y)) => {
                        let r = cmp.rel(x, y);
                        if r != Rel::Same {
                            changes.push((
                                "approval.condition",
                                direction(r, Direction::Tightens),
                                describe_notes("`when` changed", &std::mem::take(&mut cmp.notes)),
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
        for (kind, dir, msg) in changes {
            let dir = if neutral { Direction::Neutral } else { dir };
            self.push(kind, dir, Some(policy), &item, msg, ov.clone(), nv.clone());
        }
    }
}

fn dry_kind(base: &str, dry: bool) -> &'static str {
    match (base, dry) {
        ("gate", true) => "gate.dry_run",
        ("gate", false) => "gate.enforced",
        ("rule", true) => "rule.dry_run",
        ("rule", false) => "rule.enforced",
        (_, true) => "approval.dry_run",
        (_, false) => "approval.enforced",
    }
}

fn describe_notes(what: &str, notes: &[String]) -> String {
    if notes.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {}", notes.join(", "))
    }
}

/// Compares two versions and tests each claimed direction of a rule or gate by evaluation.
pub fn compare(old: &Side, new: &Side) -> Diff {
    let mut d = diff(old, new);
    witness::back(&mut d, old.compiled, new.compiled);
    d
}
