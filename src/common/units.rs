//! Mesos's textual units: durations (`5secs`, `1.5mins`) and byte sizes (`512MB`).
//!
//! Operators write these in flags and read them back on `/flags`, so both
//! directions follow stout: parsing accepts `<number><unit>` with the units stout
//! knows, and formatting picks the largest unit that still gives a whole number
//! (so `90secs` prints as `90secs`, `60secs` as `1mins`, `1.5secs` as `1500ms`).

use std::fmt;
use std::time::Duration;

/// A unit suffix was unknown or the number did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(pub String);

const NS: u128 = 1;
const US: u128 = 1_000;
const MS: u128 = 1_000_000;
const SECS: u128 = 1_000_000_000;
const MINS: u128 = 60 * SECS;
const HRS: u128 = 60 * MINS;
const DAYS: u128 = 24 * HRS;
const WEEKS: u128 = 7 * DAYS;

/// Parses a stout duration: digits and dots, then one of
/// `ns us ms secs mins hrs days weeks`.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| UnitError(format!("Invalid duration '{text}'")))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| UnitError(format!("Failed to convert '{number}' to number")))?;
    let factor = match unit {
        "ns" => NS,
        "us" => US,
        "ms" => MS,
        "secs" => SECS,
        "mins" => MINS,
        "hrs" => HRS,
        "days" => DAYS,
        "weeks" => WEEKS,
        _ => {
            return Err(UnitError(format!(
                "Unknown duration unit '{unit}'; supported units are 'ns', 'us', 'ms', \
                 'secs', 'mins', 'hrs', 'days', and 'weeks'"
            )))
        }
    };
    let nanos = value * factor as f64;
    if !nanos.is_finite() || nanos > i64::MAX as f64 {
        return Err(UnitError(
            "Argument out of the range that a Duration can represent due to int64_t's size limit".into(),
        ));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// Formats a duration as stout prints it.
pub fn format_duration(d: Duration) -> String {
    let n = d.as_nanos();
    // Bucket by magnitude, then step down one unit when the bucket's unit would
    // need a fraction but the next one down is whole (stout's rule).
    let (unit, name, lower, lower_name) = if n < US {
        (NS, "ns", NS, "ns")
    } else if n < MS {
        (US, "us", NS, "ns")
    } else if n < SECS {
        (MS, "ms", US, "us")
    } else if n < MINS {
        (SECS, "secs", MS, "ms")
    } else if n < HRS {
        (MINS, "mins", SECS, "secs")
    } else if n < DAYS {
        (HRS, "hrs", MINS, "mins")
    } else if n < WEEKS {
        (DAYS, "days", HRS, "hrs")
    } else {
        (WEEKS, "weeks", DAYS, "days")
    };
    if n % unit != 0 && n % lower == 0 {
        return format!("{}{lower_name}", n / lower);
    }
    if n % unit == 0 {
        return format!("{}{name}", n / unit);
    }
    // Not whole in either unit: a decimal in the bucket's unit.
    let value = n as f64 / unit as f64;
    format!("{}{name}", trim_float(value))
}

fn trim_float(v: f64) -> String {
    // Up to 15 significant digits like a C++ stream at digits10, no trailing zeros.
    let s = format!("{v:.15}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    let digits: usize = s.chars().filter(char::is_ascii_digit).count();
    if digits <= 15 {
        return s.to_string();
    }
    format!("{}", (v * 1e6).round() / 1e6)
}

/// A size in bytes, written the way stout writes `Bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes(pub u64);

impl Bytes {
    pub const KB: u64 = 1024;
    pub const MB: u64 = 1024 * 1024;
    pub const GB: u64 = 1024 * 1024 * 1024;
    pub const TB: u64 = 1024 * 1024 * 1024 * 1024;

    /// Megabytes (what Mesos's `mem`/`disk` scalar resources count).
    pub fn megabytes(self) -> f64 {
        self.0 as f64 / Self::MB as f64
    }

    /// Parses `<integer><B|KB|MB|GB|TB>` (unit case-insensitive, unit required).
    pub fn parse(text: &str) -> Result<Bytes, UnitError> {
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        if text[split..].starts_with('.') {
            return Err(UnitError(format!("Fractional bytes '{text}'")));
        }
        if split == text.len() {
            return Err(UnitError(format!("Invalid bytes '{text}'")));
        }
        let value: u64 = text[..split]
            .parse()
            .map_err(|_| UnitError(format!("Failed to convert '{}' to number", &text[..split])))?;
        let unit = text[split..].to_ascii_uppercase();
        let factor = match unit.as_str() {
            "B" => 1,
            "KB" => Self::KB,
            "MB" => Self::MB,
            "GB" => Self::GB,
            "TB" => Self::TB,
            _ => return Err(UnitError(format!("Unknown bytes unit '{unit}'"))),
        };
        value.checked_mul(factor).map(Bytes).ok_or_else(|| UnitError(format!("Bytes value '{text}' is too large")))
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b == 0 {
            write!(f, "0B")
        } else if b % Self::KB != 0 {
            write!(f, "{b}B")
        } else if b % Self::MB != 0 {
            write!(f, "{}KB", b / Self::KB)
        } else if b % Self::GB != 0 {
            write!(f, "{}MB", b / Self::MB)
        } else if b % Self::TB != 0 {
            write!(f, "{}GB", b / Self::GB)
        } else {
            write!(f, "{}TB", b / Self::TB)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_stout() {
        assert_eq!(parse_duration("5secs").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1.5mins").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("2weeks").unwrap(), Duration::from_secs(14 * 86400));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5s").unwrap_err().0.starts_with("Unknown duration unit 's'"));
        assert!(parse_duration("secs").is_err());
    }

    #[test]
    fn durations_format_like_stout() {
        assert_eq!(format_duration(Duration::from_secs(1)), "1secs");
        assert_eq!(format_duration(Duration::from_secs(60)), "1mins");
        assert_eq!(format_duration(Duration::from_secs(90)), "90secs");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(15)), "15secs");
        assert_eq!(format_duration(Duration::from_secs(7 * 86400)), "1weeks");
        assert_eq!(format_duration(Duration::from_secs(10 * 86400)), "10days");
        assert_eq!(format_duration(Duration::ZERO), "0ns");
        assert_eq!(format_duration(Duration::from_micros(75)), "75us");
    }

    #[test]
    fn bytes_round_trip() {
        assert_eq!(Bytes::parse("512MB").unwrap(), Bytes(512 * Bytes::MB));
        assert_eq!(Bytes::parse("4gb").unwrap(), Bytes(4 * Bytes::GB));
        assert_eq!(Bytes(512 * Bytes::MB).to_string(), "512MB");
        assert_eq!(Bytes(1536 * Bytes::MB).to_string(), "1536MB");
        assert_eq!(Bytes(1000).to_string(), "1000B");
        assert!(Bytes::parse("1.5GB").unwrap_err().0.starts_with("Fractional"));
        assert!(Bytes::parse("100").is_err());
        assert!(Bytes::parse("100XB").is_err());
    }
}
