//! Arithmetic and comparison on numbers, shared by constant folding and the evaluator so that a
//! folded constant always equals what evaluation would have computed.

use super::{ArithOp, CmpOp};

/// `None` for a division or remainder by zero (the evaluator reports `division by zero`).
pub fn arith(op: ArithOp, a: f64, b: f64) -> Option<f64> {
    match op {
        ArithOp::Add => Some(a + b),
        ArithOp::Sub => Some(a - b),
        ArithOp::Mul => Some(a * b),
        ArithOp::Div if b == 0.0 => None,
        ArithOp::Div => Some(a / b),
        ArithOp::Rem if b == 0.0 => None,
        ArithOp::Rem => Some(a % b),
    }
}

pub fn compare<T: PartialOrd + ?Sized>(op: CmpOp, a: &T, b: &T) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_by_zero_has_no_value() {
        assert_eq!(arith(ArithOp::Div, 1.0, 0.0), None);
        assert_eq!(arith(ArithOp::Rem, 1.0, 0.0), None);
        assert_eq!(arith(ArithOp::Div, 1.0, 4.0), Some(0.25));
    }

    #[test]
    fn comparisons() {
        assert!(compare(CmpOp::Ge, &2.0, &2.0));
        assert!(!compare(CmpOp::Gt, &2.0, &2.0));
        assert!(compare(CmpOp::Lt, "a", "b"));
    }
}
