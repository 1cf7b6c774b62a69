//! Mesos resource values: fixed-point scalars, port-style ranges and sets, and
//! the text syntax a single value is written in (`4`, `[31000-32000]`, `{a,b}`).
//!
//! # Scalars
//! Mesos computes with scalars in a fixed-point representation that keeps
//! three decimal digits: every operand is rounded to the nearest thousandth
//! (`llround(v * 1000)`) before it is compared, added or subtracted. [`Scalar`]
//! stores that integer directly, so arithmetic is exact and associative here,
//! while producing the same results as Mesos for every input.
//!
//! # Ranges
//! [`Ranges`] keeps its intervals sorted and coalesced (overlapping and
//! adjacent intervals merged), which is the normal form Mesos brings ranges to
//! whenever it adds them. Subtraction, containment and equality are the set
//! operations on the integers covered.
//!
//! # Sets
//! [`Set`] keeps items in insertion order (Mesos writes them back in that
//! order); adding skips items already present, subtracting removes them.

use std::fmt;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::proto::mesos::value as pb;

/// A scalar value in thousandths (Mesos's fixed-point representation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scalar(i64);

impl Scalar {
    /// Zero.
    pub const ZERO: Scalar = Scalar(0);

    /// Rounds a floating-point value to the nearest thousandth, half away
    /// from zero, as Mesos's `convertToFixed` does. Out-of-range values
    /// saturate; NaN becomes zero.
    pub fn from_f64(value: f64) -> Scalar {
        Scalar((value * 1000.0).round() as i64)
    }

    /// A scalar from its fixed-point representation (thousandths).
    pub const fn from_milli(milli: i64) -> Scalar {
        Scalar(milli)
    }

    /// A whole number.
    pub const fn from_int(value: i64) -> Scalar {
        Scalar(value.saturating_mul(1000))
    }

    /// The fixed-point representation (thousandths).
    pub const fn milli(self) -> i64 {
        self.0
    }

    /// The value as a double, converted the way Mesos's `convertToFloating`
    /// does (integer part plus a remainder in `[0, 0.999]`), so that `0.1`
    /// round-trips to exactly the double `0.1`.
    pub fn to_f64(self) -> f64 {
        (self.0 / 1000) as f64 + (self.0 % 1000) as f64 / 1000.0
    }

    /// True for zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// True for a value below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// `self - other`, but never below zero.
    pub fn saturating_sub_to_zero(self, other: Scalar) -> Scalar {
        Scalar(self.0.saturating_sub(other.0).max(0))
    }

    /// The protobuf form.
    pub fn to_proto(self) -> pb::Scalar {
        pb::Scalar { value: self.to_f64() }
    }

    /// From the protobuf form (rounded to thousandths).
    pub fn from_proto(scalar: &pb::Scalar) -> Scalar {
        Scalar::from_f64(scalar.value)
    }
}

impl fmt::Display for Scalar {
    /// Writes the value as Mesos does (`std::ostream` with 15 significant
    /// digits): `4`, `0.5`, `1024`, `0.001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let negative = self.0 < 0;
        let abs = self.0.unsigned_abs();
        let (int, frac) = (abs / 1000, abs % 1000);
        if negative {
            f.write_str("-")?;
        }
        if int >= 1_000_000_000_000_000 {
            // Beyond 15 significant digits ostream switches to exponent form.
            return write!(f, "{:e}", abs as f64 / 1000.0);
        }
        write!(f, "{int}")?;
        if frac != 0 {
            let digits = format!("{frac:03}");
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        Ok(())
    }
}

impl std::ops::Add for Scalar {
    type Output = Scalar;
    fn add(self, rhs: Scalar) -> Scalar {
        Scalar(self.0.saturating_add(rhs.0))
    }
}

impl std::ops::Sub for Scalar {
    type Output = Scalar;
    fn sub(self, rhs: Scalar) -> Scalar {
        Scalar(self.0.saturating_sub(rhs.0))
    }
}

impl std::ops::AddAssign for Scalar {
    fn add_assign(&mut self, rhs: Scalar) {
        *self = *self + rhs;
    }
}

impl std::ops::SubAssign for Scalar {
    fn sub_assign(&mut self, rhs: Scalar) {
        *self = *self - rhs;
    }
}

impl std::iter::Sum for Scalar {
    fn sum<I: Iterator<Item = Scalar>>(iter: I) -> Scalar {
        iter.fold(Scalar::ZERO, |a, b| a + b)
    }
}

/// An inclusive interval `[begin, end]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Range {
    /// First value in the interval.
    pub begin: u64,
    /// Last value in the interval (inclusive).
    pub end: u64,
}

