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

/// `n * mul / div` for a decimal literal `n`, computed on its digits so that the result is the
/// double nearest the exact value: `0.7%` equals a snapshot's `0.007`, `256.6m` is 15396 s.
/// (`0.7 / 100.0` would be 0.006999999999999999.)
pub fn exact(n: f64, mul: u64, div: u64) -> f64 {
    let fallback = n * mul as f64 / div as f64;
    // Rust prints a double as the shortest decimal that reads back as it: the literal's digits.
    let text = format!("{n}");
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let digits = format!("{int}{frac}");
    let (Ok(m), Some(scale)) = (
        digits.parse::<u128>(),
        10u128.checked_pow(frac.len() as u32),
    ) else {
        return fallback;
    };
    let (num, den) = (m * mul as u128, scale * div as u128);
    const EXACT: u128 = 1 << 53;
    if num < EXACT && den < EXACT {
        // Both exact in a double: one correctly rounded division.
        num as f64 / den as f64
    } else {
        fallback
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

    #[test]
    fn unit_literals_equal_the_snapshot_values_written_with_the_same_digits() {
        assert_eq!(exact(0.7, 1, 100), 0.007);
        assert_eq!(exact(700.0, 1, 1000), 0.7);
        assert_eq!(exact(2609.7, 1, 1000), 2.6097);
        assert_eq!(exact(256.6, 60, 1), 15396.0);
        assert_eq!(exact(1.5, 3600, 1), 5400.0);
    }
}
