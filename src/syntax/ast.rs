//! The typed syntax tree. Every node carries the byte span it came from.

use crate::source::Span;

/// A name as written, with its place.
#[derive(Clone, Debug)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, Default)]
pub struct File {
    pub items: Vec<Item>,
    /// Byte ranges the parser could not read (after a syntax error), so later passes can stay
    /// quiet about names that were probably declared there.
    pub skipped: Vec<(usize, usize)>,
    /// Declarations that did not parse, by keyword and name (`policy checkout`), so later passes
    /// know them and stay quiet about references to them and to what they declare.
    pub unparsed: Vec<Unparsed>,
}

/// A declaration the parser could not read: its keyword, its name when one could be read, and
/// the byte range skipped (from its first doc comment or annotation to where reading resumed).
#[derive(Clone, Debug)]
pub struct Unparsed {
    pub keyword: String,
    pub name: Option<String>,
    pub range: (usize, usize),
}

#[derive(Clone, Debug)]
pub struct Annotation {
    pub key: Ident,
    pub value: Option<(String, Span)>,
    pub span: Span,
}

/// Doc comments and annotations that stand before a declaration or statement.
#[derive(Clone, Debug, Default)]
pub struct Attrs {
    pub docs: Vec<String>,
    pub annotations: Vec<Annotation>,
}

impl Attrs {
    pub fn get(&self, key: &str) -> Option<&Annotation> {
        self.annotations.iter().find(|a| a.key.name == key)
    }

    pub fn doc(&self) -> Option<String> {
        if self.docs.is_empty() {
            None
        } else {
            Some(self.docs.join("\n"))
        }
    }
}

#[derive(Clone, Debug)]
pub struct Item {
    pub attrs: Attrs,
    pub kind: ItemKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ItemKind {
    Use(UseDecl),
    Signal(SignalDecl),
    Class(ClassDecl),
    Scope(ScopeDecl),
    Let(LetDecl),
    Fn(FnDecl),
    Policy(PolicyDecl),
    Test(TestDecl),
}

#[derive(Clone, Debug)]
pub enum UseTarget {
    /// `use std::http`
    Std(Ident),
    /// `use "../shared/signals.rollguard"`, relative to the importing file.
    Path(String),
}

#[derive(Clone, Debug)]
pub struct UseDecl {
    pub target: UseTarget,
    pub target_span: Span,
}

#[derive(Clone, Debug)]
pub struct TypeName {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct SignalDecl {
    pub name: Ident,
    pub ty: TypeName,
    pub key: String,
    pub key_span: Span,
}

#[derive(Clone, Debug)]
pub struct ClassDecl {
    pub name: Ident,
    pub tags: Vec<Ident>,
    pub irreversible: bool,
    pub security_fix: bool,
}

/// `human`, `agent "id"`, `group "sre"`: a kind word and an optional id; in approvals and
/// scopes also `human in group "sre"`, whose `in` part is a further pattern that must match too.
#[derive(Clone, Debug)]
pub struct PrincipalPat {
    pub kind: Ident,
    pub id: Option<(String, Span)>,
    /// The pattern after `in` (`group "sre"`), when there is one.
    pub within: Option<Box<PrincipalPat>>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct ScopeDecl {
    pub name: Ident,
    pub principals: Vec<PrincipalPat>,
    pub may: Vec<Ident>,
    /// `None`: every environment.
    pub envs: Option<Vec<(String, Span)>>,
    /// `for services [...]`; `None`: every service.
    pub services: Option<Vec<(String, Span)>>,
    /// `for classes [...]`; `None`: every class, and unclassified changes.
    pub classes: Option<Vec<Ident>>,
}

#[derive(Clone, Debug)]
pub struct LetDecl {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeName,
}

#[derive(Clone, Debug)]
pub struct FnDecl {
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: TypeName,
    pub body: Expr,
}

#[derive(Clone, Debug)]
pub struct PolicyDecl {
    pub name: Ident,
    pub statements: Vec<Statement>,
}

#[derive(Clone, Debug)]
pub struct Statement {
    pub attrs: Attrs,
    pub kind: StatementKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum StatementKind {
    Applies(Expr),
    Require {
        cond: Expr,
        action: Ident,
    },
    Rule {
        action: Ident,
        name: Ident,
        when: Expr,
        window: Option<Expr>,
        unless: Option<Expr>,
    },
    Approval {
        name: Ident,
        count: (f64, Span),
        of: PrincipalPat,
        when: Option<Expr>,
    },
    /// `forbid rollback NAME when EXPR [unless EXPR]`: a veto on the set's decision.
    Forbid {
        action: Ident,
        name: Ident,
        when: Expr,
        unless: Option<Expr>,
    },
    Let(LetDecl),
}

#[derive(Clone, Debug)]
pub struct TestDecl {
    pub title: String,
    pub snapshot: String,
    pub snapshot_span: Span,
    pub expect: Ident,
    pub by: Vec<Ident>,
    /// `expect authorized`, `expect not authorized`, `expect requester_may [...]`.
    pub authority: Vec<TestAuthority>,
}

/// What a test expects of the snapshot's requester.
#[derive(Clone, Debug)]
pub enum TestAuthority {
    /// `expect authorized` (true) or `expect not authorized` (false); the span covers the words.
    Authorized(bool, Span),
    /// `expect requester_may [halt, rollback]`.
    RequesterMay(Vec<Ident>, Span),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    None,
    Percent,
    Millis,
    Seconds,
    Minutes,
    Hours,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `!` and `not`: the same operation, at different precedence.
    Not,
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowFn {
    Max,
    Min,
    Avg,
}

impl WindowFn {
    pub fn name(self) -> &'static str {
        match self {
            WindowFn::Max => "max",
            WindowFn::Min => "min",
            WindowFn::Avg => "avg",
        }
    }
}

/// The right side of `is`.
#[derive(Clone, Debug)]
pub enum IsTarget {
    Irreversible,
    SecurityFix,
    /// A class name, or a principal kind with an optional id; the checker decides which.
    Word(PrincipalPat),
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    Number(f64, Unit),
    Str(String),
    Bool(bool),
    Name(Ident),
    /// `deployment`, `deployment.actor`, `deployment.labels["team"]`.
    Deployment(Vec<PathPart>),
    /// `class`, short for `deployment.class`.
    Class,
    List(Vec<Expr>),
    Call(Ident, Vec<Expr>),
    Fresh(Vec<Expr>, Box<Expr>),
    Window(WindowFn, Box<Expr>, Box<Expr>),
    Cel(String, Span),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    Is(Box<Expr>, IsTarget),
    Touches(Box<Expr>, Ident),
    Paren(Box<Expr>),
}

#[derive(Clone, Debug)]
pub enum PathPart {
    Field(Ident),
    Index(String, Span),
}