impl Range {
    /// `[begin, end]`; callers keep `begin <= end`.
    pub const fn new(begin: u64, end: u64) -> Range {
        Range { begin, end }
    }

    /// How many integers the interval covers.
    pub fn count(&self) -> u128 {
        u128::from(self.end - self.begin) + 1
    }
}

/// A set of non-negative integers kept as sorted, coalesced intervals.
/// The intervals are shared (copying ranges costs a reference count; no
/// interval at all costs nothing); arithmetic builds new ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ranges(Option<Arc<[Range]>>);

/// Scratch space for building intervals without touching the heap.
type Scratch = SmallVec<[Range; 8]>;

impl Ranges {
    /// No intervals.
    pub const fn new() -> Ranges {
        Ranges(None)
    }

    fn from_slice(intervals: &[Range]) -> Ranges {
        if intervals.is_empty() {
            Ranges(None)
        } else {
            Ranges(Some(Arc::from(intervals)))
        }
    }

    /// Normalises any list of intervals (in any order, overlapping or not).
    /// Inverted intervals (`begin > end`) are dropped; validation reports them
    /// before values get here.
    pub fn from_intervals<I: IntoIterator<Item = Range>>(intervals: I) -> Ranges {
        let mut v: Scratch = intervals.into_iter().filter(|r| r.begin <= r.end).collect();
        let n = coalesce(&mut v);
        Ranges::from_slice(&v[..n])
    }

    /// From the protobuf form.
    pub fn from_proto(ranges: &pb::Ranges) -> Ranges {
        Ranges::from_intervals(ranges.range.iter().map(|r| Range::new(r.begin, r.end)))
    }

    /// The protobuf form.
    pub fn to_proto(&self) -> pb::Ranges {
        pb::Ranges { range: self.intervals().iter().map(|r| pb::Range { begin: r.begin, end: r.end }).collect() }
    }

    /// The intervals, sorted and coalesced.
    pub fn intervals(&self) -> &[Range] {
        self.0.as_deref().unwrap_or(&[])
    }

    /// True when no integer is covered.
    pub fn is_empty(&self) -> bool {
        self.intervals().is_empty()
    }

    /// How many integers are covered (`[1-5]` covers 5).
    pub fn count(&self) -> u128 {
        self.intervals().iter().map(Range::count).sum()
    }

    /// True if every integer of `other` is covered by `self`.
    pub fn contains(&self, other: &Ranges) -> bool {
        // Both sides are sorted and coalesced: every interval of `other` must
        // sit inside a single interval of `self`.
        let mine = self.intervals();
        let mut i = 0;
        for r in other.intervals() {
            while i < mine.len() && mine[i].end < r.begin {
                i += 1;
            }
            match mine.get(i) {
                Some(s) if s.begin <= r.begin && r.end <= s.end => {}
                _ => return false,
            }
        }
        true
    }

    /// True if `value` is covered.
    pub fn contains_value(&self, value: u64) -> bool {
        let mine = self.intervals();
        let idx = mine.partition_point(|r| r.end < value);
        mine.get(idx).is_some_and(|r| r.begin <= value)
    }

    /// Union.
    pub fn add(&mut self, other: &Ranges) {
        if other.is_empty() {
            return;
        }
        if self.is_empty() {
            self.0 = other.0.clone();
            return;
        }
        let mut v: Scratch = self.intervals().iter().chain(other.intervals()).copied().collect();
        let n = coalesce(&mut v);
        *self = Ranges::from_slice(&v[..n]);
    }

    /// Difference: removes every integer of `other`.
    pub fn subtract(&mut self, other: &Ranges) {
        if self.is_empty() || other.is_empty() {
            return;
        }
        let theirs = other.intervals();
        let mut out = Scratch::new();
        let mut j = 0;
        for &l in self.intervals() {
            let mut cur = l;
            let mut alive = true;
            while j < theirs.len() && theirs[j].end < cur.begin {
                j += 1;
            }
            let mut k = j;
            while alive && k < theirs.len() && theirs[k].begin <= cur.end {
                let r = theirs[k];
                if r.begin > cur.begin {
                    out.push(Range::new(cur.begin, r.begin - 1));
                }
                if r.end >= cur.end {
                    alive = false;
                } else {
                    cur.begin = r.end + 1;
                    k += 1;
                }
            }
            if alive {
                out.push(cur);
            }
        }
        *self = Ranges::from_slice(&out);
    }
}

