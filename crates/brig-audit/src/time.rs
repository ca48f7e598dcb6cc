//! UTC timestamps without a date library: RFC 3339 with microseconds, and compact session-id stamps.

use std::time::{SystemTime, UNIX_EPOCH};

const SECS_PER_DAY: i64 = 86_400;

/// Converts days since 1970-01-01 to a proleptic Gregorian `(year, month, day)`.
///
/// Howard Hinnant's `civil_from_days`: shift the epoch to 0000-03-01 so that the leap day is the
/// last day of the (March-based) year, then split into 400-year eras of exactly 146 097 days.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of March-based year, [0, 365]
    let mp = (5 * doy + 2) / 153; // March-based month, [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// Splits seconds since the epoch into a civil date and a time of day.
fn split(secs: i64) -> ((i64, u32, u32), (i64, i64, i64)) {
    let days = secs.div_euclid(SECS_PER_DAY);
    let tod = secs.rem_euclid(SECS_PER_DAY);
    (
        civil_from_days(days),
        (tod / 3600, tod % 3600 / 60, tod % 60),
    )
}

/// Formats a point in time as RFC 3339 UTC with microseconds: `2026-12-03T18:07:20.123456Z`.
pub(crate) fn format_rfc3339(secs: i64, micros: u32) -> String {
    let ((y, mo, d), (h, mi, s)) = split(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{micros:06}Z")
}

/// Formats seconds since the epoch as a compact, sortable stamp: `20261203T180720Z`.
pub(crate) fn format_compact(secs: i64) -> String {
    let ((y, mo, d), (h, mi, s)) = split(secs);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// The current time as `(seconds, microseconds)` since the epoch, correct before 1970 too.
pub(crate) fn now() -> (i64, u32) {
    let micros: i128 = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_micros() as i128,
        Err(before) => -(before.duration().as_micros() as i128),
    };
    let secs = micros.div_euclid(1_000_000) as i64;
    let frac = micros.rem_euclid(1_000_000) as u32;
    (secs, frac)
}

/// The current time in the record format, see [`format_rfc3339`].
pub(crate) fn now_rfc3339() -> String {
    let (secs, micros) = now();
    format_rfc3339(secs, micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_around_leap_days_and_the_epoch() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(951_868_799 / SECS_PER_DAY), (2000, 2, 29));
        assert_eq!(civil_from_days(4_107_542_400 / SECS_PER_DAY), (2100, 3, 1));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
    }

    #[test]
    fn rfc3339_and_compact_formats() {
        assert_eq!(
            format_rfc3339(1_796_321_240, 123_456),
            "2026-12-03T18:07:20.123456Z"
        );
        assert_eq!(format_rfc3339(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(format_rfc3339(-1, 999_999), "1969-12-31T23:59:59.999999Z");
        assert_eq!(
            format_rfc3339(951_868_799, 7),
            "2000-02-29T23:59:59.000007Z"
        );
        assert_eq!(format_compact(1_796_321_240), "20261203T180720Z");
    }

    #[test]
    fn every_day_of_four_centuries_round_trips_through_a_naive_count() {
        // Walk day by day from 1970 to 2370 with a naive calendar and compare.
        let (mut y, mut m, mut d) = (1970_i64, 1_u32, 1_u32);
        for days in 0..(400 * 366) {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            d += 1;
            if d > len[(m - 1) as usize] {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }
}
