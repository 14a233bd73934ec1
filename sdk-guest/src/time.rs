//! UTC calendar time as storage APIs write it: RFC 3339 / ISO 8601 (S3
//! `LastModified`, GCS `updated`), HTTP dates (`Last-Modified`, Azure's
//! `x-ms-date`), and the civil fields signatures are built from. Plain
//! arithmetic on Unix time; no time zone data needed.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch now (negative before it).
pub fn unix_seconds_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    }
}

/// A UTC instant split into its civil fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcDateTime {
    /// The year (proleptic Gregorian).
    pub year: i64,
    /// 1–12.
    pub month: u32,
    /// 1–31.
    pub day: u32,
    /// 0–23.
    pub hour: u32,
    /// 0–59.
    pub minute: u32,
    /// 0–59.
    pub second: u32,
    /// 0 (Monday) – 6 (Sunday).
    pub weekday: u32,
}

impl UtcDateTime {
    /// The instant `seconds` after the Unix epoch.
    pub fn from_unix_seconds(seconds: i64) -> Self {
        let days = seconds.div_euclid(86_400);
        let of_day = seconds.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Self {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day % 3600 / 60,
            second: of_day % 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 3).rem_euclid(7) as u32,
        }
    }

    /// The current instant.
    pub fn now() -> Self {
        Self::from_unix_seconds(unix_seconds_now())
    }
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110's IMF-fixdate).
pub fn format_http_date(seconds: i64) -> String {
    let t = UtcDateTime::from_unix_seconds(seconds);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[t.weekday as usize],
        t.day,
        MONTHS[t.month as usize - 1],
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

/// Milliseconds since the Unix epoch of an IMF-fixdate HTTP date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`); `None` for anything else.
pub fn parse_http_date_millis(text: &str) -> Option<i64> {
    let mut parts = text.trim().split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: u32 = number(parts.next()?, 2)?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u32 + 1;
    let year: i64 = number(parts.next()?, 4)?;
    let mut clock = parts.next()?.splitn(3, ':');
    let hour: i64 = number(clock.next()?, 2)?;
    let minute: i64 = number(clock.next()?, 2)?;
    let second: i64 = number(clock.next()?, 2)?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    valid(year, month, day, hour, minute, second)?;
    Some((days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second) * 1000)
}

/// Milliseconds since the Unix epoch of an RFC 3339 / ISO 8601 time
/// (`2024-05-01T12:30:00.000Z`; any number of fraction digits, `Z` or a
/// `±HH:MM` offset, `T` or a space between date and time). `None` when it
/// is not such a time.
pub fn parse_rfc3339_millis(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, rest) = text.split_once(['T', 't', ' '])?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = number(date_parts.next()?, 4)?;
    let month: u32 = number(date_parts.next()?, 2)?;
    let day: u32 = number(date_parts.next()?, 2)?;

    let (clock, offset_seconds) = if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else {
        let sign_at = rest.rfind(['+', '-'])?;
        let (clock, offset) = rest.split_at(sign_at);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (hours, minutes) = offset[1..].split_once(':')?;
        let offset: i64 = number::<i64>(hours, 2)? * 3600 + number::<i64>(minutes, 2)? * 60;
        (clock, sign * offset)
    };
    let (whole, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut clock_parts = whole.splitn(3, ':');
    let hour: i64 = number(clock_parts.next()?, 2)?;
    let minute: i64 = number(clock_parts.next()?, 2)?;
    let second: i64 = number(clock_parts.next()?, 2)?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) || (clock.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let millis: i64 = format!("{fraction:0<3}")[..3].parse().ok()?;
    valid(year, month, day, hour, minute, second)?;
    // A leap second counts as the last second of its minute.
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second.min(59)
            - offset_seconds;
    Some(seconds * 1000 + millis)
}

fn valid(year: i64, month: u32, day: u32, hour: i64, minute: i64, second: i64) -> Option<()> {
    ((1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour <= 23
        && minute <= 59
        && second <= 60)
        .then_some(())
}

/// A field of exactly `digits` ASCII digits.
fn number<T: std::str::FromStr>(text: &str, digits: usize) -> Option<T> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_in_every_form_storage_apis_write() {
        let base = 1_714_566_600_000; // 2024-05-01T12:30:00Z
        assert_eq!(parse_rfc3339_millis("2024-05-01T12:30:00Z"), Some(base));
        assert_eq!(
            parse_rfc3339_millis("2024-05-01T12:30:00.123Z"),
            Some(base + 123)
        );
        assert_eq!(
            parse_rfc3339_millis("2024-05-01T12:30:00.1234567Z"),
            Some(base + 123)
        );
        assert_eq!(
            parse_rfc3339_millis("2024-05-01 14:30:00+02:00"),
            Some(base)
        );
        assert_eq!(
            parse_rfc3339_millis("2024-05-01T11:00:00-01:30"),
            Some(base)
        );
        assert_eq!(parse_rfc3339_millis("1969-12-31T23:59:59Z"), Some(-1000));
        for bad in [
            "",
            "2024-05-01",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-05-01T12:30:00.Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:30:00",
        ] {
            assert_eq!(parse_rfc3339_millis(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_dates_round_trip() {
        assert_eq!(
            format_http_date(784_111_777),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            parse_http_date_millis("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777_000)
        );
        for seconds in [0, 951_782_400, 1_714_566_600, 4_102_444_799] {
            assert_eq!(
                parse_http_date_millis(&format_http_date(seconds)),
                Some(seconds * 1000)
            );
        }
        assert_eq!(
            parse_http_date_millis("Sunday, 06-Nov-94 08:49:37 GMT"),
            None
        );
        assert_eq!(
            parse_http_date_millis("Sun, 06 Nov 1994 08:49:37 UTC"),
            None
        );
    }

    #[test]
    fn civil_fields_of_an_instant() {
        let t = UtcDateTime::from_unix_seconds(951_825_599); // 2000-02-29T11:59:59Z, a Tuesday
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second, t.weekday),
            (2000, 2, 29, 11, 59, 59, 1)
        );
    }
}