/// Sorts and merges overlapping or adjacent intervals in place; returns how
/// many intervals remain at the front.
fn coalesce(v: &mut [Range]) -> usize {
    if v.len() <= 1 {
        return v.len();
    }
    v.sort_unstable();
    let mut w = 0;
    for i in 1..v.len() {
        let r = v[i];
        let cur = &mut v[w];
        if r.begin <= cur.end.saturating_add(1) {
            cur.end = cur.end.max(r.end);
        } else {
            w += 1;
            v[w] = r;
        }
    }
    w + 1
}

impl fmt::Display for Ranges {
    /// `[31000-32000, 33000-34000]`, as Mesos writes ranges.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, r) in self.intervals().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}-{}", r.begin, r.end)?;
        }
        f.write_str("]")
    }
}

/// A set of strings in insertion order.
#[derive(Clone, Debug, Default)]
pub struct Set(Vec<String>);

impl Set {
    /// The empty set.
    pub const fn new() -> Set {
        Set(Vec::new())
    }

    /// From items in order; duplicates are kept (validation rejects them).
    pub fn from_items<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Set {
        Set(items.into_iter().map(Into::into).collect())
    }

    /// From the protobuf form.
    pub fn from_proto(set: &pb::Set) -> Set {
        Set(set.item.clone())
    }

    /// The protobuf form.
    pub fn to_proto(&self) -> pb::Set {
        pb::Set { item: self.0.clone() }
    }

    /// The items in order.
    pub fn items(&self) -> &[String] {
        &self.0
    }

    /// True when there is no item.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if every item of `other` is in `self`.
    pub fn contains(&self, other: &Set) -> bool {
        other.0.len() <= self.0.len() && other.0.iter().all(|i| self.0.contains(i))
    }

    /// Adds the items of `other` not already present, in order.
    pub fn add(&mut self, other: &Set) {
        for item in &other.0 {
            if !self.0.contains(item) {
                self.0.push(item.clone());
            }
        }
    }

    /// Removes the items of `other`.
    pub fn subtract(&mut self, other: &Set) {
        self.0.retain(|i| !other.0.contains(i));
    }
}

impl PartialEq for Set {
    /// Same items regardless of order. (Mesos's own `operator==` compares
    /// item `i` of the right side against itself, a bug that makes any two
    /// sets of equal size "equal"; we compare what it meant to compare.)
    fn eq(&self, other: &Set) -> bool {
        self.0.len() == other.0.len() && self.contains(other)
    }
}

impl Eq for Set {}

impl fmt::Display for Set {
    /// `{a, b}`, as Mesos writes sets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(item)?;
        }
        f.write_str("}")
    }
}

/// A parsed value, as Mesos's `values::parse` classifies text.
#[derive(Clone, Debug, PartialEq)]
pub enum ParsedValue {
    /// A finite, non-negative number.
    Scalar(f64),
    /// `[a-b, c-d]`.
    Ranges(Ranges),
    /// `{x, y}`.
    Set(Set),
    /// Anything else that is not an error (e.g. `abc`).
    Text(String),
}

/// Why text is not a value. The messages are Mesos's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Only spaces, or nothing.
    #[error("Expecting non-empty string")]
    Empty,
    /// Unbalanced `{}`, `[]` or `()`.
    #[error("Mismatched brackets")]
    MismatchedBrackets,
    /// An odd number of range bounds.
    #[error("Expecting one or more \"ranges\"")]
    RangesCount,
    /// A range bound that is not a non-negative integer.
    #[error("Expecting non-negative integers in '{0}'")]
    RangeBound(String),
    /// A number Mesos refuses (infinite, NaN, subnormal, negative).
    #[error("Invalid scalar value '{text}':{reason}")]
    Scalar {
        /// The text after removing spaces.
        text: String,
        /// Mesos's reason, e.g. `Negative values not supported`.
        reason: String,
    },
    /// `{` somewhere other than the start.
    #[error("Unexpected '{{' found")]
    UnexpectedBrace,
    /// `[` somewhere other than the start.
    #[error("Unexpected '[' found")]
    UnexpectedBracket,
}

/// Splits on any of `delims`, dropping empty tokens (stout's `tokenize`).
pub(crate) fn tokenize<'a>(s: &'a str, delims: &'a [char]) -> impl Iterator<Item = &'a str> + 'a {
    s.split(move |c: char| delims.contains(&c)).filter(|t| !t.is_empty())
}

/// stout's `strings::trim` with its default whitespace set.
pub(crate) fn trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r'])
}

