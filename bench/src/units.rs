//! Sizes and durations as people type them on a command line (`64MiB`, `4KiB`, `5s`, `500ms`)
//! and as the reports print them.
//!
//! Binary prefixes (`KiB`, `MiB`, `GiB`) are powers of 1024; decimal ones (`KB`, `MB`, `GB`)
//! powers of 1000. Throughput in reports is in MB/s, decimal, like network tools print it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A byte count parsed from `4KiB`, `1MiB`, `64MiB`, `1GiB`, `1000000`, `1MB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl Size {
    pub const fn bytes(self) -> u64 {
        self.0
    }

    #[cfg(test)]
    pub const fn kib(n: u64) -> Size {
        Size(n * 1024)
    }

    #[cfg(test)]
    pub const fn mib(n: u64) -> Size {
        Size(n * 1024 * 1024)
    }
}

const SUFFIXES: [(&str, u64); 8] = [
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("KB", 1_000),
    ("kB", 1_000),
    ("B", 1),
];

impl FromStr for Size {
    type Err = String;

    fn from_str(input: &str) -> Result<Size, String> {
        let text = input.trim();
        let (number, unit) = SUFFIXES
            .iter()
            .find_map(|&(suffix, unit)| text.strip_suffix(suffix).map(|n| (n.trim(), unit)))
            .unwrap_or((text, 1));
        let count: u64 = number.parse().map_err(|_| {
            format!("{input:?} is not a size (examples: 4096, 4KiB, 64MiB, 1GiB, 1MB)")
        })?;
        count
            .checked_mul(unit)
            .map(Size)
            .ok_or_else(|| format!("{input:?} is too large"))
    }
}

impl fmt::Display for Size {
    /// The largest binary unit that divides the size exactly: `64MiB`, `4KiB`, `1000B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (suffix, unit) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if n >= unit && n.is_multiple_of(unit) {
                return write!(f, "{}{suffix}", n / unit);
            }
        }
        write!(f, "{n}B")
    }
}

/// A comma-separated list of sizes: `16MiB,8MiB,1MiB`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeList(pub Vec<Size>);

impl FromStr for SizeList {
    type Err = String;

    fn from_str(input: &str) -> Result<SizeList, String> {
        let sizes = input
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(Size::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        if sizes.is_empty() {
            return Err("the list of sizes is empty".to_owned());
        }
        Ok(SizeList(sizes))
    }
}

impl fmt::Display for SizeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, size) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{size}")?;
        }
        Ok(())
    }
}

/// A duration parsed from `500ms`, `5s`, `2m` or a bare number of seconds.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let text = input.trim();
    let bad = || format!("{input:?} is not a duration (examples: 500ms, 5s, 2m)");
    let (number, unit_ms) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000)
    } else {
        (text, 1_000)
    };
    let count: u64 = number.trim().parse().map_err(|_| bad())?;
    let ms = count.checked_mul(unit_ms).ok_or_else(bad)?;
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_size(input: &str, bytes: u64, printed: &str) {
        let size: Size = input.parse().expect(input);
        assert_eq!(size.bytes(), bytes, "{input}");
        assert_eq!(size.to_string(), printed, "{input}");
    }

    #[test]
    fn sizes_parse_and_print() {
        check_size("4KiB", 4096, "4KiB");
        check_size("64MiB", 64 << 20, "64MiB");
        check_size("1GiB", 1 << 30, "1GiB");
        check_size("1MB", 1_000_000, "1000000B");
        check_size("1536", 1536, "1536B");
        check_size(" 256KiB ", 256 << 10, "256KiB");
        assert!("4XiB".parse::<Size>().is_err());
        assert!("99999999999999GiB".parse::<Size>().is_err());
    }

    #[test]
    fn size_lists_parse_and_print() {
        let list: SizeList = "16MiB,4KiB".parse().unwrap();
        assert_eq!(list.0, vec![Size::mib(16), Size::kib(4)]);
        assert_eq!(list.to_string(), "16MiB,4KiB");
        assert!("".parse::<SizeList>().is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("fast").is_err());
    }
}
