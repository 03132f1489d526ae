//! How one compiled expression relates to another: the same, larger (for a boolean: true for
//! more snapshots), smaller, or not comparable by their shape alone.
//!
//! The two trees come from two programs, so nodes are matched by what they mean, never by index:
//! signals by name, classes and tags by name, `cel(...)` by its source. The walk is syntactic and
//! sound only under the assumptions `docs/diff.md` lists (values of counts, ratios and durations,
//! and their baselines, are not negative); every claim it makes is then tested by evaluation
//! (`witness.rs`) before it is reported as a direction.

use crate::ir::{ArithOp, CmpOp, Node, NodeId, PrincipalPat, Program, SignalType};

/// The relation of a new node to an old one. For a boolean `Up` means "true for at least the
/// snapshots the old one was true for"; for a number, "at least as large".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rel {
    Same,
    Up,
    Down,
    Unknown,
}

impl Rel {
    pub fn flip(self) -> Rel {
        match self {
            Rel::Up => Rel::Down,
            Rel::Down => Rel::Up,
            r => r,
        }
    }

    /// Two parts of one expression that changed: the whole moves one way only when both parts
    /// move that way (or stay).
    pub fn join(self, other: Rel) -> Rel {
        match (self, other) {
            (Rel::Same, r) | (r, Rel::Same) => r,
            (a, b) if a == b => a,
            _ => Rel::Unknown,
        }
    }

    fn at_most(self, bound: Rel) -> bool {
        self == Rel::Same || self == bound
    }
}

/// The sign an expression can take, as far as its shape tells.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sign {
    NonNegative,
    Unknown,
}

/// Compares expressions of an old and a new program, noting what changed in words.
pub struct Compare<'a> {
    pub old: &'a Program,
    pub new: &'a Program,
    /// What differed, as the reader should see it: `1.5 → 2`, `> → >=`.
    pub notes: Vec<String>,
    /// Comparisons made so far: trying both sides of every `and`/`or` can revisit subtrees, so
    /// past a bound the answer is "unknown" rather than a long wait.
    steps: usize,
}

/// Node comparisons one statement may take (the checker bounds a tree to 2^20 nodes).
const MAX_STEPS: usize = 1 << 18;

/// Whether every principal `a` matches is matched by `b` too.
pub fn pattern_within(a: &PrincipalPat, b: &PrincipalPat) -> bool {
    // `a` is within `b` when each condition of `b` follows from one of `a`'s: `human "ana" in
    // group "sre"` is within `human` and within `group "sre"`.
    let implies = |q: &PrincipalPat, p: &PrincipalPat| match (q, p) {
        _ if q == p => true,
        (PrincipalPat::Identity(k, _), PrincipalPat::Kind(j)) => k == j,
        _ => false,
    };
    a == b
        || b.parts()
            .iter()
            .all(|p| a.parts().iter().any(|q| implies(q, p)))
}

/// How a new principal pattern relates to an old one: `Up` when it matches more principals.
pub fn pattern_rel(old: &PrincipalPat, new: &PrincipalPat) -> Rel {
    match (pattern_within(old, new), pattern_within(new, old)) {
        (true, true) => Rel::Same,
        (true, false) => Rel::Up,
        (false, true) => Rel::Down,
        (false, false) => Rel::Unknown,
    }
}

/// How a new set relates to an old one when more members mean "more": `Up` for a superset.
pub fn set_rel<T: PartialEq>(old: &[T], new: &[T]) -> Rel {
    let grew = new.iter().any(|x| !old.contains(x));
    let shrank = old.iter().any(|x| !new.contains(x));
    match (grew, shrank) {
        (false, false) => Rel::Same,
        (true, false) => Rel::Up,
        (false, true) => Rel::Down,
        (true, true) => Rel::Unknown,
    }
}