fn brackets_match(s: &str, open: char, close: char) -> bool {
    let mut depth: i64 = 0;
    for c in s.chars() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

/// stout's `numify<uint64_t>`: decimal (optionally `+`-signed) or `0x` hex.
fn parse_u64(token: &str) -> Option<u64> {
    if let Some(hex) = token.strip_prefix("0x").or_else(|| token.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok();
    }
    let digits = token.strip_prefix('+').unwrap_or(token);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// stout's `numify<double>` (boost `lexical_cast` plus integer hex).
pub(crate) fn parse_f64(token: &str) -> Option<f64> {
    let lower = token.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if let Some(hex) = unsigned.strip_prefix("0x") {
        if hex.contains('.') || hex.contains('p') {
            return None;
        }
        let v = u64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if lower.starts_with('-') { -v } else { v });
    }
    // Rust accepts a few spellings boost does not ("infinity" is accepted by
    // both); everything numeric Mesos accepts parses here.
    token.parse::<f64>().ok()
}

/// Checks a parsed number as Mesos 1.11 does before using it as a scalar.
pub fn validate_scalar_input(value: f64) -> Result<(), &'static str> {
    if value.is_infinite() {
        Err("Infinite values not supported")
    } else if value.is_nan() {
        Err("NaN not supported")
    } else if value.is_subnormal() {
        Err("Subnormal values not supported")
    } else if value < 0.0 {
        Err("Negative values not supported")
    } else {
        Ok(())
    }
}

/// Parses one value the way Mesos's `values::parse` does: spaces are removed;
/// a leading `[` makes ranges, a leading `{` a set; a number is a scalar;
/// anything else is text.
pub fn parse(text: &str) -> Result<ParsedValue, ValueError> {
    let temp: String = text.chars().filter(|&c| c != ' ').collect();
    if temp.is_empty() {
        return Err(ValueError::Empty);
    }
    if !brackets_match(&temp, '{', '}') || !brackets_match(&temp, '[', ']') || !brackets_match(&temp, '(', ')') {
        return Err(ValueError::MismatchedBrackets);
    }
    match temp.find('[') {
        Some(0) => {
            let tokens: Vec<&str> = tokenize(&temp, &['[', ']', '-', ',', '\n']).collect();
            if tokens.len() % 2 != 0 {
                return Err(ValueError::RangesCount);
            }
            let mut intervals = Vec::with_capacity(tokens.len() / 2);
            for pair in tokens.chunks(2) {
                match (parse_u64(pair[0]), parse_u64(pair[1])) {
                    (Some(b), Some(e)) => intervals.push(Range::new(b, e)),
                    _ => return Err(ValueError::RangeBound(pair[0].to_string())),
                }
            }
            // Mesos coalesces without dropping inverted intervals; keep them
            // so that validation can report "begin > end".
            Ok(ParsedValue::Ranges(Ranges::from_raw_unchecked(intervals)))
        }
        Some(_) => Err(ValueError::UnexpectedBracket),
        None => match temp.find('{') {
            Some(0) => Ok(ParsedValue::Set(Set::from_items(tokenize(&temp, &['{', '}', ',', '\n'])))),
            Some(_) => Err(ValueError::UnexpectedBrace),
            None => match parse_f64(&temp) {
                Some(v) => match validate_scalar_input(v) {
                    Ok(()) => Ok(ParsedValue::Scalar(v)),
                    Err(reason) => Err(ValueError::Scalar { text: temp, reason: reason.to_string() }),
                },
                None => Ok(ParsedValue::Text(temp)),
            },
        },
    }
}

impl Ranges {
    /// Keeps intervals as given apart from sorting and merging the valid ones;
    /// inverted intervals survive so that validation can reject them.
    fn from_raw_unchecked(intervals: Vec<Range>) -> Ranges {
        let (mut valid, inverted): (Vec<Range>, Vec<Range>) = intervals.into_iter().partition(|r| r.begin <= r.end);
        let n = coalesce(&mut valid);
        valid.truncate(n);
        valid.extend(inverted);
        Ranges::from_slice(&valid)
    }

