//! Civil (calendar) time in UTC from Unix seconds, for the formats the daemon writes: RFC 3339
//! (token responses, CloudEvents) and `YYYY-MM-DD HH:MM:SS` (the model registry's webhook body).
//!
//! Invariant: one calendar computation (`civil`); every format is a rendering of its result.
//! It must not read the clock: callers pass the time, so tests pass fixed ones.

/// A moment split into its UTC calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: u64,
    minute: u64,
    second: u64,
}

/// The UTC calendar date and time of a Unix time in seconds.
fn civil(unix_s: u64) -> Civil {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: secs % 3600 / 60,
        second: secs % 60,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time in seconds.
pub fn rfc3339(unix_s: u64) -> String {
    let c = civil(unix_s);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `YYYY-MM-DD HH:MM:SS` (UTC, no zone suffix) of a Unix time in seconds.
pub fn date_time(unix_s: u64) -> String {
    let c = civil(unix_s);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (Unix seconds, RFC 3339, date_time).
    const KNOWN: &[(u64, &str, &str)] = &[
        (0, "1970-01-01T00:00:00Z", "1970-01-01 00:00:00"),
        (951_782_400, "2000-02-29T00:00:00Z", "2000-02-29 00:00:00"),
        (951_868_799, "2000-02-29T23:59:59Z", "2000-02-29 23:59:59"),
        (1_795_384_683, "2026-11-22T21:58:03Z", "2026-11-22 21:58:03"),
        (1_767_225_599, "2025-12-31T23:59:59Z", "2025-12-31 23:59:59"),
    ];

    #[test]
    fn known_dates() {
        for &(unix_s, rfc, plain) in KNOWN {
            assert_eq!(rfc3339(unix_s), rfc, "rfc3339({unix_s})");
            assert_eq!(date_time(unix_s), plain, "date_time({unix_s})");
        }
    }
}