/// A number the way the reader wrote it, near enough: base units without trailing noise.
pub fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn cmp_symbol(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

impl<'a> Compare<'a> {
    pub fn new(old: &'a Program, new: &'a Program) -> Compare<'a> {
        Compare {
            old,
            new,
            notes: Vec::new(),
            steps: 0,
        }
    }

    fn same_signal(&self, a: u32, b: u32) -> bool {
        self.old.signals[a as usize].name == self.new.signals[b as usize].name
    }

    fn same_class(&self, a: u32, b: u32) -> bool {
        self.old.classes[a as usize].name == self.new.classes[b as usize].name
    }

    fn same_tag(&self, a: u32, b: u32) -> bool {
        self.old.tags[a as usize] == self.new.tags[b as usize]
    }

    fn note(&mut self, s: String) {
        if !self.notes.contains(&s) {
            self.notes.push(s);
        }
    }

    fn sign(p: &Program, id: NodeId) -> Sign {
        let unsigned = |slot: u32| {
            matches!(
                p.signals[slot as usize].ty,
                SignalType::Count | SignalType::Ratio | SignalType::Duration
            )
        };
        match p.node(id) {
            Node::Num(x) if *x >= 0.0 => Sign::NonNegative,
            Node::Samples(_) | Node::Age(_) => Sign::NonNegative,
            Node::Signal(s) | Node::Baseline(s) if unsigned(*s) => Sign::NonNegative,
            Node::Window { slot, .. } if unsigned(*slot) => Sign::NonNegative,
            Node::Field(crate::ir::Field::TrafficPercent | crate::ir::Field::CascadeDepth) => {
                Sign::NonNegative
            }
            Node::Arith(ArithOp::Add | ArithOp::Mul | ArithOp::Div, a, b)
                if Self::sign(p, *a) == Sign::NonNegative
                    && Self::sign(p, *b) == Sign::NonNegative =>
            {
                Sign::NonNegative
            }
            _ => Sign::Unknown,
        }
    }

    /// Both programs agree that the node is not negative.
    fn non_negative(&self, o: NodeId, n: NodeId) -> bool {
        Self::sign(self.old, o) == Sign::NonNegative && Self::sign(self.new, n) == Sign::NonNegative
    }

    /// The relation of new node `n` to old node `o`.
    pub fn rel(&mut self, o: NodeId, n: NodeId) -> Rel {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Rel::Unknown;
        }
        let (on, nn) = (self.old.node(o).clone(), self.new.node(n).clone());
        let len = self.notes.len();
        if let Some(r) = self.same_variant(&on, &nn) {
            if r != Rel::Unknown {
                return r;
            }
        }
        let r = self.joined_or_dropped(o, n, &on, &nn);
        if r != Rel::Unknown {
            // The part-by-part comparison that failed does not explain this change.
            self.notes.truncate(len);
        }
        r
    }

    fn joined_or_dropped(&mut self, o: NodeId, n: NodeId, on: &Node, nn: &Node) -> Rel {
        // A condition joined to, or dropped from, the old one: `a` → `a and b` is true for fewer
        // snapshots; `a or b` → `a` too.
        match (on, nn) {
            (_, Node::And(x, _)) if self.quiet(|c| c.rel(o, *x)).at_most(Rel::Down) => {
                return Rel::Down;
            }
            (_, Node::And(_, y)) if self.quiet(|c| c.rel(o, *y)).at_most(Rel::Down) => {
                return Rel::Down;
            }
            (_, Node::Or(x, _)) if self.quiet(|c| c.rel(o, *x)).at_most(Rel::Up) => {
                return Rel::Up;
            }
            (_, Node::Or(_, y)) if self.quiet(|c| c.rel(o, *y)).at_most(Rel::Up) => {
                return Rel::Up;
            }
            (Node::And(x, _), _) if self.quiet(|c| c.rel(*x, n)).at_most(Rel::Up) => {
                return Rel::Up;
            }
            (Node::And(_, y), _) if self.quiet(|c| c.rel(*y, n)).at_most(Rel::Up) => {
                return Rel::Up;
            }
            (Node::Or(x, _), _) if self.quiet(|c| c.rel(*x, n)).at_most(Rel::Down) => {
                return Rel::Down;
            }
            (Node::Or(_, y), _) if self.quiet(|c| c.rel(*y, n)).at_most(Rel::Down) => {
                return Rel::Down;
            }
            _ => {}
        }
        Rel::Unknown
    }

    /// Runs a trial comparison whose notes are dropped: only the comparison that is kept
    /// explains the change.
    fn quiet(&mut self, f: impl FnOnce(&mut Self) -> Rel) -> Rel {
        let len = self.notes.len();
        let r = f(self);
        self.notes.truncate(len);
        r
    }

    /// The relation when both nodes are of one kind; `None` when they are not.
    fn same_variant(&mut self, on: &Node, nn: &Node) -> Option<Rel> {
        use Node as N;
        let same = |b: bool| if b { Rel::Same } else { Rel::Unknown };
        Some(match (on, nn) {
            (N::Bool(a), N::Bool(b)) => match (a, b) {
                _ if a == b => Rel::Same,
                (false, true) => Rel::Up,
                _ => Rel::Down,
            },
            (N::Num(a), N::Num(b)) => {
                if a == b {
                    Rel::Same
                } else {
                    self.note(format!("{} → {}", number(*a), number(*b)));
                    if b > a {
                        Rel::Up
                    } else {
                        Rel::Down
                    }
                }
            }
            (N::Str(a), N::Str(b)) => same(a == b),
            (N::Signal(a), N::Signal(b))
            | (N::Baseline(a), N::Baseline(b))
            | (N::Samples(a), N::Samples(b))
            | (N::Delta(a), N::Delta(b))
            | (N::Age(a), N::Age(b))
            | (N::HasSignal(a), N::HasSignal(b)) => same(self.same_signal(*a, *b)),
            (
                N::Window { f, slot, secs },
                N::Window {
                    f: g,
                    slot: s2,
                    secs: t,
                },
            ) => {
                if f != g || !self.same_signal(*slot, *s2) {
                    Rel::Unknown
                } else if secs == t {
                    Rel::Same
                } else {
                    // A longer aggregation window needs a point further back to be covered and
                    // reads more points: no direction follows from the lengths alone.
                    self.note(format!(
                        "over {} → {}",
                        crate::eval::machine::duration_literal(*secs),
                        crate::eval::machine::duration_literal(*t)
                    ));
                    Rel::Unknown
                }
            }
            (N::Fresh { slots, secs }, N::Fresh { slots: s2, secs: t }) => {
                let old_names: Vec<&str> = slots
                    .iter()
                    .map(|s| self.old.signals[*s as usize].name.as_str())
                    .collect();
                let new_names: Vec<&str> = s2
                    .iter()
                    .map(|s| self.new.signals[*s as usize].name.as_str())
                    .collect();
                // Fewer signals to be fresh, or a longer `within`: fresh more often.
                let by_signals = set_rel(&old_names, &new_names).flip();
                let by_time = if secs == t {
                    Rel::Same
                } else {
                    self.note(format!(
                        "within {} → {}",
                        crate::eval::machine::duration_literal(*secs),
                        crate::eval::machine::duration_literal(*t)
                    ));
                    if t > secs {
                        Rel::Up
                    } else {
                        Rel::Down
                    }
                };
                if by_signals != Rel::Same {
                    self.note(format!(
                        "fresh({}) → fresh({})",
                        old_names.join(", "),
                        new_names.join(", ")
                    ));
                }
                by_signals.join(by_time)
            }
            (N::HasField(a), N::HasField(b)) | (N::Field(a), N::Field(b)) => same(a == b),
            (N::HasLabel(a), N::HasLabel(b)) | (N::Label(a), N::Label(b)) => same(a == b),
            (N::ClassIs(a), N::ClassIs(b)) => same(self.same_class(*a, *b)),
            (N::ClassIrreversible, N::ClassIrreversible)
            | (N::ClassSecurityFix, N::ClassSecurityFix) => Rel::Same,
            (N::ClassTouches(a), N::ClassTouches(b)) => same(self.same_tag(*a, *b)),
            (N::PrincipalIs(a, p), N::PrincipalIs(b, q)) => {
                let inner = self.rel(*a, *b);
                if inner != Rel::Same {
                    return Some(Rel::Unknown);
                }
                let r = pattern_rel(p, q);
                if r != Rel::Same {
                    self.note(format!("is {} → is {}", p.describe(), q.describe()));
                }
                r
            }
            (N::Not(a), N::Not(b)) | (N::Neg(a), N::Neg(b)) => self.rel(*a, *b).flip(),
            (N::And(a, b), N::And(c, d)) | (N::Or(a, b), N::Or(c, d)) => {
                let left = self.rel(*a, *c);
                left.join(self.rel(*b, *d))
            }
            (N::Arith(op, a, b), N::Arith(op2, c, d)) if op == op2 => {
                let (ra, rb) = (self.rel(*a, *c), self.rel(*b, *d));
                match op {
                    ArithOp::Add => ra.join(rb),
                    ArithOp::Sub => ra.join(rb.flip()),
                    ArithOp::Mul => {
                        // Monotone in each factor only while the other is not negative.
                        let ra = if ra == Rel::Same || self.non_negative(*b, *d) {
                            ra
                        } else {
                            Rel::Unknown
                        };
                        let rb = if rb == Rel::Same || self.non_negative(*a, *c) {
                            rb
                        } else {
                            Rel::Unknown
                        };
                        ra.join(rb)
                    }
                    ArithOp::Div => {
                        let ra = if ra == Rel::Same || self.non_negative(*b, *d) {
                            ra
                        } else {
                            Rel::Unknown
                        };
                        let rb = if rb == Rel::Same
                            || (self.non_negative(*a, *c) && self.non_negative(*b, *d))
                        {
                            rb.flip()
                        } else {
                            Rel::Unknown
                        };
                        ra.join(rb)
                    }
                    ArithOp::Rem => same(ra == Rel::Same && rb == Rel::Same),
                }
            }
            (N::Cmp(op, a, b), N::Cmp(op2, c, d)) => {
                let (ra, rb) = (self.rel(*a, *c), self.rel(*b, *d));
                let by_op = if op == op2 {
                    Rel::Same
                } else {
                    self.note(format!("{} → {}", cmp_symbol(*op), cmp_symbol(*op2)));
                    match (op, op2) {
                        (CmpOp::Gt, CmpOp::Ge) | (CmpOp::Lt, CmpOp::Le) => Rel::Up,
                        (CmpOp::Ge, CmpOp::Gt) | (CmpOp::Le, CmpOp::Lt) => Rel::Down,
                        _ => Rel::Unknown,
                    }
                };
                let by_operands = match op2 {
                    CmpOp::Gt | CmpOp::Ge if matches!(op, CmpOp::Gt | CmpOp::Ge) => {
                        ra.join(rb.flip())
                    }
                    CmpOp::Lt | CmpOp::Le if matches!(op, CmpOp::Lt | CmpOp::Le) => {
                        ra.flip().join(rb)
                    }
                    _ => same(ra == Rel::Same && rb == Rel::Same),
                };
                by_op.join(by_operands)
            }
            (N::List(a), N::List(b)) => self.list(a, b),
            (N::InList(a, xs), N::InList(b, ys)) => {
                if self.rel(*a, *b) != Rel::Same {
                    return Some(Rel::Unknown);
                }
                self.list(xs, ys)
            }
            (N::InLabels(a), N::InLabels(b)) => same(self.rel(*a, *b) == Rel::Same),
            (N::Cond(c, a, b), N::Cond(d, x, y)) => {
                if self.rel(*c, *d) != Rel::Same {
                    return Some(Rel::Unknown);
                }
                let left = self.rel(*a, *x);
                left.join(self.rel(*b, *y))
            }
            (N::Cel(a), N::Cel(b)) => same(self.old.cel[*a as usize] == self.new.cel[*b as usize]),
            _ => return None,
        })
    }

    /// A list of constants compared as a set (membership widens with more members); any other
    /// list must be unchanged item by item.
    fn list(&mut self, xs: &[NodeId], ys: &[NodeId]) -> Rel {
        let constants = |p: &Program, ids: &[NodeId]| -> Option<Vec<String>> {
            ids.iter()
                .map(|i| match p.node(*i) {
                    Node::Str(s) => Some(crate::syntax::print::quote(s)),
                    Node::Num(x) => Some(number(*x)),
                    Node::Bool(b) => Some(b.to_string()),
                    _ => None,
                })
                .collect()
        };
        if let (Some(a), Some(b)) = (constants(self.old, xs), constants(self.new, ys)) {
            let r = set_rel(&a, &b);
            if r != Rel::Same {
                self.note(format!("[{}] → [{}]", a.join(", "), b.join(", ")));
            }
            return r;
        }
        if xs.len() != ys.len() {
            return Rel::Unknown;
        }
        let mut r = Rel::Same;
        for (x, y) in xs.iter().zip(ys) {
            if self.rel(*x, *y) != Rel::Same {
                r = Rel::Unknown;
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::NoFiles;
    use crate::{compile, SetFile};

    /// The relation of the `when` of rule `r` in two versions of one policy.
    fn when_rel(old: &str, new: &str) -> Rel {
        let program = |cond: &str| {
            let text = format!(
                "signal x: ratio = \"x\"\nsignal y: number = \"y\"\nsignal e: string = \"e\"\npolicy p {{\n  halt r when {cond}\n}}\n"
            );
            let c = compile(
                &[SetFile {
                    name: "p.rollguard".into(),
                    path: "p.rollguard".into(),
                    text,
                }],
                &NoFiles,
            );
            c.compiled.expect("compiles").program().clone()
        };
        let (a, b) = (program(old), program(new));
        Compare::new(&a, &b).rel(a.policies[0].rules[0].when, b.policies[0].rules[0].when)
    }

    #[test]
    fn the_side_of_the_signal_decides_the_direction() {
        assert_eq!(when_rel("x > 1%", "x > 2%"), Rel::Down);
        assert_eq!(when_rel("1% < x", "2% < x"), Rel::Down);
        assert_eq!(when_rel("2% < x", "1% < x"), Rel::Up);
        assert_eq!(when_rel("x < 1%", "x < 2%"), Rel::Up);
        assert_eq!(
            when_rel("x > 2 * baseline(x)", "x > 1.5 * baseline(x)"),
            Rel::Up
        );
        assert_eq!(when_rel("x > 1%", "x >= 1%"), Rel::Up);
        assert_eq!(when_rel("x == 1%", "x == 2%"), Rel::Unknown);
    }

    #[test]
    fn a_factor_of_unknown_sign_gives_no_direction() {
        assert_eq!(when_rel("y > 2 * y", "y > 3 * y"), Rel::Unknown);
        assert_eq!(
            when_rel("x > 2 * baseline(x)", "x > 3 * baseline(x)"),
            Rel::Down
        );
    }

    #[test]
    fn conjuncts_lists_and_opposite_moves() {
        assert_eq!(when_rel("x > 1%", "x > 1% and y > 2"), Rel::Down);
        assert_eq!(when_rel("x > 1% and y > 2", "x > 1%"), Rel::Up);
        assert_eq!(when_rel("x > 1%", "x > 1% or y > 2"), Rel::Up);
        assert_eq!(when_rel("e in [\"a\"]", "e in [\"a\", \"b\"]"), Rel::Up);
        assert_eq!(
            when_rel("x > 1% and y > 2", "x > 2% and y > 1"),
            Rel::Unknown
        );
        assert_eq!(when_rel("not x > 1%", "not x > 2%"), Rel::Up);
        assert_eq!(
            when_rel("max(x) over 5m > 1%", "max(x) over 10m > 1%"),
            Rel::Unknown
        );
    }
}