    /// True if some interval has `begin > end` (only possible for ranges
    /// fresh from [`parse`]).
    pub fn has_inverted(&self) -> bool {
        self.intervals().iter().any(|r| r.begin > r.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(v: &[(u64, u64)]) -> Ranges {
        Ranges::from_intervals(v.iter().map(|&(b, e)| Range::new(b, e)))
    }

    #[test]
    fn scalar_rounds_to_thousandths_like_mesos() {
        assert_eq!(Scalar::from_f64(0.0004), Scalar::ZERO);
        assert_eq!(Scalar::from_f64(0.0005).milli(), 1);
        assert_eq!(Scalar::from_f64(1.2345).milli(), 1235);
        assert_eq!(Scalar::from_f64(0.1) + Scalar::from_f64(0.2), Scalar::from_f64(0.3));
        assert_eq!(Scalar::from_f64(0.1).to_f64(), 0.1);
        assert_eq!((Scalar::from_f64(0.3) - Scalar::from_f64(0.1)).to_f64(), 0.2);
    }

    #[test]
    fn scalar_display_matches_ostream() {
        assert_eq!(Scalar::from_f64(4.0).to_string(), "4");
        assert_eq!(Scalar::from_f64(0.5).to_string(), "0.5");
        assert_eq!(Scalar::from_f64(1024.25).to_string(), "1024.25");
        assert_eq!(Scalar::from_f64(0.001).to_string(), "0.001");
        assert_eq!(Scalar::from_f64(-1.5).to_string(), "-1.5");
    }

    #[test]
    fn ranges_coalesce_overlapping_and_adjacent() {
        let r = ranges(&[(5, 6), (1, 2), (3, 4), (10, 20), (15, 25)]);
        assert_eq!(r.intervals(), &[Range::new(1, 6), Range::new(10, 25)]);
        assert_eq!(r.to_string(), "[1-6, 10-25]");
        assert_eq!(r.count(), 6 + 16);
    }

    #[test]
    fn ranges_subtract_splits_intervals() {
        let mut r = ranges(&[(1, 10), (20, 30)]);
        r.subtract(&ranges(&[(3, 4), (8, 22), (30, 40)]));
        assert_eq!(r.intervals(), &[Range::new(1, 2), Range::new(5, 7), Range::new(23, 29)]);
        let mut all = ranges(&[(0, u64::MAX)]);
        all.subtract(&ranges(&[(0, u64::MAX)]));
        assert!(all.is_empty());
    }

    #[test]
    fn ranges_contains_is_subset() {
        let r = ranges(&[(1, 10), (20, 30)]);
        assert!(r.contains(&ranges(&[(2, 3), (20, 30)])));
        assert!(!r.contains(&ranges(&[(9, 21)])));
        assert!(r.contains(&Ranges::new()));
        assert!(r.contains_value(25) && !r.contains_value(15));
    }

    #[test]
    fn set_arithmetic_keeps_order_and_skips_duplicates() {
        let mut s = Set::from_items(["a", "b"]);
        s.add(&Set::from_items(["b", "c"]));
        assert_eq!(s.to_string(), "{a, b, c}");
        s.subtract(&Set::from_items(["a", "z"]));
        assert_eq!(s.items(), &["b".to_string(), "c".to_string()]);
        assert_eq!(Set::from_items(["x", "y"]), Set::from_items(["y", "x"]));
        assert_ne!(Set::from_items(["x", "y"]), Set::from_items(["x", "z"]));
    }

    #[test]
    fn parse_classifies_like_mesos() {
        assert_eq!(parse(" 4 ").unwrap(), ParsedValue::Scalar(4.0));
        assert_eq!(parse("1e3").unwrap(), ParsedValue::Scalar(1000.0));
        assert_eq!(parse("[1-2, 3-4]").unwrap(), ParsedValue::Ranges(ranges(&[(1, 4)])));
        assert_eq!(parse("[]").unwrap(), ParsedValue::Ranges(Ranges::new()));
        assert_eq!(parse("{a, b}").unwrap(), ParsedValue::Set(Set::from_items(["a", "b"])));
        assert_eq!(parse("abc").unwrap(), ParsedValue::Text("abc".into()));
        assert_eq!(parse("0x10").unwrap(), ParsedValue::Scalar(16.0));
    }

    #[test]
    fn parse_errors_carry_mesos_messages() {
        let err = |s: &str| parse(s).unwrap_err().to_string();
        assert_eq!(err("  "), "Expecting non-empty string");
        assert_eq!(err("[1-2"), "Mismatched brackets");
        assert_eq!(err("[1-2-3]"), "Expecting one or more \"ranges\"");
        assert_eq!(err("[a-b]"), "Expecting non-negative integers in 'a'");
        assert_eq!(err("a[1-2]"), "Unexpected '[' found");
        assert_eq!(err("a{b}"), "Unexpected '{' found");
        assert_eq!(err("-1"), "Invalid scalar value '-1':Negative values not supported");
        assert_eq!(err("inf"), "Invalid scalar value 'inf':Infinite values not supported");
        assert_eq!(err("nan"), "Invalid scalar value 'nan':NaN not supported");
    }

    #[test]
    fn parse_keeps_inverted_ranges_for_validation() {
        match parse("[5-1]").unwrap() {
            ParsedValue::Ranges(r) => assert!(r.has_inverted()),
            other => panic!("{other:?}"),
        }
    }
}
